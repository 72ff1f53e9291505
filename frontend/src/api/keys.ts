/**
 * Query keys. Public data under "public"; anything read with the session under
 * ["private", address, …] so signing out (or in as someone else) drops it in one call.
 */
export interface MarketFilters {
  gpu?: string;
  min_hashrate?: number;
  max_price?: number;
  sort?: "price_per_hs" | "verified_value";
}

export const keys = {
  overviewStats: ["public", "overview", "stats"] as const,
  activity: ["public", "overview", "activity"] as const,
  recentBlocks: ["public", "blocks", "recent"] as const,
  marketplace: (filters: MarketFilters) => ["public", "marketplace", filters] as const,
  marketplaceAll: ["public", "marketplace"] as const,
  priceIndex: (gpu: string | null, days: number) => ["public", "price-index", gpu, days] as const,
  estimate: (params: Record<string, string | number | undefined>) => ["public", "estimate", params] as const,
  reputation: (workerId: string) => ["public", "reputation", workerId] as const,
  gpuModels: ["public", "insights", "gpu-models"] as const,

  private: (address: string) => ["private", address] as const,
  account: (a: string) => ["private", a, "account"] as const,
  ledger: (a: string) => ["private", a, "ledger"] as const,
  walletHistory: (a: string) => ["private", a, "wallet-history"] as const,
  achievements: (a: string) => ["private", a, "achievements"] as const,
  withdrawals: (a: string) => ["private", a, "withdrawals"] as const,
  hotWallet: (a: string) => ["private", a, "hot-wallet"] as const,
  /** The admins' queue of withdrawals awaiting approval (read with an admin's session). */
  withdrawalQueue: (a: string) => ["private", a, "withdrawal-queue"] as const,
  depositAddress: (a: string) => ["private", a, "deposit-address"] as const,
  chainDeposits: (a: string) => ["private", a, "chain-deposits"] as const,
  devices: (a: string) => ["private", a, "devices"] as const,
  fleet: (a: string) => ["private", a, "fleet"] as const,
  fleetStats: (a: string) => ["private", a, "fleet-stats"] as const,
  history: (a: string, workerId: string | null, windowSec: number) =>
    ["private", a, "history", workerId, windowSec] as const,
  historyAll: (a: string) => ["private", a, "history"] as const,
  myBlocks: (a: string) => ["private", a, "blocks-mine"] as const,
  leases: (a: string, role: "renter" | "provider") => ["private", a, "leases", role] as const,
  leasesAll: (a: string) => ["private", a, "leases"] as const,
  lease: (a: string, id: string) => ["private", a, "lease", id] as const,
  leaseBlocks: (a: string, id: string) => ["private", a, "lease-blocks", id] as const,
  leaseBlocksAll: (a: string) => ["private", a, "lease-blocks"] as const,
  listings: (a: string) => ["private", a, "listings"] as const,
  worker: (a: string, id: string) => ["private", a, "worker", id] as const,
  suggestion: (a: string, id: string) => ["private", a, "suggest", id] as const,
  providerDashboard: (a: string) => ["private", a, "provider-dashboard"] as const,
  earnings: (a: string, days: number) => ["private", a, "earnings", days] as const,
  alertRules: (a: string) => ["private", a, "alert-rules"] as const,
  alertEvents: (a: string) => ["private", a, "alert-events"] as const,
  apiKeys: (a: string) => ["private", a, "api-keys"] as const,
  settings: (a: string) => ["private", a, "settings"] as const,
  anomalies: (a: string) => ["private", a, "anomalies"] as const,
  recommendations: (a: string) => ["private", a, "recommendations"] as const,
  profit: (a: string, days: number) => ["private", a, "profit", days] as const,
  profitAll: (a: string) => ["private", a, "profit"] as const,
  /** Under profitAll: a new electricity price reads it again too. */
  workerProfit: (a: string, id: string, days: number) => ["private", a, "profit", "worker", id, days] as const,
  workerAnomalies: (a: string, id: string) => ["private", a, "worker-anomalies", id] as const,
  workerRecommendations: (a: string, id: string) => ["private", a, "worker-recommendations", id] as const,
};
