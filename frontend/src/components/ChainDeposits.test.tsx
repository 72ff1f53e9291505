import { act, cleanup, render, screen, waitFor, within } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { PENDING_REFRESH_MS } from "../api/deposits";
import { keys } from "../api/keys";
import type { ChainDepositOut } from "../api/types";
import type { Services } from "../app/services";
import type { ToastStore } from "../lib/toast";
import Account from "../pages/Account";
import { chainDeposit, DEPOSIT_ADDRESS, depositAddress, ME, TOKEN } from "../test/data";
import { FakeWebSocket, type Route } from "../test/fakes";
import { testServices } from "../test/services";
import { ChainDepositsCard } from "./ChainDeposits";

let services: Services;
let toasts: ToastStore;

function setup(routes: Route[], { deposits = true, page = false } = {}) {
  const made = testServices(routes, { config: { wsUrl: "", deposits } });
  ({ services, toasts } = made);
  render(<MemoryRouter>{page ? <Account /> : <ChainDepositsCard />}</MemoryRouter>, { wrapper: made.wrapper });
  return made;
}

const ADDRESS_ROUTE: Route = { path: "/api/accounts/me/deposit-address", body: depositAddress() };
const depositsRoute = (items: ChainDepositOut[]): Route => ({ path: "/api/accounts/me/deposits", body: { items, next_cursor: null } });
const rows = () => screen.getAllByTestId("chain-deposit");
/** The i-th deposit listed (newest first). */
function row(i: number): HTMLElement {
  const found = rows()[i];
  if (!found) throw new Error(`no deposit row ${i}`);
  return found;
}
const depositCalls = (calls: { url: URL }[]) => calls.filter((c) => c.url.pathname === "/api/accounts/me/deposits").length;

beforeEach(() => FakeWebSocket.reset());
afterEach(() => {
  vi.useRealTimers();
  cleanup();
  services.dispose();
  services.queryClient.clear();
});

