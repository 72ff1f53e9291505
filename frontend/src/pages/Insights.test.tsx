import { cleanup, render, screen, waitFor, within } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Services } from "../app/services";
import { finding, fleetProfit, gpuModel, recommendation, rigProfit } from "../test/data";
import { FakeWebSocket, type Route } from "../test/fakes";
import { testServices } from "../test/services";
import Insights from "./Insights";

// The canvas chart is Chromium's to draw (the e2e); here, what it is given.
vi.mock("../components/TimeSeriesChart", () => ({
  TimeSeriesChart: ({ series, testId }: { series: { id: string; data: { time: number; value: number }[] }[]; testId?: string }) => (
    <div data-testid={testId} data-series={JSON.stringify(series.map((s) => [s.id, s.data.map((p) => p.value)]))} />
  ),
}));

let services: Services;

function setup(routes: Route[], { signedIn = true } = {}) {
  const made = testServices(routes, { signedIn, config: { wsUrl: "" } });
  services = made.services;
  render(
    <MemoryRouter>
      <Insights />
    </MemoryRouter>,
    { wrapper: made.wrapper },
  );
  return made;
}

const page = (items: unknown[]) => ({ items, next_cursor: null });

beforeEach(() => FakeWebSocket.reset());
afterEach(() => {
  cleanup();
  services.dispose();
  services.queryClient.clear();
});

