/** Bodies shaped like the API's, for tests. */
import type {
  ChainDepositOut,
  DepositAddressOut,
  FiguresOut,
  FindingOut,
  FleetProfitOut,
  FleetWorker,
  GpuModelOut,
  HotWalletOut,
  LeaseOut,
  ListingOut,
  ProfitDayOut,
  RecentBlock,
  RecommendationOut,
  RigProfitOut,
  RuleOut,
  WithdrawalOut,
} from "../api/types";

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

export function finding(overrides: Partial<FindingOut> = {}): FindingOut {
  return {
    worker_id: "rig-1",
    reason: "thermal_throttling",
    gpu: 0,
    basis: "own",
    message: "GPU 0 throttles: 91 °C where its heat model expects 78 °C, and its work fell to 81%",
    score: 6.2,
    evidence: { temperature_c: 91, expected_temperature_c: 78, work_ratio: 0.81 },
    opened_at: 1_700_000_000,
    last_seen: 1_700_000_600,
    closed_at: null,
    open: true,
    ...overrides,
  };
}

export function recommendation(overrides: Partial<RecommendationOut> = {}): RecommendationOut {
  return {
    kind: "list_idle_rig",
    worker_id: "rig-1",
    gpu: null,
    title: "List garage: it is idle",
    detail: "Rigs like it rent 60% of the time at the market's median price.",
    gain_per_day: 1_250_000,
    evidence: { expected_hashrate: 1500 },
    ...overrides,
  };
}

export function gpuModel(overrides: Partial<GpuModelOut> = {}): GpuModelOut {
  return {
    gpu_model: "NVIDIA GeForce RTX 4090",
    rigs: 5,
    gpus: 12,
    work_median: 19_600,
    hashrate_median: 2450,
    efficiency_median: 68.5,
    power_median_w: 286,
    temperature_median_c: 66,
    computed_at: 1_700_000_000,
    ...overrides,
  };
}

export function figures(overrides: Partial<FiguresOut> = {}): FiguresOut {
  return {
    energy_kwh: 7.2,
    power_cost: 1_080_000,
    revenue: 4_000_000,
    leases: 2,
    net: 2_920_000,
    metered_seconds: 86_400,
    reported_seconds: 86_400,
    power_complete: true,
    ...overrides,
  };
}

export function profitDay(day: string, overrides: Partial<FiguresOut> = {}): ProfitDayOut {
  return { ...figures(overrides), day };
}

export function rigProfit(overrides: Partial<RigProfitOut> = {}): RigProfitOut {
  return {
    worker_id: "rig-1",
    name: "garage",
    gpu_model: "RTX 4090",
    days: [profitDay("2023-11-14")],
    totals: figures(),
    complete: true,
    ...overrides,
  };
}

export function fleetProfit(overrides: Partial<FleetProfitOut> = {}): FleetProfitOut {
  return {
    since: 1_699_920_000,
    until: 1_700_000_000,
    price: { electricity_price_per_kwh: "0.15", currency: "USD" },
    days: [profitDay("2023-11-13", { net: -200_000 }), profitDay("2023-11-14")],
    rigs: [rigProfit()],
    totals: figures(),
    more_rigs: false,
    complete: true,
    ...overrides,
  };
}

export function rule(overrides: Partial<RuleOut> = {}): RuleOut {
  return {
    rule_id: "rule-1",
    name: "Rigs down",
    kind: "offline",
    threshold: 5,
    worker_id: null,
    webhook_url: null,
    cooldown_seconds: 900,
    enabled: true,
    created_at: 1_700_000_000,
    updated_at: 1_700_000_000,
    channels: {},
    quiet_hours: null,
    max_per_hour: null,
    action: null,
    max_actions_per_day: 3,
    ...overrides,
  };
}

export const DEPOSIT_ADDRESS = "0x3333333333333333333333333333333333333333";
export const TOKEN = "0x4444444444444444444444444444444444444444";

export function depositAddress(overrides: Partial<DepositAddressOut> = {}): DepositAddressOut {
  return {
    address: ME,
    deposit_address: DEPOSIT_ADDRESS,
    index: 7,
    chain_id: 31337,
    token_address: TOKEN,
    token_decimals: 6,
    confirmations: 3,
    micro_per_token: 1_000_000,
    ...overrides,
  };
}

/** A 25-token transfer (6 decimals) pending with 2 of 3 confirmations. */
export function chainDeposit(overrides: Partial<ChainDepositOut> = {}): ChainDepositOut {
  const tx = overrides.tx_hash ?? `0x${"ab".repeat(32)}`;
  return {
    deposit_id: `${tx}:0`,
    deposit_address: DEPOSIT_ADDRESS,
    from_address: OTHER,
    tx_hash: tx,
    log_index: 0,
    block_number: 100,
    block_hash: `0x${"cd".repeat(32)}`,
    token_units: "25000000",
    amount: 25_000_000,
    status: "pending",
    confirmations: 2,
    required_confirmations: 3,
    seen_at: 1_700_000_000,
    credited_at: null,
    reason: null,
    ...overrides,
  };
}

export const HOT_WALLET = "0x5555555555555555555555555555555555555555";

/** A 25-credit withdrawal on chain, sent with 2 of 12 confirmations (6-decimal token). */
export function withdrawal(overrides: Partial<WithdrawalOut> = {}): WithdrawalOut {
  return {
    withdrawal_id: "w-1",
    address: ME,
    amount: 25_000_000,
    status: "sent",
    requested_at: 1_700_000_000,
    decided_at: 1_700_000_000,
    decided_by: null,
    approval: "auto",
    chain_id: 31337,
    token_address: TOKEN,
    token_units: "25000000",
    hot_wallet: HOT_WALLET,
    nonce: 4,
    tx_hash: `0x${"ef".repeat(32)}`,
    tx_hashes: [`0x${"ef".repeat(32)}`],
    sent_at: 1_700_000_030,
    block_number: 120,
    confirmations: 2,
    required_confirmations: 12,
    settled_at: null,
    failure: null,
    ...overrides,
  };
}

/** A withdrawal paid by hand (no on-chain fields), awaiting an admin. */
export function manualWithdrawal(overrides: Partial<WithdrawalOut> = {}): WithdrawalOut {
  return {
    withdrawal_id: "w-0",
    address: ME,
    amount: 5_000_000,
    status: "pending",
    requested_at: 1_699_999_000,
    decided_at: null,
    decided_by: null,
    confirmations: 0,
    ...overrides,
  };
}

/** The hot wallet in step: 5 nonces used, 1,000 tokens and 0.5 ETH, 30 of 10,000 credits paid today. */
export function hotWallet(overrides: Partial<HotWalletOut> = {}): HotWalletOut {
  return {
    chain_id: 31337,
    address: HOT_WALLET,
    token_address: TOKEN,
    next_nonce: 5,
    chain_nonce: 5,
    token_units: "1000000000",
    gas_wei: "500000000000000000",
    head: 140,
    checked_at: 1_700_000_100,
    alarms: [],
    outflow_today: 30_000_000,
    payouts_today: 2,
    daily_limit: 10_000_000_000,
    auto_max: 100_000_000,
    min_balance: 1_000_000_000,
    min_gas_wei: "10000000000000000",
    ...overrides,
  };
}
