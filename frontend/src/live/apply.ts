/** Folds live messages into the query cache, so every page that shows the data updates. */
import type { InfiniteData, QueryClient } from "@tanstack/react-query";
import { keys } from "../api/keys";
import type {
  EventOut,
  FleetFigures,
  FleetWorker,
  LeaseOut,
  OverviewStats,
  Page,
  RecentBlock,
  WorkerDetail,
} from "../api/types";
import type { LiveMessage, WorkerTelemetry } from "./socket";
import type { LiveStore } from "./store";

/** The fleet query's data: every page of /api/monitoring/fleet, joined. */
export interface FleetData {
  items: FleetWorker[];
  truncated: boolean;
}

export interface ApplyContext {
  queryClient: QueryClient;
  store: LiveStore;
  /** The signed-in address, or null. */
  address: string | null;
  onAlert?: (event: EventOut) => void;
}

const MAX_BLOCKS = 50;

export function upsertBy<T>(items: readonly T[], item: T, key: (value: T) => string, prepend = true): T[] {
  const id = key(item);
  const index = items.findIndex((existing) => key(existing) === id);
  if (index === -1) return prepend ? [item, ...items] : [...items, item];
  const next = items.slice();
  next[index] = item;
  return next;
}

function mergeBlocks(existing: readonly RecentBlock[], incoming: readonly RecentBlock[]): RecentBlock[] {
  const byHash = new Map<string, RecentBlock>();
  for (const block of [...incoming, ...existing]) if (!byHash.has(block.hash)) byHash.set(block.hash, block);
  return [...byHash.values()].sort((a, b) => b.recorded_at - a.recorded_at).slice(0, MAX_BLOCKS);
}

function ownerTotal(items: readonly FleetWorker[]): number {
  return items.reduce((sum, w) => (w.offline ? sum : sum + w.hashrate), 0);
}

function rentedWorkerIds(ctx: ApplyContext, address: string): Set<string> {
  const page = ctx.queryClient.getQueryData<Page<LeaseOut>>(keys.leases(address, "renter"));
  return new Set((page?.items ?? []).filter((l) => l.status === "active").map((l) => l.worker_id));
}

/**
 * `own`: the workers are the caller's (a snapshot's list), so unknown ones are added. A
 * `worker` event may be about a rig the caller rents: it only updates a worker we know.
 */
function applyWorkers(ctx: ApplyContext, workers: readonly FleetWorker[], ts: number, own: boolean): void {
  const { queryClient, store, address } = ctx;
  for (const worker of workers) store.recordWorker(worker.worker_id, worker.hashrate, ts);
  if (!address || workers.length === 0) return;
  let unknownOwn = false;
  queryClient.setQueryData<FleetData>(keys.fleet(address), (data) => {
    if (!data) return data;
    let items = data.items;
    for (const worker of workers) {
      const known = items.some((w) => w.worker_id === worker.worker_id);
      if (known || own) items = upsertBy(items, worker, (w) => w.worker_id, false);
      else if (!rentedWorkerIds(ctx, address).has(worker.worker_id)) unknownOwn = true;
    }
    if (items === data.items) return data;
    store.recordOwnerTotal(ownerTotal(items), ts);
    return { ...data, items };
  });
  if (unknownOwn) {
    // A rig enrolled since the fleet was read: read it again.
    void queryClient.invalidateQueries({ queryKey: keys.fleet(address) });
  }
  for (const worker of workers) {
    queryClient.setQueryData<WorkerDetail>(keys.worker(address, worker.worker_id), (detail) => {
      if (!detail) return detail;
      return {
        ...detail,
        name: worker.name,
        state: worker.state,
        online: worker.online,
        hashrate: worker.hashrate,
        active_gpus: worker.active_gpus,
        gpu_model: worker.gpu_model,
        accepted_blocks: worker.accepted_blocks,
        listing_id: worker.listing_id,
        owner_view: detail.owner_view
          ? {
              ...detail.owner_view,
              last_seen: worker.last_seen,
              seconds_silent: worker.seconds_silent,
              offline: worker.offline,
              telemetry: worker.telemetry,
            }
          : detail.owner_view,
      };
    });
  }
}

/** A heartbeat's figures merged into a worker we already show (never adds one). */
function applyTelemetry(ctx: ApplyContext, update: WorkerTelemetry, ts: number): void {
  const { queryClient, store, address } = ctx;
  store.recordWorker(update.worker_id, update.hashrate, ts);
  if (!address) return;
  const figures = {
    online: update.online,
    offline: update.offline,
    last_seen: update.last_seen,
    seconds_silent: update.seconds_silent,
    hashrate: update.hashrate,
    active_gpus: update.active_gpus,
    accepted_blocks: update.accepted_blocks,
    telemetry: update.telemetry,
  };
  queryClient.setQueryData<FleetData>(keys.fleet(address), (data) => {
    if (!data || !data.items.some((w) => w.worker_id === update.worker_id)) return data;
    const items = data.items.map((w) => (w.worker_id === update.worker_id ? { ...w, ...figures } : w));
    store.recordOwnerTotal(ownerTotal(items), ts);
    return { ...data, items };
  });
  queryClient.setQueryData<WorkerDetail>(keys.worker(address, update.worker_id), (detail) => {
    if (!detail) return detail;
    return {
      ...detail,
      online: update.online,
      hashrate: update.hashrate,
      active_gpus: update.active_gpus,
      accepted_blocks: update.accepted_blocks,
      owner_view: detail.owner_view
        ? {
            ...detail.owner_view,
            last_seen: update.last_seen,
            seconds_silent: update.seconds_silent,
            offline: update.offline,
            telemetry: update.telemetry,
          }
        : detail.owner_view,
    };
  });
}

