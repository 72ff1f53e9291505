import { cleanup, render, screen, within } from "@testing-library/react";
import { MemoryRouter, Route as Path, Routes } from "react-router";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { WorkerDetail as Worker } from "../api/types";
import type { Services } from "../app/services";
import { figures, finding, ME, profitDay, recommendation, rigProfit } from "../test/data";
import { FakeWebSocket, type Route } from "../test/fakes";
import { testServices } from "../test/services";
import WorkerDetail from "./WorkerDetail";

vi.mock("../components/TimeSeriesChart", () => ({ TimeSeriesChart: () => <div data-testid="chart" /> }));

let services: Services;

const REPORTS = {
  blocks_verified: 40,
  blocks_refused: 2,
  network_accepted: 36,
  network_refused: 1,
  blocks_complete: true,
  shares_verified: 1_998,
  shares_refused: 2,
};

function detail(owned: boolean, reports: Partial<typeof REPORTS> = {}): Worker {
  return {
    worker_id: "rig-1",
    name: "garage",
    gpu_model: "RTX 4090",
    gpus: [{ index: 0, name: "RTX 4090", memory_gb: 24, bus_id: 1 }],
    total_memory_gb: 24,
    online: true,
    state: "AVAILABLE",
    hashrate: 1500,
    active_gpus: 1,
    listing_id: null,
    accepted_blocks: 0,
    created_at: 1_700_000_000,
    owner_view: owned
      ? ({
          last_seen: 1_700_000_000,
          seconds_silent: 3,
          offline: false,
          version: "2.0",
          uptime_sec: 3600,
          difficulty: 8,
          telemetry: [],
          active_lease: null,
          share_mode: null,
          mining_address: ME,
          mines_for_another: false,
          reports: { ...REPORTS, ...reports },
        } as unknown as Worker["owner_view"])
      : null,
  };
}

function rigProfitBody({
  price = { electricity_price_per_kwh: "0.15", currency: "USD" },
  days,
  totals,
}: { price?: { electricity_price_per_kwh: string | null; currency: string }; days?: ReturnType<typeof profitDay>[]; totals?: ReturnType<typeof figures> } = {}) {
  const rig = rigProfit({ ...(days && { days }), ...(totals && { totals }) });
  return { since: 1_699_920_000, until: 1_700_000_000, price, rig, complete: true };
}

function setup(routes: Route[]) {
  const made = testServices(
    [
      ...routes,
      { path: "/api/workers/rig-1/reputation", body: { worker_id: "rig-1", score: 80, verified_blocks: 3, completed_leases: 1, age_days: 30 } },
      { path: "/api/monitoring/hashrate-history", body: { owner: ME, worker_id: "rig-1", start: 0, end: 1, resolution: 300, points: [], complete: true } },
    ],
    { config: { wsUrl: "" } },
  );
  services = made.services;
  render(
    <MemoryRouter initialEntries={["/workers/rig-1"]}>
      <Routes>
        <Path path="/workers/:workerId" element={<WorkerDetail />} />
      </Routes>
    </MemoryRouter>,
    { wrapper: made.wrapper },
  );
  return made;
}

beforeEach(() => FakeWebSocket.reset());
afterEach(() => {
  cleanup();
  services.dispose();
  services.queryClient.clear();
});

