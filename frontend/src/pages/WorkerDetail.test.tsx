import { cleanup, render, screen, within } from "@testing-library/react";
import { MemoryRouter, Route as Path, Routes } from "react-router";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { WorkerDetail as Worker } from "../api/types";
import type { Services } from "../app/services";
import { finding, ME, recommendation } from "../test/data";
import { FakeWebSocket, type Route } from "../test/fakes";
import { testServices } from "../test/services";
import WorkerDetail from "./WorkerDetail";

vi.mock("../components/TimeSeriesChart", () => ({ TimeSeriesChart: () => <div data-testid="chart" /> }));

let services: Services;

function detail(owned: boolean): Worker {
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
        } as unknown as Worker["owner_view"])
      : null,
  };
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
    ]);
    const anomalies = await screen.findByTestId("worker-anomalies");
    expect((await within(anomalies).findByText("No anomalies")).parentElement?.textContent).toContain("before it is scored");
  });

  it("asks nothing about insights for a rig the caller does not own", async () => {
    const { calls } = setup([{ path: "/api/workers/rig-1", body: detail(false) }]);
    await screen.findByText("History is for the rig's owner");
    expect(screen.queryByTestId("worker-anomalies")).toBeNull();
    expect(calls.some((c) => /anomalies|recommendations/.test(c.url.pathname))).toBe(false);
  });
});
