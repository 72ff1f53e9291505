/** Bodies shaped like the API's, for tests. */
import type { FleetWorker, LeaseOut, ListingOut, RecentBlock } from "../api/types";

export const ME = "0x1111111111111111111111111111111111111111";
export const OTHER = "0x2222222222222222222222222222222222222222";

export function worker(overrides: Partial<FleetWorker> = {}): FleetWorker {
  return {
    worker_id: "rig-1",
    name: "garage",
    state: "AVAILABLE",
    online: true,
    offline: false,
    last_seen: 1_700_000_000,
    seconds_silent: 3,
    hashrate: 1500,
    active_gpus: 1,
    gpu_model: "RTX 4090",
    gpus: [{ index: 0, name: "RTX 4090", memory_gb: 24, bus_id: 1 }],
    telemetry: [{ index: 0, hashrate: 1500, temperature_c: 60, fan_pct: 40, power_w: 300 }],
    accepted_blocks: 0,
    listing_id: null,
    lease_id: null,
    ...overrides,
  };
}

export function lease(overrides: Partial<LeaseOut> = {}): LeaseOut {
  return {
    lease_id: "lease-1",
    listing_id: "listing-1",
    worker_id: "rig-9",
    provider: OTHER,
    renter: ME,
    gpu_model: "RTX 4090",
    status: "active",
    prefix: "0123456789abcdef",
    share_pattern: "XEN",
    measured_by: "shares",
    price_per_hour: 500_000,
    advertised_hashrate: 2000,
    delivered_hashrate: 0,
    fee_bp: 500,
    duration_sec: 3600,
    created_at: 1_700_000_000,
    ends_at: 1_700_003_600,
    stopped_at: null,
    settled_at: null,
    max_cost: 500_000,
    escrow: 500_000,
    shares: 0,
    blocks: 0,
    payout: 0,
    fee: 0,
    refund: 0,
    ...overrides,
  };
}

export function listing(overrides: Partial<ListingOut> = {}): ListingOut {
  return {
    listing_id: "listing-1",
    worker_id: "rig-9",
    provider: OTHER,
    gpu_model: "RTX 4090",
    measured_by: "shares",
    hourly_uncertainty: null,
    price_per_hour: 500_000,
    advertised_hashrate: 2000,
    price_per_khs_hour: 250_000,
    min_duration_sec: 600,
    max_duration_sec: 86_400,
    status: "open",
    lease_id: null,
    after_lease: null,
    reputation_score: 80,
    delivery_ratio: 0.97,
    online: true,
    created_at: 1_700_000_000,
    updated_at: 1_700_000_000,
    version: 1,
    ...overrides,
  };
}

export function block(overrides: Partial<RecentBlock> = {}): RecentBlock {
  return {
    hash: "hash-1",
    worker_id: "rig-9",
    owner: OTHER,
    account: ME,
    kind: "normal",
    difficulty: 8,
    found_at: 1_700_000_100,
    recorded_at: 1_700_000_101,
    network_status: "unconfirmed",
    ...overrides,
  };
}