describe("Insights page", () => {
  it("shows open anomalies with their evidence, closed ones apart, recommendations ranked with their gain", async () => {
    setup([
      {
        path: "/api/insights/anomalies",
        body: page([
          finding({ worker_id: "rig-2", reason: "fan_failure", gpu: 1, open: false, closed_at: 1_700_000_900, message: "GPU 1's fan stalled" }),
          finding(),
        ]),
      },
      {
        path: "/api/recommendations",
        body: {
          items: [
            recommendation(),
            recommendation({ kind: "hot_for_power", gpu: 0, title: "garage GPU 0 runs 9 °C hotter", gain_per_day: null, evidence: { temperature_c: 75.5 } }),
          ],
          difficulty: 120_000,
        },
      },
      { path: "/api/profit", body: fleetProfit() },
      { path: "/api/insights/gpu-models", body: { items: [gpuModel()], difficulty: 120_000 } },
    ]);

    const open = await screen.findByTestId("open-anomalies");
    await waitFor(() => expect(within(open).getAllByTestId("finding")).toHaveLength(1));
    const shown = within(open).getByTestId("finding");
    expect(shown.textContent).toContain("Thermal throttling");
    expect(shown.textContent).toContain("GPU 0");
    expect(shown.textContent).toContain("91 °C where its heat model expects 78 °C");
    const evidence = within(shown).getByRole("table");
    expect(within(evidence).getByRole("rowheader", { name: "Expected temperature" })).toBeTruthy();
    expect(evidence.textContent).toContain("78 °C");
    expect(evidence.textContent).toContain("81.0%");
    expect(shown.querySelector("time")).toBeTruthy();

    const closed = screen.getByTestId("closed-anomalies");
    expect(within(closed).getByTestId("finding").getAttribute("data-open")).toBe("false");
    expect(closed.textContent).toContain("Fan failure");
    expect(closed.textContent).toContain("closed");

    const recs = within(screen.getByTestId("recommendations")).getAllByTestId("recommendation");
    expect(recs.map((r) => r.querySelector("p")?.textContent)).toEqual(["List garage: it is idle", "garage GPU 0 runs 9 °C hotter"]);
    expect(within(recs[0]!).getByTestId("gain").textContent).toBe("+1.25 cr/day");
    expect(recs[1]!.textContent).toContain("not valued by the market");
    expect(recs[1]!.textContent).toContain("76 °C");
    expect(screen.getByTestId("recommendations").textContent).toContain("difficulty 120,000");
  });

  it("shows the profit per day in a chart, the totals and each rig, at the owner's price", async () => {
    const { calls } = setup([
      { path: "/api/insights/anomalies", body: page([]) },
      { path: "/api/recommendations", body: { items: [], difficulty: 8 } },
      { path: "/api/profit", body: fleetProfit({ rigs: [rigProfit(), rigProfit({ worker_id: "rig-2", name: "attic", totals: { ...rigProfit().totals, energy_kwh: 0, power_cost: 0, metered_seconds: 0, power_complete: false } })] }) },
      { path: "/api/insights/gpu-models", body: { items: [], difficulty: 8 } },
    ]);
    const chart = await screen.findByTestId("profit-chart");
    expect(JSON.parse(chart.getAttribute("data-series") ?? "[]")).toEqual([
      ["revenue", [4, 4]],
      ["cost", [1.08, 1.08]],
      ["net", [-0.2, 2.92]],
    ]);
    expect(calls.find((c) => c.url.pathname === "/api/profit")?.url.searchParams.get("days")).toBe("7");
    const profit = screen.getByTestId("profit");
    expect(within(profit).getByTestId("profit-price").textContent).toContain("at 0.15 USD/kWh");
    expect(within(profit).getByTestId("profit-net").textContent).toContain("+2.92");
    const rows = within(profit).getAllByTestId("profit-rig");
    expect(rows[0]!.textContent).toContain("garage");
    expect(rows[0]!.textContent).toContain("7.2 kWh");
    expect(rows[0]!.textContent).toContain("1.08 USD");
    expect(rows[0]!.textContent).toContain("4 cr");
    // Reported without a power reading: energy and cost unknown, not zero.
    const attic = within(rows[1]!).getAllByRole("cell").map((c) => c.textContent);
    expect(attic).toEqual(["—", "—", "4 cr", "+2.92"]);
  });

  it("lists each GPU model's medians: H/s at today's difficulty, work per watt, power, temperature, rigs", async () => {
    setup([
      { path: "/api/insights/anomalies", body: page([]) },
      { path: "/api/recommendations", body: { items: [], difficulty: 8 } },
      { path: "/api/profit", body: fleetProfit() },
      { path: "/api/insights/gpu-models", body: { items: [gpuModel()], difficulty: 8 } },
    ]);
    const row = await screen.findByTestId("gpu-model-row");
    const cells = within(row).getAllByRole("cell").map((c) => c.textContent);
    expect(within(row).getByRole("rowheader").textContent).toBe("NVIDIA GeForce RTX 4090");
    expect(cells).toEqual(["2.45 kH/s", "19.1 MiB/s", "68.5 KiB/J", "286 W", "66 °C", "5 (12)"]);
  });

  it("says a rig needs history before it is scored when there is nothing yet", async () => {
    setup([
      { path: "/api/insights/anomalies", body: page([]) },
      { path: "/api/recommendations", body: { items: [], difficulty: 8 } },
      { path: "/api/profit", body: fleetProfit({ rigs: [], days: [] }) },
      { path: "/api/insights/gpu-models", body: { items: [], difficulty: 8 } },
    ]);
    expect((await screen.findByText("No recommendations yet")).parentElement?.textContent).toContain("a few hours of history before it is scored");
    expect(screen.getByText("Nothing unusual right now").parentElement?.textContent).toContain("a few hours of history before it is scored");
    expect(await screen.findByText("No GPU model has enough rigs yet")).toBeTruthy();
    expect(screen.getByText("No rigs yet")).toBeTruthy();
  });

  it("signed out: a sign-in card, and still the public GPU-model figures", async () => {
    const { calls } = setup([{ path: "/api/insights/gpu-models", body: { items: [gpuModel()], difficulty: 8 } }], { signedIn: false });
    expect(screen.getByTestId("sign-in-required")).toBeTruthy();
    await screen.findByTestId("gpu-model-row");
    expect(calls.map((c) => c.url.pathname)).toEqual(["/api/insights/gpu-models"]);
    expect(calls[0]?.headers.Authorization).toBeUndefined();
  });
});