function applyLeases(ctx: ApplyContext, leases: readonly LeaseOut[]): void {
  const { queryClient, address } = ctx;
  if (!address || leases.length === 0) return;
  let settled = false;
  for (const lease of leases) {
    for (const role of ["renter", "provider"] as const) {
      const mine = role === "renter" ? lease.renter === address : lease.provider === address;
      if (!mine) continue;
      queryClient.setQueryData<Page<LeaseOut>>(keys.leases(address, role), (page) =>
        page ? { ...page, items: upsertBy(page.items, lease, (l) => l.lease_id) } : page,
      );
    }
    queryClient.setQueryData<LeaseOut>(keys.lease(address, lease.lease_id), (old) => (old ? lease : old));
    if (lease.status === "settled") settled = true;
  }
  if (settled) {
    void queryClient.invalidateQueries({ queryKey: keys.account(address) });
    void queryClient.invalidateQueries({ queryKey: keys.walletHistory(address) });
    void queryClient.invalidateQueries({ queryKey: ["private", address, "earnings"] });
  }
  void queryClient.invalidateQueries({ queryKey: keys.providerDashboard(address) });
}

function applyBlocks(ctx: ApplyContext, blocks: readonly RecentBlock[]): void {
  const { queryClient, address } = ctx;
  if (blocks.length === 0) return;
  queryClient.setQueryData<Page<RecentBlock>>(keys.recentBlocks, (page) =>
    page ? { ...page, items: mergeBlocks(page.items, blocks) } : page,
  );
  if (!address) return;
  const mine = blocks.filter((b) => b.owner === address || b.account === address);
  if (mine.length === 0) return;
  queryClient.setQueryData<Page<RecentBlock>>(keys.myBlocks(address), (page) =>
    page ? { ...page, items: mergeBlocks(page.items, mine) } : page,
  );
  void queryClient.invalidateQueries({ queryKey: keys.leaseBlocksAll(address) });
}

function applyFleet(ctx: ApplyContext, fleet: FleetFigures, ts: number): void {
  ctx.store.recordFleet(fleet, ts);
  ctx.queryClient.setQueryData<OverviewStats>(keys.overviewStats, (stats) =>
    stats
      ? {
          ...stats,
          as_of: fleet.as_of ?? stats.as_of,
          online_workers: fleet.online_workers,
          hashrate: fleet.hashrate,
          gpus: fleet.gpus,
          leased_workers: fleet.leased_workers,
          owners: fleet.owners,
        }
      : stats,
  );
}

function applyAlert(ctx: ApplyContext, event: EventOut): void {
  const { queryClient, address } = ctx;
  if (address) {
    queryClient.setQueryData<InfiniteData<Page<EventOut>>>(keys.alertEvents(address), (data) => {
      if (!data || data.pages.length === 0) return data;
      const [first, ...rest] = data.pages;
      if (!first || first.items.some((e) => e.event_id === event.event_id)) return data;
      return { ...data, pages: [{ ...first, items: [event, ...first.items] }, ...rest] };
    });
  }
  ctx.onAlert?.(event);
}

export function applyLiveMessages(ctx: ApplyContext, messages: readonly LiveMessage[]): void {
  for (const message of messages) {
    ctx.store.received += 1;
    switch (message.type) {
      case "snapshot": {
        const { workers, leases, blocks, fleet } = message.data;
        // A snapshot may come twice (asked for, and unasked locally): every step is an upsert.
        if (fleet) applyFleet(ctx, fleet, message.ts);
        applyWorkers(ctx, workers, message.ts, true);
        applyLeases(ctx, leases);
        applyBlocks(ctx, blocks);
        break;
      }
      case "worker":
        applyWorkers(ctx, [message.data], message.ts, false);
        break;
      case "telemetry":
        applyTelemetry(ctx, message.data, message.ts);
        break;
      case "lease":
        applyLeases(ctx, [message.data]);
        break;
      case "block":
        applyBlocks(ctx, [message.data]);
        break;
      case "fleet":
        applyFleet(ctx, message.data, message.ts);
        break;
      case "alert":
        applyAlert(ctx, message.data);
        break;
      case "pong":
        break;
    }
  }
  ctx.store.emit();
}
