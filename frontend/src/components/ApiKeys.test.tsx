import { act, cleanup, fireEvent, render, renderHook, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { useSignOut } from "../auth/useSignIn";
import type { Services } from "../app/services";
import type { ApiKeyOut, ApiKeysOut } from "../api/types";
import type { ToastStore } from "../lib/toast";
import { FakeWebSocket, type Route } from "../test/fakes";
import { testServices } from "../test/services";
import { ApiKeysCard } from "./ApiKeys";

const SECRET_KEY = "xbk_0123456789abcdef_" + "s".repeat(43);

let services: Services;
let toasts: ToastStore;

function apiKey(overrides: Partial<ApiKeyOut> = {}): ApiKeyOut {
  return {
    key_id: "0123456789abcdef",
    name: "rent-bot",
    scopes: ["read", "trade"],
    created_at: 1_700_000_000,
    expires_at: null,
    last_used_at: null,
    ...overrides,
  };
}

function setup(routes: Route[]) {
  const made = testServices(routes, { config: { wsUrl: "" } });
  ({ services, toasts } = made);
  return made;
}

beforeEach(() => FakeWebSocket.reset());
afterEach(() => {
  cleanup();
  services.dispose();
  services.queryClient.clear();
});

describe("ApiKeysCard", () => {
  it("lists keys without secrets, creates one and shows it once", async () => {
    let listed: ApiKeysOut = { items: [apiKey({ key_id: "aaaaaaaaaaaaaaaa", name: "old" })], max_keys: 10 };
    const { wrapper, calls } = setup([
      { path: "/api/auth/keys", handler: () => ({ body: listed }) },
      {
        method: "POST",
        path: "/api/auth/keys",
        handler: (_url, init) => {
          const body = JSON.parse(String(init.body)) as { name: string; scopes: string[]; expires_in_days: number | null };
          const created = apiKey({ name: body.name, scopes: body.scopes as ApiKeyOut["scopes"], expires_at: 1_700_000_000 + 90 * 86_400 });
          listed = { ...listed, items: [...listed.items, created] };
          return { status: 201, body: { ...created, key: SECRET_KEY } };
        },
      },
    ]);
    render(<ApiKeysCard />, { wrapper });
    await waitFor(() => expect(screen.getAllByTestId("api-key")).toHaveLength(1));

    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "  rent-bot " } });
    fireEvent.click(screen.getByRole("checkbox", { name: /Trade/ }));
    fireEvent.click(screen.getByRole("button", { name: "Create key" }));

    await waitFor(() => expect(screen.getByTestId("api-key-created").textContent).toContain(SECRET_KEY));
    const post = calls.find((c) => c.method === "POST");
    expect(post?.body).toEqual({ name: "rent-bot", scopes: ["read", "trade"], expires_in_days: 90 });
    expect(post?.headers.Authorization).toBe("Bearer jwt");
    const rows = screen.getAllByTestId("api-key");
    expect(rows).toHaveLength(2);
    expect(rows.map((r) => r.textContent).join(" ")).not.toContain(SECRET_KEY);

    fireEvent.click(screen.getByRole("button", { name: "I have copied it" }));
    expect(screen.queryByTestId("api-key-created")).toBeNull();
    expect(document.body.textContent).not.toContain(SECRET_KEY);
  });

  it("revokes after a confirmation and puts the key back if that fails", async () => {
    let fail = true;
    const { wrapper, calls } = setup([
      { path: "/api/auth/keys", body: { items: [apiKey()], max_keys: 10 } },
      {
        method: "DELETE",
        path: "/api/auth/keys/0123456789abcdef",
        handler: () => (fail ? { status: 409, body: { error: { code: "conflict", message: "try again" } } } : { status: 204 }),
      },
    ]);
    render(<ApiKeysCard />, { wrapper });
    await waitFor(() => expect(screen.getAllByTestId("api-key")).toHaveLength(1));

    fireEvent.click(screen.getByRole("button", { name: "Revoke key rent-bot" }));
    expect(calls.filter((c) => c.method === "DELETE")).toHaveLength(0);
    fireEvent.click(screen.getByRole("button", { name: "Confirm revoking key rent-bot" }));
    await waitFor(() => expect(toasts.getToasts()).toEqual([expect.objectContaining({ kind: "error", message: "try again" })]));
    await waitFor(() => expect(screen.getAllByTestId("api-key")).toHaveLength(1));

    fail = false;
    fireEvent.click(screen.getByRole("button", { name: "Revoke key rent-bot" }));
    fireEvent.click(screen.getByRole("button", { name: "Confirm revoking key rent-bot" }));
    await waitFor(() => expect(calls.filter((c) => c.method === "DELETE")).toHaveLength(2));
  });

  it("says so when the address holds the most keys", async () => {
    const items = Array.from({ length: 2 }, (_, i) => apiKey({ key_id: `${i}`.repeat(16), name: `k${i}` }));
    const { wrapper } = setup([{ path: "/api/auth/keys", body: { items, max_keys: 2 } }]);
    render(<ApiKeysCard />, { wrapper });
    await waitFor(() => expect(screen.getByText(/revoke one first/)).toBeTruthy());
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "third" } });
    expect((screen.getByRole("button", { name: "Create key" }) as HTMLButtonElement).disabled).toBe(true);
  });
});

describe("useSignOut", () => {
  it("drops the session at once and has the platform void the token", async () => {
    const { wrapper, calls } = setup([
      { method: "POST", path: "/api/auth/logout", body: { signed_out: "this_session", tokens_valid_after: null } },
    ]);
    const { result } = renderHook(() => useSignOut(), { wrapper });

    act(() => result.current());

    expect(services.sessions.get()).toBeNull();
    await waitFor(() => expect(calls).toHaveLength(1));
    expect(calls[0]?.headers.Authorization).toBe("Bearer jwt");
    expect(toasts.getToasts()).toEqual([expect.objectContaining({ kind: "info", title: "Signed out" })]);
  });

  it("everywhere: every session of the address, and a failure is said", async () => {
    const { wrapper, calls } = setup([
      { method: "POST", path: "/api/auth/logout-all", status: 503, body: { error: { code: "unavailable", message: "down" } } },
    ]);
    const { result } = renderHook(() => useSignOut({ everywhere: true }), { wrapper });

    act(() => result.current());

    await waitFor(() => expect(toasts.getToasts()).toHaveLength(2));
    expect(calls[0]?.url.pathname).toBe("/api/auth/logout-all");
    expect(calls[0]?.headers.Authorization).toBe("Bearer jwt");
    expect(toasts.getToasts()[1]).toEqual(expect.objectContaining({ kind: "warning", title: "The platform was not told" }));
    expect(services.sessions.get()).toBeNull();
  });

  it("a token the platform already refuses is simply gone", async () => {
    const { wrapper } = setup([
      { method: "POST", path: "/api/auth/logout", status: 401, body: { error: { code: "unauthorized", message: "expired" } } },
    ]);
    const { result } = renderHook(() => useSignOut(), { wrapper });
    act(() => result.current());
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(toasts.getToasts()).toEqual([expect.objectContaining({ title: "Signed out" })]);
  });
});