describe("a rig's page", () => {
  it("shows its owner the rig's open anomalies and its recommendations", async () => {
    setup([
      { path: "/api/workers/rig-1", body: detail(true) },
      { path: "/api/workers/rig-1/anomalies", body: [finding(), finding({ reason: "gpu_lost", open: false, closed_at: 1_700_000_900 })] },
      { path: "/api/workers/rig-1/recommendations", body: { items: [recommendation()], difficulty: 8 } },
      { path: "/api/workers/rig-1/profit", body: rigProfitBody() },
    ]);
    const anomalies = await screen.findByTestId("worker-anomalies");
    const shown = await within(anomalies).findAllByTestId("finding");
    expect(shown).toHaveLength(1);
    expect(shown[0]!.textContent).toContain("Thermal throttling");
    expect(shown[0]!.textContent).not.toContain("rig-1");
    const recs = await within(screen.getByTestId("worker-recommendations")).findAllByTestId("recommendation");
    expect(recs[0]!.textContent).toContain("List garage: it is idle");
    expect(within(recs[0]!).getByTestId("gain").textContent).toBe("+1.25 cr/day");
  });

  it("says a new rig is not scored yet", async () => {
    setup([
      { path: "/api/workers/rig-1", body: detail(true) },
      { path: "/api/workers/rig-1/anomalies", body: [] },
      { path: "/api/workers/rig-1/recommendations", body: { items: [], difficulty: 8 } },
      { path: "/api/workers/rig-1/profit", body: rigProfitBody() },
    ]);
    const anomalies = await screen.findByTestId("worker-anomalies");
    expect((await within(anomalies).findByText("No anomalies")).parentElement?.textContent).toContain("before it is scored");
  });

  it("asks nothing about insights, reports or profit for a rig the caller does not own", async () => {
    const { calls } = setup([{ path: "/api/workers/rig-1", body: detail(false) }]);
    await screen.findByText("History is for the rig's owner");
    expect(screen.queryByTestId("worker-anomalies")).toBeNull();
    expect(screen.queryByTestId("worker-reports")).toBeNull();
    expect(screen.queryByTestId("worker-profit")).toBeNull();
    expect(calls.some((c) => /anomalies|recommendations|profit/.test(c.url.pathname))).toBe(false);
  });

  it("shows its owner the reports accepted and refused, by the platform, the network and for shares", async () => {
    setup([
      { path: "/api/workers/rig-1", body: detail(true, { blocks_complete: false }) },
      { path: "/api/workers/rig-1/anomalies", body: [] },
      { path: "/api/workers/rig-1/recommendations", body: { items: [], difficulty: 8 } },
      { path: "/api/workers/rig-1/profit", body: rigProfitBody() },
    ]);
    const reports = await screen.findByTestId("worker-reports");
    const rows = within(reports).getAllByTestId("report-row").map((r) => [
      within(r).getByRole("rowheader").textContent,
      ...within(r).getAllByRole("cell").map((c) => c.textContent),
    ]);
    expect(rows).toEqual([
      ["Blocks, platform", "40", "2", "95.2%"],
      ["Blocks, network", "36", "1", "97.3%"],
      ["Shares", "1,998", "2", "99.9%"],
    ]);
    expect(reports.textContent).toContain("the newest 1,000 only");
  });

  it("shows no rate for reports it has none of", async () => {
    const none = { blocks_verified: 0, blocks_refused: 0, network_accepted: 0, network_refused: 0, shares_verified: 0, shares_refused: 0 };
    setup([
      { path: "/api/workers/rig-1", body: detail(true, none) },
      { path: "/api/workers/rig-1/anomalies", body: [] },
      { path: "/api/workers/rig-1/recommendations", body: { items: [], difficulty: 8 } },
      { path: "/api/workers/rig-1/profit", body: rigProfitBody() },
    ]);
    const reports = await screen.findByTestId("worker-reports");
    const rates = within(reports).getAllByTestId("report-row").map((r) => within(r).getAllByRole("cell")[2]!.textContent);
    expect(rates).toEqual(["—", "—", "—"]);
    expect(reports.textContent).not.toContain("1,000");
  });

  it("shows its owner the rig's profit per day, unknown energy as unknown, at the owner's price", async () => {
    const { calls } = setup([
      { path: "/api/workers/rig-1", body: detail(true) },
      { path: "/api/workers/rig-1/anomalies", body: [] },
      { path: "/api/workers/rig-1/recommendations", body: { items: [], difficulty: 8 } },
      {
        path: "/api/workers/rig-1/profit",
        body: rigProfitBody({
          days: [
            // Reported all day without a power reading: energy and cost unknown.
            profitDay("2023-11-13", { energy_kwh: null, power_cost: null, net: null, metered_seconds: 0, power_complete: false }),
            profitDay("2023-11-14", { energy_kwh: 3.5, power_cost: 525_000, revenue: 2_000_000, net: 1_475_000 }),
          ],
          totals: figures({ energy_kwh: 3.5, power_cost: 525_000, revenue: 4_000_000, net: 1_475_000, power_complete: false }),
        }),
      },
    ]);
    const card = await screen.findByTestId("worker-profit");
    await within(card).findByTestId("profit-net");
    expect(calls.find((c) => c.url.pathname === "/api/workers/rig-1/profit")?.url.searchParams.get("days")).toBe("7");
    expect(within(card).getByTestId("profit-price").textContent).toContain("at 0.15 USD/kWh");
    expect(within(card).getByTestId("profit-net").textContent).toContain("+1.48");
    const days = within(card)
      .getAllByTestId("profit-day")
      .map((r) => [within(r).getByRole("rowheader").textContent, ...within(r).getAllByRole("cell").map((c) => c.textContent)]);
    expect(days).toEqual([
      ["2023-11-14", "3.5 kWh", "0.53 USD", "2 cr", "+1.48"],
      ["2023-11-13", "—", "—", "4 cr", "—"],
    ]);
  });

  it("links to the Account page when no electricity price is set", async () => {
    setup([
      { path: "/api/workers/rig-1", body: detail(true) },
      { path: "/api/workers/rig-1/anomalies", body: [] },
      { path: "/api/workers/rig-1/recommendations", body: { items: [], difficulty: 8 } },
      {
        path: "/api/workers/rig-1/profit",
        body: rigProfitBody({
          price: { electricity_price_per_kwh: null, currency: "USD" },
          days: [profitDay("2023-11-14", { power_cost: null, net: null })],
          totals: figures({ power_cost: null, net: null }),
        }),
      },
    ]);
    const card = await screen.findByTestId("worker-profit");
    const price = await within(card).findByTestId("profit-price");
    expect(price.textContent).toContain("no electricity price set");
    expect(within(price).getByRole("link", { name: "set it" }).getAttribute("href")).toBe("/account");
    const [day] = within(card).getAllByTestId("profit-day");
    expect(within(day!).getAllByRole("cell").map((c) => c.textContent)).toEqual(["7.2 kWh", "—", "4 cr", "—"]);
  });
});
