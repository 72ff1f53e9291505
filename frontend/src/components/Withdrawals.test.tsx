import { act, cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { keys } from "../api/keys";
import type { HotWalletOut, WithdrawalOut } from "../api/types";
import { IN_FLIGHT_REFRESH_MS } from "../api/withdrawals";
import type { AppConfig } from "../config";
import type { Services } from "../app/services";
import type { ToastStore } from "../lib/toast";
import Account from "../pages/Account";
import { depositAddress, HOT_WALLET, hotWallet, manualWithdrawal, ME, withdrawal } from "../test/data";
import { FakeWebSocket, type Route } from "../test/fakes";
import { testServices } from "../test/services";

let services: Services;
let toasts: ToastStore;

const ON_CHAIN: Partial<AppConfig> = { wsUrl: "", stage: "prod", deposits: true, withdrawalsOnChain: true, withdrawalAutoMax: 100_000_000 };
const ACCOUNT = { address: ME, balance: 50_000_000, held: 25_000_000, deposited: 75_000_000, withdrawn: 0, updated_at: null };
const ACCOUNT_ROUTE: Route = { path: "/api/accounts/me", body: ACCOUNT };
const withdrawalsRoute = (items: WithdrawalOut[]): Route => ({ path: "/api/accounts/me/withdrawals", body: { items, next_cursor: null } });
const hotWalletRoute = (body: HotWalletOut): Route => ({ path: "/api/admin/hot-wallet", body });

function setup(routes: Route[], { config = ON_CHAIN, admin = false } = {}) {
  const made = testServices(routes, { config });
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

const rows = () => screen.getAllByTestId("withdrawal");
function row(i: number): HTMLElement {
  const found = rows()[i];
  if (!found) throw new Error(`no withdrawal row ${i}`);
  return found;
}
const count = (calls: { url: URL }[], path: string) => calls.filter((c) => c.url.pathname === path).length;

beforeEach(() => FakeWebSocket.reset());
afterEach(() => {
  vi.useRealTimers();
  cleanup();
  services.dispose();
  services.queryClient.clear();
});

describe("the Account page's withdrawals", () => {
  it("says in the form that amounts up to the limit are paid automatically to the signed-in address", async () => {
    setup([ACCOUNT_ROUTE, withdrawalsRoute([])]);
    const form = await screen.findByTestId("withdraw-form");
    expect(form.textContent).toContain("Amounts up to 100 credits are paid automatically on chain to your signed-in address");
  });

  it("keeps the operator's approval in the form where withdrawals are paid by hand", async () => {
    setup([ACCOUNT_ROUTE, withdrawalsRoute([manualWithdrawal()])], { config: { wsUrl: "", stage: "prod" } });
    await waitFor(() => expect(rows()).toHaveLength(1));
    expect(screen.getByTestId("withdraw-form").textContent).toContain("until an operator approves");
    const pending = row(0);
    expect(pending.dataset.status).toBe("pending");
    expect(within(pending).getByText("Awaiting approval")).toBeTruthy();
    expect(within(pending).getByTestId("withdrawal-step").textContent).toBe("Held out of your balance until an admin approves it.");
    expect(within(pending).queryByRole("button", { name: "Copy transaction hash" })).toBeNull();
    expect(within(pending).queryByTestId("withdrawal-approval")).toBeNull();
  });

  it("shows a sent payment's confirmations, its transaction shortened and copyable, and the hot wallet", async () => {
    const tx = `0x${"ef".repeat(32)}`;
    setup([ACCOUNT_ROUTE, withdrawalsRoute([withdrawal({ tx_hash: tx })])]);
    await waitFor(() => expect(rows()).toHaveLength(1));
    const sent = row(0);
    expect(within(sent).getByText("Sent")).toBeTruthy();
    expect(within(sent).getByTestId("withdrawal-confirmations").textContent).toBe("2 / 12 confirmations");
    expect(within(sent).getByRole("meter", { name: "Confirmations" }).getAttribute("aria-valuenow")).toBe("17");
    expect(within(sent).getByTestId("withdrawal-approval").textContent).toBe("paid automatically");
    expect(sent.textContent).toContain("tx 0xefefefef…efefefef");
    expect(sent.textContent).not.toContain(tx);
    expect(within(sent).getByRole("button", { name: "Copy transaction hash" })).toBeTruthy();
    expect(sent.textContent).toContain("from the hot wallet 0x5555…5555 on chain 31337");
    expect(within(sent).getByTitle(HOT_WALLET)).toBeTruthy();
    expect(screen.getByText("Checking every few seconds")).toBeTruthy();
  });

  it("shows a settled payment's time and a failed one's reason, newest first", async () => {
    setup([
      ACCOUNT_ROUTE,
      withdrawalsRoute([
        withdrawal({ withdrawal_id: "w-1", status: "settled", confirmations: 12, settled_at: 1_700_000_300, approval: "admin" }),
        withdrawal({
          withdrawal_id: "w-2",
          requested_at: 1_700_000_500,
          status: "failed",
          failure: "the transfer reverted on chain",
          block_number: 130,
        }),
      ]),
    ]);
    await waitFor(() => expect(rows()).toHaveLength(2));
    const [failed, settled] = [row(0), row(1)];
    expect(failed.dataset.status).toBe("failed");
    expect(within(failed).getByTestId("withdrawal-step").textContent).toBe(
      "Failed: the transfer reverted on chain. The 25 cr are back in your balance.",
    );
    expect(within(failed).getByTestId("withdrawal-step").className).toContain("text-danger");
    expect(settled.dataset.status).toBe("settled");
    expect(within(settled).getByText("Paid")).toBeTruthy();
    expect(within(settled).getByTestId("withdrawal-approval").textContent).toBe("approved by admin");
    expect(within(settled).getByTestId("withdrawal-settled").textContent).toMatch(/^−25 cr left your balance /);
    expect(within(settled).queryByTestId("withdrawal-confirmations")).toBeNull();
    // Nothing in flight: no polling.
    expect(screen.queryByText("Checking every few seconds")).toBeNull();
  });

  it("reads the list again every few seconds while a payment is in flight, and the balance once it settles", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    let answer = [withdrawal({ status: "queued", tx_hash: null, tx_hashes: [], block_number: null, confirmations: 0 })];
    const { calls } = setup([
      ACCOUNT_ROUTE,
      { path: "/api/accounts/me/withdrawals", handler: () => ({ body: { items: answer, next_cursor: null } }) },
    ]);
    await waitFor(() => expect(rows()).toHaveLength(1));
    expect(row(0).dataset.status).toBe("queued");
    expect(count(calls, "/api/accounts/me/withdrawals")).toBe(1);

    answer = [withdrawal()];
    await act(() => vi.advanceTimersByTimeAsync(IN_FLIGHT_REFRESH_MS));
    await waitFor(() => expect(row(0).dataset.status).toBe("sent"));
    expect(count(calls, "/api/accounts/me/withdrawals")).toBe(2);
    expect(services.queryClient.getQueryState(keys.account(ME))?.isInvalidated).toBe(false);

    answer = [withdrawal({ status: "settled", confirmations: 12, settled_at: 1_700_000_300 })];
    await act(() => vi.advanceTimersByTimeAsync(IN_FLIGHT_REFRESH_MS));
    await waitFor(() => expect(row(0).dataset.status).toBe("settled"));
    // Paid: the balance (held, withdrawn) and the ledger are read again.
    await waitFor(() => expect(count(calls, "/api/accounts/me")).toBe(2));

    await act(() => vi.advanceTimersByTimeAsync(IN_FLIGHT_REFRESH_MS * 4));
    expect(count(calls, "/api/accounts/me/withdrawals")).toBe(3);
  });

  it("toasts a request queued for automatic payment as such", async () => {
    const queued = withdrawal({ status: "queued", tx_hash: null, block_number: null, confirmations: 0 });
    setup([
      ACCOUNT_ROUTE,
      withdrawalsRoute([]),
      { method: "POST", path: "/api/accounts/me/withdraw", status: 201, body: { withdrawal: queued, account: ACCOUNT, replayed: false } },
    ]);
    const form = await screen.findByTestId("withdraw-form");
    await waitFor(() => expect(screen.getAllByTestId("balance")[0]?.textContent).toContain("50"));
    const input = within(form).getByRole("textbox");
    fireEvent.change(input, { target: { value: "25" } });
    fireEvent.submit(form);
    await waitFor(() => expect(toasts.getToasts().map((t) => t.message)).toContain("25 credits queued: paid automatically to your address."));
  });
});

describe("the hot wallet card", () => {
  it("shows an admin the wallet's balances, nonce and today's outflow against the limit", async () => {
    setup(
      [ACCOUNT_ROUTE, withdrawalsRoute([]), hotWalletRoute(hotWallet()), { path: "/api/accounts/me/deposit-address", body: depositAddress() }, { path: "/api/accounts/me/deposits", body: { items: [], next_cursor: null } }],
      { admin: true },
    );
    const card = await screen.findByTestId("hot-wallet");
    expect(within(card).getByRole("button", { name: "Copy hot wallet address" })).toBeTruthy();
    expect(card.textContent).toContain(HOT_WALLET);
    await waitFor(() => {
      const facts = Object.fromEntries([...card.querySelectorAll("dt")].map((dt) => [dt.textContent, dt.nextElementSibling?.textContent]));
      expect(facts).toEqual({
        "Token balance": "1,000 tokens", // 6 decimals, from the deposit address's token
        Gas: "0.5 ETH",
        Nonce: "next 5 · chain 5: in step",
        "Auto-pay up to": "100 cr",
        "Keep at least": "1,000 cr",
        "Keep gas over": "0.01 ETH",
        "Paid today": "2 payouts",
        "Chain head": "140",
      });
    });
    expect(within(card).getByTestId("hot-wallet-outflow").textContent).toBe("30 / 10,000 cr");
    expect(within(card).queryByTestId("hot-wallet-alarms")).toBeNull();
  });

  it("highlights the alarms and shows raw units where the token's decimals are unknown", async () => {
    setup(
      [
        ACCOUNT_ROUTE,
        withdrawalsRoute([]),
        hotWalletRoute(hotWallet({ alarms: ["hot_wallet_gas_low", "daily_limit_reached"], gas_wei: "1000", next_nonce: 7, outflow_today: 10_000_000_000 })),
      ],
      { admin: true, config: { ...ON_CHAIN, deposits: false } },
    );
    const card = await screen.findByTestId("hot-wallet");
    const alarms = within(card).getByTestId("hot-wallet-alarms");
    expect([...alarms.querySelectorAll("li")].map((li) => li.textContent)).toEqual([
      "Gas low: send the chain's coin to the hot wallet",
      "Daily limit reached: payouts wait for the next UTC day",
    ]);
    const gas = within(card).getByText("Gas").nextElementSibling as HTMLElement;
    expect(gas.textContent).toBe("<0.000001 ETH");
    expect(gas.className).toContain("text-danger");
    expect(within(card).getByText("Token balance").nextElementSibling?.textContent).toBe("1000000000 units");
    expect(within(card).getByText("Nonce").nextElementSibling?.textContent).toBe("next 7 · chain 5: 2 unmined");
    expect(within(card).getByTestId("hot-wallet-outflow").className).toContain("text-danger");
  });

  it("is hidden, with no toast, when the API answers 404", async () => {
    const { calls } = setup(
      [
        ACCOUNT_ROUTE,
        withdrawalsRoute([]),
        { path: "/api/admin/hot-wallet", status: 404, body: { error: { code: "not_found", message: "the payouts job has not run yet" } } },
      ],
      { admin: true, config: { ...ON_CHAIN, deposits: false } },
    );
    await waitFor(() => expect(count(calls, "/api/admin/hot-wallet")).toBe(1));
    await waitFor(() => expect(screen.getByTestId("page-account")).toBeTruthy());
    expect(screen.queryByTestId("hot-wallet")).toBeNull();
    expect(toasts.getToasts().filter((t) => t.message?.includes("payouts"))).toEqual([]);
  });

  it("is not asked for by someone who is not an admin, nor where withdrawals are paid by hand", async () => {
    const first = setup([ACCOUNT_ROUTE, withdrawalsRoute([])], { config: { ...ON_CHAIN, deposits: false } });
    await waitFor(() => expect(count(first.calls, "/api/accounts/me/withdrawals")).toBe(1));
    expect(count(first.calls, "/api/admin/hot-wallet")).toBe(0);
    cleanup();
    services.dispose();
    const second = setup([ACCOUNT_ROUTE, withdrawalsRoute([])], { admin: true, config: { wsUrl: "", stage: "prod" } });
    await waitFor(() => expect(count(second.calls, "/api/accounts/me/withdrawals")).toBe(1));
    expect(count(second.calls, "/api/admin/hot-wallet")).toBe(0);
    expect(screen.queryByTestId("hot-wallet")).toBeNull();
  });
});
