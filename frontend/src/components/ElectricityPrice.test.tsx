import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Services } from "../app/services";
import type { ToastStore } from "../lib/toast";
import { FakeWebSocket, type Route } from "../test/fakes";
import { testServices } from "../test/services";
import { ElectricityPriceCard } from "./ElectricityPrice";

let services: Services;
let toasts: ToastStore;

function setup(routes: Route[]) {
  const made = testServices(routes, { config: { wsUrl: "" } });
  ({ services, toasts } = made);
  render(
    <MemoryRouter>
      <ElectricityPriceCard />
    </MemoryRouter>,
    { wrapper: made.wrapper },
  );
  return made;
}

const price = () => screen.getByLabelText("Price per kWh") as HTMLInputElement;
const save = () => screen.getByRole("button", { name: "Save" }) as HTMLButtonElement;

beforeEach(() => FakeWebSocket.reset());
afterEach(() => {
  cleanup();
  services.dispose();
  services.queryClient.clear();
});

describe("ElectricityPriceCard", () => {
  it("starts from the stored price and saves a new one with PUT", async () => {
    let stored = { electricity_price_per_kwh: null as string | null, currency: "USD", updated_at: null as number | null };
    const { calls } = setup([
      { path: "/api/accounts/me/settings", handler: () => ({ body: stored }) },
      {
        method: "PUT",
        path: "/api/accounts/me/settings",
        handler: (_url, init) => {
          const body = JSON.parse(String(init.body)) as { electricity_price_per_kwh: string; currency: string };
          stored = { ...body, updated_at: 1_700_000_000 };
          return { body: stored };
        },
      },
    ]);
    await waitFor(() => expect(price().value).toBe(""));
    expect(save().disabled).toBe(true);

    fireEvent.change(price(), { target: { value: "0.1234" } });
    fireEvent.change(screen.getByLabelText("Currency"), { target: { value: "eur" } });
    fireEvent.click(save());

    await waitFor(() => expect(toasts.getToasts()).toEqual([expect.objectContaining({ kind: "success", message: "0.1234 EUR a kWh." })]));
    const put = calls.find((c) => c.method === "PUT");
    expect(put?.body).toEqual({ electricity_price_per_kwh: "0.1234", currency: "EUR" });
    expect(price().value).toBe("0.1234");
    expect(save().disabled).toBe(true);
  });

  it("checks the price before sending: a decimal from 0 to 10 with at most 6 decimals", async () => {
    const { calls } = setup([{ path: "/api/accounts/me/settings", body: { electricity_price_per_kwh: "0.2", currency: "USD", updated_at: 1 } }]);
    await waitFor(() => expect(price().value).toBe("0.2"));
    for (const [text, said] of [
      ["abc", "at most 6 decimals"],
      ["0.1234567", "at most 6 decimals"],
      ["12", "At most 10"],
    ] as const) {
      fireEvent.change(price(), { target: { value: text } });
      expect(screen.getByRole("alert").textContent).toContain(said);
      expect(save().disabled).toBe(true);
    }
    fireEvent.change(price(), { target: { value: "" } });
    expect(screen.queryByRole("alert")).toBeNull();
    expect(save().disabled).toBe(false);
    expect(calls.filter((c) => c.method === "PUT")).toHaveLength(0);
  });

  it("shows the API's refusal by the field, and clears it when the price is edited", async () => {
    setup([
      { path: "/api/accounts/me/settings", body: { electricity_price_per_kwh: null, currency: "USD", updated_at: null } },
      {
        method: "PUT",
        path: "/api/accounts/me/settings",
        status: 422,
        body: { error: { code: "invalid_input", message: "electricity_price_per_kwh must be from 0 to 10" } },
      },
    ]);
    await waitFor(() => expect(price()).toBeTruthy());
    fireEvent.change(price(), { target: { value: "9.5" } });
    fireEvent.click(save());
    expect((await screen.findByRole("alert")).textContent).toBe("electricity_price_per_kwh must be from 0 to 10");
    expect(toasts.getToasts()).toEqual([]);
    fireEvent.change(price(), { target: { value: "0.3" } });
    expect(screen.queryByRole("alert")).toBeNull();
  });
});
