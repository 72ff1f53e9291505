import { QueryClient, type InfiniteData } from "@tanstack/react-query";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { keys } from "../api/keys";
import type { EventOut, LeaseOut, OverviewStats, Page, RecentBlock, WorkerDetail } from "../api/types";
import { block, lease, ME, OTHER, worker } from "../test/data";
import { applyLiveMessages, type FleetData } from "./apply";
import type { LiveMessage } from "./socket";
import { LiveStore } from "./store";

const fleetFigures = { as_of: 1_700_000_060, online_workers: 7, hashrate: 12_345, gpus: 9, leased_workers: 2, owners: 3 };

function overview(): OverviewStats {
  return {
    as_of: 1_700_000_000,
    online_workers: 1,
    hashrate: 1,
    gpus: 1,
    leased_workers: 0,
    owners: 1,
    models: [],
    open_listings: 4,
    blocks_24h: 5,
    complete: true,
    sparkline: [],
  };
}

describe("applyLiveMessages", () => {
  let client: QueryClient;
  let store: LiveStore;
  const alerts: EventOut[] = [];
  const apply = (messages: LiveMessage[], address: string | null = ME) =>
    applyLiveMessages({ queryClient: client, store, address, onAlert: (e) => alerts.push(e) }, messages);

  beforeEach(() => {
    client = new QueryClient();
    store = new LiveStore();
    alerts.length = 0;
  });

  it("applies a snapshot, and the same snapshot twice changes nothing more", () => {
    client.setQueryData<FleetData>(keys.fleet(ME), { items: [worker({ hashrate: 1 })], truncated: false });
    client.setQueryData<Page<LeaseOut>>(keys.leases(ME, "renter"), { items: [] });
    client.setQueryData<Page<RecentBlock>>(keys.recentBlocks, { items: [block({ hash: "old", recorded_at: 1 })] });
    client.setQueryData(keys.overviewStats, overview());
    const snapshot: LiveMessage = {
      type: "snapshot",
      ts: 1_700_000_100,
      data: {
        subject: ME,
        workers: [worker({ hashrate: 2000 }), worker({ worker_id: "rig-2", name: "attic" })],
        leases: [lease()],
        blocks: [block()],
        fleet: fleetFigures,
      },
    };
    apply([snapshot]);
    const once = {
      fleet: client.getQueryData<FleetData>(keys.fleet(ME)),
      leases: client.getQueryData<Page<LeaseOut>>(keys.leases(ME, "renter")),
      blocks: client.getQueryData<Page<RecentBlock>>(keys.recentBlocks),
      stats: client.getQueryData<OverviewStats>(keys.overviewStats),
    };
    expect(once.fleet?.items.map((w) => [w.worker_id, w.hashrate])).toEqual([
      ["rig-1", 2000],
      ["rig-2", 1500],
    ]);
    expect(once.leases?.items).toEqual([lease()]);
    expect(once.blocks?.items.map((b) => b.hash)).toEqual(["hash-1", "old"]);
    expect(once.stats).toMatchObject({ online_workers: 7, hashrate: 12_345, open_listings: 4, blocks_24h: 5 });

    apply([snapshot]);
    expect(client.getQueryData(keys.fleet(ME))).toEqual(once.fleet);
    expect(client.getQueryData(keys.leases(ME, "renter"))).toEqual(once.leases);
    expect(client.getQueryData(keys.recentBlocks)).toEqual(once.blocks);
    expect(store.received).toBe(2);
  });

  it("patches a known worker, its detail, and records a live sample", () => {
    client.setQueryData<FleetData>(keys.fleet(ME), { items: [worker()], truncated: false });
    client.setQueryData<WorkerDetail>(keys.worker(ME, "rig-1"), {
      worker_id: "rig-1",
      name: "garage",
      gpu_model: "RTX 4090",
      gpus: [],
      total_memory_gb: 24,
      online: true,
      state: "AVAILABLE",
      hashrate: 1500,
      active_gpus: 1,
      listing_id: null,
      accepted_blocks: 0,
      created_at: 1,
      owner_view: null,
    });
    const listener = vi.fn();
    store.subscribe(listener);
    apply([{ type: "worker", ts: 1_700_000_200, data: worker({ hashrate: 1800, state: "LEASED" }) }]);
    expect(client.getQueryData<FleetData>(keys.fleet(ME))?.items[0]).toMatchObject({ hashrate: 1800, state: "LEASED" });
    expect(client.getQueryData<WorkerDetail>(keys.worker(ME, "rig-1"))).toMatchObject({ hashrate: 1800, state: "LEASED" });
    expect(store.samplesFor("rig-1")).toEqual([{ ts: 1_700_000_200, hashrate: 1800 }]);
    expect(store.updatedAt("rig-1")).toBe(1_700_000_200);
    expect(store.ownerSamples).toEqual([{ ts: 1_700_000_200, hashrate: 1800 }]);
    expect(listener).toHaveBeenCalled();
  });

  it("merges a heartbeat's figures into a known worker and never adds an unknown one", () => {
    client.setQueryData<FleetData>(keys.fleet(ME), {
      items: [worker({ hashrate: 1500, state: "LEASED", offline: true })],
      truncated: false,
    });
    const invalidate = vi.spyOn(client, "invalidateQueries");
    const telemetry = (worker_id: string, hashrate: number): LiveMessage => ({
      type: "telemetry",
      ts: 1_700_000_300,
      data: {
        worker_id,
        online: true,
        offline: false,
        last_seen: 1_700_000_299,
        seconds_silent: 0,
        hashrate,
        active_gpus: 2,
        accepted_blocks: 4,
        telemetry: [{ index: 0, hashrate, temperature_c: 60, fan_pct: 40, power_w: 300 }],
      },
    });
    apply([telemetry("rig-1", 2100), telemetry("rig-stranger", 50)]);
    const [only] = client.getQueryData<FleetData>(keys.fleet(ME))?.items ?? [];
    // The heartbeat's figures, the rest (its state) as it was.
    expect(only).toMatchObject({ worker_id: "rig-1", hashrate: 2100, state: "LEASED", offline: false });
    expect(client.getQueryData<FleetData>(keys.fleet(ME))?.items).toHaveLength(1);
    expect(invalidate).not.toHaveBeenCalled();
    expect(store.samplesFor("rig-1")).toEqual([{ ts: 1_700_000_300, hashrate: 2100 }]);
  });

  it("does not add a rented rig to the renter's own fleet", () => {
    client.setQueryData<FleetData>(keys.fleet(ME), { items: [], truncated: false });
    client.setQueryData<Page<LeaseOut>>(keys.leases(ME, "renter"), { items: [lease({ worker_id: "rig-9" })] });
    const invalidate = vi.spyOn(client, "invalidateQueries");
    apply([{ type: "worker", ts: 10, data: worker({ worker_id: "rig-9" }) }]);
    expect(client.getQueryData<FleetData>(keys.fleet(ME))?.items).toEqual([]);
    expect(invalidate).not.toHaveBeenCalledWith({ queryKey: keys.fleet(ME) });
    // …but its hashrate is recorded for the lease's live view.
    expect(store.samplesFor("rig-9")).toHaveLength(1);
  });

  it("re-reads the fleet for an unknown worker of one's own", () => {
    client.setQueryData<FleetData>(keys.fleet(ME), { items: [], truncated: false });
    const invalidate = vi.spyOn(client, "invalidateQueries");
    apply([{ type: "worker", ts: 10, data: worker({ worker_id: "rig-new" }) }]);
    expect(invalidate).toHaveBeenCalledWith({ queryKey: keys.fleet(ME) });
  });

  it("upserts a lease into the right role's list and refreshes money on settlement", () => {
    client.setQueryData<Page<LeaseOut>>(keys.leases(ME, "renter"), { items: [lease()] });
    client.setQueryData<Page<LeaseOut>>(keys.leases(ME, "provider"), { items: [] });
    const invalidate = vi.spyOn(client, "invalidateQueries");
    const settled = lease({ status: "settled", settled_at: 1_700_004_000, payout: 400_000, fee: 20_000, refund: 80_000 });
    apply([{ type: "lease", ts: 1, data: settled }]);
    expect(client.getQueryData<Page<LeaseOut>>(keys.leases(ME, "renter"))?.items).toEqual([settled]);
    expect(client.getQueryData<Page<LeaseOut>>(keys.leases(ME, "provider"))?.items).toEqual([]);
    expect(invalidate).toHaveBeenCalledWith({ queryKey: keys.account(ME) });

    const mineToProvide = lease({ lease_id: "lease-2", provider: ME, renter: OTHER });
    apply([{ type: "lease", ts: 2, data: mineToProvide }]);
    expect(client.getQueryData<Page<LeaseOut>>(keys.leases(ME, "provider"))?.items).toEqual([mineToProvide]);
  });

  it("merges blocks newest first without duplicates, and mine into my list", () => {
    client.setQueryData<Page<RecentBlock>>(keys.recentBlocks, { items: [block({ hash: "a", recorded_at: 5 })] });
    client.setQueryData<Page<RecentBlock>>(keys.myBlocks(ME), { items: [] });
    apply([
      { type: "block", ts: 1, data: block({ hash: "b", recorded_at: 9 }) },
      { type: "block", ts: 1, data: block({ hash: "a", recorded_at: 5 }) },
      { type: "block", ts: 1, data: block({ hash: "c", recorded_at: 7, owner: OTHER, account: OTHER }) },
    ]);
    expect(client.getQueryData<Page<RecentBlock>>(keys.recentBlocks)?.items.map((b) => b.hash)).toEqual(["b", "c", "a"]);
    expect(client.getQueryData<Page<RecentBlock>>(keys.myBlocks(ME))?.items.map((b) => b.hash)).toEqual(["b", "a"]);
  });

  it("prepends an alert event once and tells the caller", () => {
    const event: EventOut = {
      event_id: "e1",
      rule_id: "r1",
      rule_name: "Hot",
      worker_id: "rig-1",
      kind: "temperature",
      message: "GPU 0 at 91 °C",
      value: 91,
      threshold: 85,
      ts: 1,
      delivery: "none",
      attempts: 0,
      delivered_at: null,
      delivery_error: null,
    };
    client.setQueryData<InfiniteData<Page<EventOut>>>(keys.alertEvents(ME), { pages: [{ items: [] }], pageParams: [null] });
    apply([{ type: "alert", ts: 1, data: event }]);
    apply([{ type: "alert", ts: 1, data: event }]);
    expect(client.getQueryData<InfiniteData<Page<EventOut>>>(keys.alertEvents(ME))?.pages[0]?.items).toEqual([event]);
    expect(alerts).toHaveLength(2);
  });

  it("keeps private caches untouched when signed out", () => {
    client.setQueryData<FleetData>(keys.fleet(ME), { items: [worker({ hashrate: 1 })], truncated: false });
    apply([{ type: "worker", ts: 1, data: worker({ hashrate: 99 }) }], null);
    expect(client.getQueryData<FleetData>(keys.fleet(ME))?.items[0]?.hashrate).toBe(1);
  });

  it("records fleet figures as samples", () => {
    apply([{ type: "fleet", ts: 1_700_000_070, data: fleetFigures }]);
    apply([{ type: "fleet", ts: 1_700_000_130, data: { ...fleetFigures, as_of: 1_700_000_120, hashrate: 20_000 } }]);
    expect(store.fleet?.hashrate).toBe(20_000);
    expect(store.fleetSamples).toEqual([
      { ts: 1_700_000_060, hashrate: 12_345 },
      { ts: 1_700_000_120, hashrate: 20_000 },
    ]);
  });
});
