import { act, cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { keys } from "../api/keys";
import type { AccountOut, WithdrawalOut } from "../api/types";
import { QUEUE_REFRESH_MS } from "../api/withdrawals";
import type { Services } from "../app/services";
import type { AppConfig } from "../config";
import type { ToastStore } from "../lib/toast";
import Account from "../pages/Account";
import { manualWithdrawal, ME, OTHER } from "../test/data";
import { FakeWebSocket, type Route } from "../test/fakes";
import { testServices } from "../test/services";

let services: Services;
let toasts: ToastStore;

const QUEUE = "/api/admin/withdrawals";
const ON_CHAIN: Partial<AppConfig> = { wsUrl: "", stage: "prod", withdrawalsOnChain: true, withdrawalAutoMax: 100_000_000 };
const BY_HAND: Partial<AppConfig> = { wsUrl: "", stage: "prod" };
const account = (address: string, over: Partial<AccountOut> = {}): AccountOut => ({
  address,
  balance: 50_000_000,
  held: 0,
  deposited: 50_000_000,
  withdrawn: 0,
  updated_at: null,
  ...over,
});
const BASE: Route[] = [
  { path: "/api/accounts/me", body: account(ME) },
  { path: "/api/accounts/me/withdrawals", body: { items: [], next_cursor: null } },
  { path: "/api/admin/hot-wallet", status: 404, body: { error: { code: "not_found", message: "the payouts job has not run yet" } } },
];
const OLDEST = manualWithdrawal({ withdrawal_id: "w-old", address: OTHER, amount: 250_000_000, requested_at: 1_699_000_000 });
const NEWER = manualWithdrawal({ withdrawal_id: "w-new", address: ME, amount: 1_500_000, requested_at: 1_699_500_000 });
const queueRoute = (items: WithdrawalOut[], next_cursor: string | null = null): Route => ({ path: QUEUE, body: { items, next_cursor } });
const decisionPath = (w: WithdrawalOut, decision: "approve" | "reject") => `${QUEUE}/${w.address}/${w.withdrawal_id}/${decision}`;

function setup(routes: Route[], { config = ON_CHAIN, admin = true } = {}) {
  const made = testServices([...routes, ...BASE], { config });
  ({ services, toasts } = made);
  if (admin) made.services.sessions.set({ token: "jwt", address: ME, isAdmin: true, expiresAt: Date.now() / 1000 + 3600 });
  render(
    <MemoryRouter>
      <Account />
    </MemoryRouter>,
    { wrapper: made.wrapper },
  );
  return made;
}

const count = (calls: { url: URL; method: string }[], path: string, method = "GET") =>
  calls.filter((c) => c.url.pathname === path && c.method === method).length;
const rows = () => screen.getAllByTestId("queued-withdrawal");
function row(i: number): HTMLElement {
  const found = rows()[i];
  if (!found) throw new Error(`no queued withdrawal ${i}`);
  return found;
}
const titles = (kind: string) => toasts.getToasts().filter((t) => t.kind === kind).map((t) => t.title);

beforeEach(() => FakeWebSocket.reset());
afterEach(() => {
  vi.useRealTimers();
  cleanup();
  services.dispose();
  services.queryClient.clear();
});

describe("the withdrawals awaiting approval", () => {
  it("shows an admin each request, oldest first: amount, when, and whose (shortened, copyable)", async () => {
    const { calls } = setup([queueRoute([OLDEST, NEWER])]);
    const card = await screen.findByTestId("withdrawal-queue");
    expect(within(card).getByRole("heading").textContent).toBe("Withdrawals awaiting approval");
    expect(within(card).getByTestId("withdrawal-queue-hint").textContent).toContain("queues an on-chain payment from the hot wallet");
    expect(rows().map((r) => r.dataset.withdrawalId)).toEqual(["w-old", "w-new"]);
    const first = row(0);
    expect(within(first).getByTestId("queued-withdrawal-amount").textContent).toBe("250 cr");
    expect(within(row(1)).getByTestId("queued-withdrawal-amount").textContent).toBe("1.5 cr");
    expect(first.textContent).toContain("0x2222…2222");
    expect(first.textContent).not.toContain(OTHER);
    expect(within(first).getByRole("button", { name: "Copy address 0x2222…2222" })).toBeTruthy();
    const time = first.querySelector("time");
    expect(time?.getAttribute("dateTime")).toBe(new Date(1_699_000_000_000).toISOString());
    expect(time?.textContent).toMatch(/ago$/);
    expect(within(card).getByText("2 waiting")).toBeTruthy();
    const asked = calls.find((c) => c.url.pathname === QUEUE);
    expect(asked?.url.searchParams.get("limit")).toBe("25");
    expect(asked?.url.searchParams.has("cursor")).toBe(false);
  });

  it("says approving means paying by hand where withdrawals are not paid on chain", async () => {
    setup([queueRoute([OLDEST])], { config: BY_HAND });
    const card = await screen.findByTestId("withdrawal-queue");
    const hint = within(card).getByTestId("withdrawal-queue-hint").textContent;
    expect(hint).toContain("pay the amount to the requester's address by hand");
    expect(hint).not.toContain("hot wallet");
    // The hot wallet is not asked for off chain, the queue is.
    expect(screen.queryByTestId("hot-wallet")).toBeNull();
  });

  it("approves only after the second click, at the withdrawal's URL, then reads the queue again", async () => {
    let items = [OLDEST, NEWER];
    const { calls } = setup([
      { path: QUEUE, handler: () => ({ body: { items, next_cursor: null } }) },
      {
        method: "POST",
        path: decisionPath(OLDEST, "approve"),
        handler: () => {
          items = [NEWER];
          return { body: { withdrawal: { ...OLDEST, status: "queued", approval: "admin", decided_by: ME }, account: account(OTHER) } };
        },
      },
    ]);
    await waitFor(() => expect(rows()).toHaveLength(2));
    fireEvent.click(within(row(0)).getByRole("button", { name: "Approve 250 cr for 0x2222…2222" }));
    // Asked, not done.
    expect(within(row(0)).getByTestId("queued-withdrawal-confirm").textContent).toContain("Really approve 250 cr to 0x2222…2222?");
    expect(calls.filter((c) => c.method === "POST")).toEqual([]);
    fireEvent.click(within(row(0)).getByRole("button", { name: "Confirm: approve 250 cr for 0x2222…2222" }));
    await waitFor(() => expect(rows().map((r) => r.dataset.withdrawalId)).toEqual(["w-new"]));
    const posts = calls.filter((c) => c.method === "POST");
    expect(posts.map((c) => c.url.pathname)).toEqual([`/api/admin/withdrawals/${OTHER}/w-old/approve`]);
    expect(posts[0]?.headers.Authorization).toBe("Bearer jwt");
    await waitFor(() => expect(count(calls, QUEUE)).toBe(2));
    expect(toasts.getToasts().find((t) => t.title === "Withdrawal approved")?.message).toBe(
      "250 credits to 0x2222…2222 queued: the hot wallet pays them on chain.",
    );
  });

  it("cancels without asking the API, and rejects at the reject URL", async () => {
    const { calls } = setup([
      queueRoute([NEWER]),
      {
        method: "POST",
        path: decisionPath(NEWER, "reject"),
        body: { withdrawal: { ...NEWER, status: "rejected", decided_by: ME }, account: account(ME, { balance: 51_500_000 }) },
      },
    ]);
    await waitFor(() => expect(rows()).toHaveLength(1));
    fireEvent.click(within(row(0)).getByRole("button", { name: /^Reject / }));
    expect(within(row(0)).getByTestId("queued-withdrawal-confirm").textContent).toContain("Really reject 1.5 cr?");
    fireEvent.click(within(row(0)).getByRole("button", { name: "Cancel" }));
    expect(within(row(0)).queryByTestId("queued-withdrawal-confirm")).toBeNull();
    expect(calls.filter((c) => c.method === "POST")).toEqual([]);

    fireEvent.click(within(row(0)).getByRole("button", { name: /^Reject / }));
    fireEvent.click(within(row(0)).getByRole("button", { name: /^Confirm: reject/ }));
    await waitFor(() => expect(screen.queryAllByTestId("queued-withdrawal")).toHaveLength(0));
    expect(calls.filter((c) => c.method === "POST").map((c) => c.url.pathname)).toEqual([`/api/admin/withdrawals/${ME}/w-new/reject`]);
    // The admin's own withdrawal: their balance is the one the API answered with.
    expect(services.queryClient.getQueryData<AccountOut>(keys.account(ME))?.balance).toBe(51_500_000);
    expect(within(screen.getByTestId("withdrawal-queue")).getByText("Nothing awaiting approval")).toBeTruthy();
  });

  it("says so when someone else decided first (409) and reads the queue again", async () => {
    const { calls } = setup([
      queueRoute([OLDEST]),
      { method: "POST", path: decisionPath(OLDEST, "approve"), status: 409, body: { error: { code: "conflict", message: "withdrawal w-old is already approved" } } },
    ]);
    await waitFor(() => expect(rows()).toHaveLength(1));
    fireEvent.click(within(row(0)).getByRole("button", { name: /^Approve / }));
    fireEvent.click(within(row(0)).getByRole("button", { name: /^Confirm: approve/ }));
    await waitFor(() => expect(titles("warning")).toContain("Already decided"));
    expect(toasts.getToasts().find((t) => t.title === "Already decided")?.message).toBe(
      "Someone else decided it first (withdrawal w-old is already approved). The queue is read again.",
    );
    expect(titles("error").filter((t) => t.startsWith("Could not approve"))).toEqual([]);
    await waitFor(() => expect(count(calls, QUEUE)).toBe(2));
    // Off the list even though this (stale) answer still has it.
    expect(screen.queryAllByTestId("queued-withdrawal")).toHaveLength(0);
  });

  it("keeps the row and says why when a decision fails otherwise", async () => {
    setup([
      queueRoute([OLDEST]),
      { method: "POST", path: decisionPath(OLDEST, "approve"), status: 503, body: { error: { code: "unavailable", message: "try again" } } },
    ]);
    await waitFor(() => expect(rows()).toHaveLength(1));
    fireEvent.click(within(row(0)).getByRole("button", { name: /^Approve / }));
    fireEvent.click(within(row(0)).getByRole("button", { name: /^Confirm: approve/ }));
    await waitFor(() => expect(titles("error")).toContain("Could not approve the withdrawal"));
    expect(rows()).toHaveLength(1);
    expect(within(row(0)).queryByTestId("queued-withdrawal-confirm")).toBeNull();
  });

  it("pages on with the cursor", async () => {
    const { calls } = setup([
      { path: `${QUEUE}?limit=25&cursor=c2`, body: { items: [NEWER], next_cursor: null } },
      queueRoute([OLDEST], "c2"),
    ]);
    await waitFor(() => expect(rows()).toHaveLength(1));
    expect(screen.getByText("1+ waiting")).toBeTruthy();
    fireEvent.click(within(screen.getByTestId("withdrawal-queue")).getByRole("button", { name: "Load more" }));
    await waitFor(() => expect(rows().map((r) => r.dataset.withdrawalId)).toEqual(["w-old", "w-new"]));
    expect(calls.filter((c) => c.url.pathname === QUEUE).map((c) => c.url.searchParams.get("cursor"))).toEqual([null, "c2"]);
    expect(within(screen.getByTestId("withdrawal-queue")).queryByRole("button", { name: "Load more" })).toBeNull();
  });

  it("reads the queue again every 15 seconds while shown", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    let items = [OLDEST];
    const { calls } = setup([{ path: QUEUE, handler: () => ({ body: { items, next_cursor: null } }) }]);
    await waitFor(() => expect(rows()).toHaveLength(1));
    expect(count(calls, QUEUE)).toBe(1);
    items = [OLDEST, NEWER];
    await act(() => vi.advanceTimersByTimeAsync(QUEUE_REFRESH_MS));
    await waitFor(() => expect(rows()).toHaveLength(2));
    expect(count(calls, QUEUE)).toBe(2);
  });
});

describe("the queue for someone who is not an admin", () => {
  it("is not asked for by a session without the admin claim", async () => {
    const { calls } = setup([queueRoute([OLDEST])], { admin: false });
    await waitFor(() => expect(count(calls, "/api/accounts/me/withdrawals")).toBe(1));
    expect(count(calls, QUEUE)).toBe(0);
    expect(screen.queryByTestId("withdrawal-queue")).toBeNull();
  });

  it("is hidden, with no toast and no more asking, when the API answers 403", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const { calls } = setup([{ path: QUEUE, status: 403, body: { error: { code: "forbidden", message: "admins only" } } }]);
    await waitFor(() => expect(count(calls, QUEUE)).toBe(1));
    await waitFor(() => expect(screen.getByTestId("page-account")).toBeTruthy());
    expect(screen.queryByTestId("withdrawal-queue")).toBeNull();
    expect(toasts.getToasts().filter((t) => t.message === "admins only")).toEqual([]);
    await act(() => vi.advanceTimersByTimeAsync(QUEUE_REFRESH_MS * 2));
    expect(count(calls, QUEUE)).toBe(1);
    expect(screen.queryByTestId("withdrawal-queue")).toBeNull();
  });
});