describe("ChainDepositsCard", () => {
  it("shows the account's deposit address with the chain, the token and what a token credits", async () => {
    setup([ADDRESS_ROUTE, depositsRoute([])]);
    const address = await screen.findByTestId("deposit-address");
    expect(address.textContent).toContain(DEPOSIT_ADDRESS);
    expect(within(address).getByRole("button", { name: "Copy deposit address" })).toBeTruthy();
    const card = screen.getByTestId("chain-deposits");
    expect(card.textContent).toContain("on chain 31337");
    expect(card.textContent).toContain(TOKEN);
    expect(screen.getByRole("button", { name: "Copy token contract" })).toBeTruthy();
    const facts = Object.fromEntries([...card.querySelectorAll("dt")].map((dt) => [dt.textContent, dt.nextElementSibling?.textContent]));
    expect(facts).toEqual({ "Chain id": "31337", "Token decimals": "6", "Confirmations needed": "3", "One token credits": "1 cr" });
    expect(await screen.findByText(/No deposits seen yet/)).toBeTruthy();
    expect(toasts.getToasts()).toEqual([]);
  });

  it("shows a pending deposit's confirmations and reads the list again every few seconds until it is credited", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    let answer = [chainDeposit()];
    const { calls } = setup([
      ADDRESS_ROUTE,
      { path: "/api/accounts/me/deposits", handler: () => ({ body: { items: answer, next_cursor: null } }) },
    ]);
    await waitFor(() => expect(rows()).toHaveLength(1));
    expect(row(0).dataset.status).toBe("pending");
    expect(screen.getByTestId("confirmations").textContent).toBe("2 of 3 confirmations");
    expect(screen.getByRole("meter", { name: "Confirmations" }).getAttribute("aria-valuenow")).toBe("67");
    expect(row(0).textContent).toContain("25 tokens");
    expect(depositCalls(calls)).toBe(1);

    services.queryClient.setQueryData(keys.account(ME), { address: ME, balance: 0, held: 0, deposited: 0, withdrawn: 0 });
    answer = [chainDeposit({ confirmations: 3, status: "credited", credited_at: 1_700_000_010 })];
    await act(() => vi.advanceTimersByTimeAsync(PENDING_REFRESH_MS));
    await waitFor(() => expect(row(0).dataset.status).toBe("credited"));
    expect(depositCalls(calls)).toBe(2);
    // A new credit reads the balance again.
    await waitFor(() => expect(services.queryClient.getQueryState(keys.account(ME))?.isInvalidated).toBe(true));

    // Nothing pending: no more polling.
    await act(() => vi.advanceTimersByTimeAsync(PENDING_REFRESH_MS * 4));
    expect(depositCalls(calls)).toBe(2);
  });

  it("shows a credited deposit with its credit and its transaction hash, shortened and copyable", async () => {
    const tx = `0x${"12".repeat(32)}`;
    setup([ADDRESS_ROUTE, depositsRoute([chainDeposit({ tx_hash: tx, status: "credited", confirmations: 3, credited_at: 1_700_000_010 })])]);
    await waitFor(() => expect(rows()).toHaveLength(1));
    const credited = row(0);
    expect(credited.dataset.status).toBe("credited");
    expect(credited.textContent).toContain("+25 cr credited");
    expect(credited.textContent).toContain("tx 0x12121212…12121212");
    expect(credited.textContent).not.toContain(tx);
    expect(within(credited).getByRole("button", { name: "Copy transaction hash" })).toBeTruthy();
    expect(within(credited).queryByTestId("confirmations")).toBeNull();
  });

  it("explains an orphaned deposit and a held one, which needs an operator", async () => {
    setup([
      { path: "/api/accounts/me/deposit-address", body: depositAddress({ token_decimals: 18 }) },
      depositsRoute([
        chainDeposit({
          tx_hash: `0x${"01".repeat(32)}`,
          token_units: "25000000000000000000",
          status: "orphaned",
          confirmations: 0,
          seen_at: 1_700_000_000,
        }),
        chainDeposit({
          tx_hash: `0x${"02".repeat(32)}`,
          status: "held",
          confirmations: 3,
          token_units: "1000000000000000001",
          amount: null,
          reason: "1000000000000000001 units of a 18-decimal token are not a whole number of micro-credits",
          seen_at: 1_700_000_100,
        }),
      ]),
    ]);
    await waitFor(() => expect(rows()).toHaveLength(2));
    const held = row(0); // newest first
    const orphaned = row(1);
    expect(held.dataset.status).toBe("held");
    expect(held.textContent).toContain("not a whole number of micro-credits");
    expect(held.textContent).toContain("An operator needs to credit it by hand");
    expect(held.textContent).toContain("1.000000000000000001 tokens");
    expect(held.textContent).not.toMatch(/ cr\b/); // no credit to show
    expect(orphaned.dataset.status).toBe("orphaned");
    expect(orphaned.textContent).toContain("dropped by a chain reorganisation");
    expect(orphaned.textContent).toContain("nothing was credited");
  });

  it("says in one line that deposits are off when the API answers 404, with no toast and no list", async () => {
    const { calls } = setup([{ path: "/api/accounts/me/deposit-address", status: 404, body: { error: { code: "not_found", message: "this deployment takes no on-chain deposits" } } }]);
    expect((await screen.findByTestId("deposits-off")).textContent).toBe("This deployment takes no deposits on chain.");
    expect(screen.queryByRole("alert")).toBeNull();
    expect(toasts.getToasts()).toEqual([]);
    expect(depositCalls(calls)).toBe(0);
  });
});

describe("the Account page", () => {
  it("asks nothing about deposits on chain where config.json says they are off", async () => {
    const { calls } = setup([{ path: "/api/accounts/me", body: { address: "0x1", balance: 0, held: 0, deposited: 0, withdrawn: 0 } }], {
      deposits: false,
      page: true,
    });
    await screen.findByTestId("page-account");
    await waitFor(() => expect(calls.some((c) => c.url.pathname === "/api/accounts/me")).toBe(true));
    expect(screen.queryByTestId("chain-deposits")).toBeNull();
    expect(calls.filter((c) => c.url.pathname.startsWith("/api/accounts/me/deposit"))).toEqual([]);
  });

  it("shows the card where config.json says deposits are on", async () => {
    setup([ADDRESS_ROUTE, depositsRoute([chainDeposit()])], { page: true });
    expect((await screen.findByTestId("deposit-address")).textContent).toContain(DEPOSIT_ADDRESS);
    await waitFor(() => expect(rows()).toHaveLength(1));
  });
});
