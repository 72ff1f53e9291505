/** Data hooks: one per API read, and the writes with their cache updates. */
import {
  useInfiniteQuery,
  useMutation,
  useQuery,
  useQueryClient,
  type InfiniteData,
  type QueryKey,
} from "@tanstack/react-query";
import { useAddress, useApi } from "../app/context";
import type { FleetData } from "../live/apply";
import { toasts } from "../lib/toast";
import { idempotencyKey, type ApiClient } from "./client";
import { keys, type MarketFilters } from "./keys";
import type {
  AccountOut,
  AchievementOut,
  Activity,
  ChangeListing,
  CommandRequest,
  CommandSent,
  CreateListing,
  DashboardOut,
  DepositOut,
  DeviceOut,
  EarningsOut,
  EnrolResponse,
  Estimate,
  EventOut,
  FeedItem,
  FleetStats,
  FleetWorker,
  HashrateHistory,
  LeaseOut,
  ListingOut,
  OverviewStats,
  Page,
  PriceIndexOut,
  PriceSuggestion,
  RecentBlock,
  Block,
  ReputationOut,
  RuleCreate,
  RuleCreated,
  RuleOut,
  RulePatch,
  WorkerDetail,
} from "./types";

const MAX_FLEET_PAGES = 10;
const PAGE = 200;

/** Every page of a paged list, up to `maxPages`. */
export async function fetchAllPages<T>(
  api: ApiClient,
  path: string,
  query: Record<string, string | number | boolean | undefined> = {},
  maxPages = MAX_FLEET_PAGES,
  signal?: AbortSignal,
): Promise<{ items: T[]; truncated: boolean }> {
  const items: T[] = [];
  let cursor: string | null | undefined;
  for (let i = 0; i < maxPages; i += 1) {
    const page = await api.get<Page<T>>(path, { query: { ...query, limit: PAGE, cursor: cursor ?? undefined }, signal });
    items.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) return { items, truncated: false };
  }
  return { items, truncated: true };
}

function requireAddress(address: string | null): string {
  if (!address) throw new Error("sign in first");
  return address;
}

// -- public ------------------------------------------------------------------------------

export function useOverviewStats() {
  const api = useApi();
  return useQuery({
    queryKey: keys.overviewStats,
    queryFn: ({ signal }) => api.get<OverviewStats>("/api/overview/stats", { signal, auth: false }),
    refetchInterval: 60_000,
  });
}

export function useActivity(limit = 20) {
  const api = useApi();
  return useQuery({
    queryKey: [...keys.activity, limit],
    queryFn: ({ signal }) => api.get<Activity>("/api/overview/activity", { query: { limit }, signal, auth: false }),
    refetchInterval: 30_000,
  });
}

export function useRecentBlocks() {
  const api = useApi();
  return useQuery({
    queryKey: keys.recentBlocks,
    queryFn: ({ signal }) =>
      api.get<Page<RecentBlock>>("/api/monitoring/blocks/recent", { query: { limit: 20 }, signal, auth: false }),
    refetchInterval: 60_000,
  });
}

export function useMarketplace(filters: MarketFilters) {
  const api = useApi();
  return useInfiniteQuery({
    queryKey: keys.marketplace(filters),
    initialPageParam: null as string | null,
    queryFn: ({ pageParam, signal }) =>
      api.get<Page<ListingOut>>("/api/marketplace", {
        query: { ...filters, limit: 24, cursor: pageParam ?? undefined },
        signal,
      }),
    getNextPageParam: (last) => last.next_cursor ?? null,
    refetchInterval: 30_000,
  });
}

export function usePriceIndex(gpu: string | null, days = 7) {
  const api = useApi();
  return useQuery({
    queryKey: keys.priceIndex(gpu, days),
    queryFn: ({ signal }) =>
      api.get<PriceIndexOut>("/api/marketplace/price-index", { query: { gpu: gpu ?? undefined, days }, signal }),
    refetchInterval: 120_000,
  });
}

export type EstimateParams =
  | { listing_id: string; duration_sec: number }
  | { hashrate: number; duration_sec: number; gpu?: string };

export function useEstimate(params: EstimateParams | null) {
  const api = useApi();
  const query = params ? (params as Record<string, string | number | undefined>) : {};
  return useQuery({
    queryKey: keys.estimate(query),
    queryFn: ({ signal }) => api.get<Estimate>("/api/marketplace/estimate", { query, signal }),
    enabled: params !== null,
    placeholderData: (previous) => previous,
    meta: { silent: true },
  });
}

export function useReputation(workerId: string | null) {
  const api = useApi();
  return useQuery({
    queryKey: keys.reputation(workerId ?? ""),
    queryFn: ({ signal }) => api.get<ReputationOut>(`/api/workers/${encodeURIComponent(workerId ?? "")}/reputation`, { signal }),
    enabled: workerId !== null,
  });
}

// -- signed in ---------------------------------------------------------------------------

export function useAccount() {
  const api = useApi();
  const address = useAddress();
  return useQuery({
    queryKey: keys.account(address ?? ""),
    queryFn: ({ signal }) => api.get<AccountOut>("/api/accounts/me", { signal }),
    enabled: address !== null,
  });
}

function usePaged<T>(key: QueryKey, path: string, enabled: boolean, limit = 25) {
  const api = useApi();
  return useInfiniteQuery({
    queryKey: key,
    initialPageParam: null as string | null,
    queryFn: ({ pageParam, signal }) =>
      api.get<Page<T>>(path, { query: { limit, cursor: pageParam ?? undefined }, signal }),
    getNextPageParam: (last) => last.next_cursor ?? null,
    enabled,
  });
}

export function useWalletHistory() {
  const address = useAddress();
  return usePaged<FeedItem>(keys.walletHistory(address ?? ""), "/api/wallet/history", address !== null);
}

export function useAchievements() {
  const api = useApi();
  const address = useAddress();
  return useQuery({
    queryKey: keys.achievements(address ?? ""),
    queryFn: ({ signal }) => api.get<AchievementOut[]>("/api/wallet/achievements", { signal }),
    enabled: address !== null,
  });
}

export function useDevices() {
  const api = useApi();
  const address = useAddress();
  return useQuery({
    queryKey: keys.devices(address ?? ""),
    queryFn: ({ signal }) => fetchAllPages<DeviceOut>(api, "/api/devices", {}, MAX_FLEET_PAGES, signal),
    enabled: address !== null,
  });
}

export function useFleet() {
  const api = useApi();
  const address = useAddress();
  return useQuery({
    queryKey: keys.fleet(address ?? ""),
    queryFn: ({ signal }): Promise<FleetData> =>
      fetchAllPages<FleetWorker>(api, "/api/monitoring/fleet", {}, MAX_FLEET_PAGES, signal),
    enabled: address !== null,
    // The live channel keeps it fresh; poll slowly in case it is down.
    refetchInterval: 60_000,
  });
}

export function useFleetStats() {
  const api = useApi();
  const address = useAddress();
  return useQuery({
    queryKey: keys.fleetStats(address ?? ""),
    queryFn: ({ signal }) => api.get<FleetStats>("/api/monitoring/stats", { signal }),
    enabled: address !== null,
    refetchInterval: 30_000,
  });
}

/** Resolution that keeps a window to a few hundred points. */
export function resolutionFor(windowSec: number): number {
  if (windowSec <= 3600) return 60;
  if (windowSec <= 6 * 3600) return 120;
  if (windowSec <= 86_400) return 300;
  if (windowSec <= 7 * 86_400) return 1800;
  return 3600;
}

export function useHashrateHistory(workerId: string | null, windowSec: number) {
  const api = useApi();
  const address = useAddress();
  return useQuery({
    queryKey: keys.history(address ?? "", workerId, windowSec),
    queryFn: ({ signal }) => {
      const end = Math.floor(Date.now() / 1000);
      return api.get<HashrateHistory>("/api/monitoring/hashrate-history", {
        query: {
          worker_id: workerId ?? undefined,
          start: end - windowSec,
          end,
          resolution: resolutionFor(windowSec),
        },
        signal,
      });
    },
    enabled: address !== null,
    refetchInterval: 60_000,
  });
}

export function useMyBlocks() {
  const api = useApi();
  const address = useAddress();
  return useQuery({
    queryKey: keys.myBlocks(address ?? ""),
    queryFn: ({ signal }) =>
      api.get<Page<RecentBlock>>("/api/monitoring/blocks/recent", { query: { mine: true, limit: 100 }, signal }),
    enabled: address !== null,
    refetchInterval: 60_000,
  });
}

export function useLeases(role: "renter" | "provider") {
  const api = useApi();
  const address = useAddress();
  return useQuery({
    queryKey: keys.leases(address ?? "", role),
    queryFn: ({ signal }) => api.get<Page<LeaseOut>>("/api/leases", { query: { role, limit: 100 }, signal }),
    enabled: address !== null,
    refetchInterval: 30_000,
  });
}

export function useLeaseBlocks(leaseId: string | null) {
  const api = useApi();
  const address = useAddress();
  return useQuery({
    queryKey: keys.leaseBlocks(address ?? "", leaseId ?? ""),
    queryFn: ({ signal }) =>
      api.get<Page<Block>>(`/api/leases/${encodeURIComponent(leaseId ?? "")}/blocks`, { query: { limit: 50 }, signal }),
    enabled: address !== null && leaseId !== null,
  });
}

export function useMyListings() {
  const api = useApi();
  const address = useAddress();
  return useQuery({
    queryKey: keys.listings(address ?? ""),
    queryFn: ({ signal }) => api.get<Page<ListingOut>>("/api/listings", { query: { limit: 100 }, signal }),
    enabled: address !== null,
  });
}

export function useWorker(workerId: string) {
  const api = useApi();
  const address = useAddress();
  return useQuery({
    queryKey: keys.worker(address ?? "", workerId),
    queryFn: ({ signal }) => api.get<WorkerDetail>(`/api/workers/${encodeURIComponent(workerId)}`, { signal }),
    enabled: address !== null,
    refetchInterval: 30_000,
  });
}

export function usePriceSuggestion(workerId: string | null, hashrate?: number) {
  const api = useApi();
  const address = useAddress();
  return useQuery({
    queryKey: [...keys.suggestion(address ?? "", workerId ?? ""), hashrate ?? null],
    queryFn: ({ signal }) =>
      api.get<PriceSuggestion>(`/api/workers/${encodeURIComponent(workerId ?? "")}/pricing/suggest`, {
        query: { hashrate },
        signal,
      }),
    enabled: address !== null && workerId !== null,
    meta: { silent: true },
    retry: false,
  });
}

export function useProviderDashboard() {
  const api = useApi();
  const address = useAddress();
  return useQuery({
    queryKey: keys.providerDashboard(address ?? ""),
    queryFn: ({ signal }) => api.get<DashboardOut>("/api/provider/dashboard", { signal }),
    enabled: address !== null,
    refetchInterval: 60_000,
  });
}

export function useEarnings(days = 30) {
  const api = useApi();
  const address = useAddress();
  return useQuery({
    queryKey: keys.earnings(address ?? "", days),
    queryFn: ({ signal }) => api.get<EarningsOut>("/api/provider/earnings", { query: { days }, signal }),
    enabled: address !== null,
  });
}

export function useAlertRules() {
  const api = useApi();
  const address = useAddress();
  return useQuery({
    queryKey: keys.alertRules(address ?? ""),
    queryFn: ({ signal }) => fetchAllPages<RuleOut>(api, "/api/alerts/rules", {}, 5, signal),
    enabled: address !== null,
  });
}

export function useAlertEvents() {
  const address = useAddress();
  return usePaged<EventOut>(keys.alertEvents(address ?? ""), "/api/alerts/events", address !== null, 50);
}

// -- writes ------------------------------------------------------------------------------

export function useDeposit() {
  const api = useApi();
  const address = useAddress();
  const queryClient = useQueryClient();
  return useMutation({
    meta: { errorTitle: "Deposit failed" },
    mutationFn: (amount: number) =>
      api.post<DepositOut>("/api/accounts/me/deposit", { amount }, { headers: { "Idempotency-Key": idempotencyKey() } }),
    onSuccess: (result) => {
      const a = requireAddress(address);
      queryClient.setQueryData(keys.account(a), result.account);
      void queryClient.invalidateQueries({ queryKey: keys.walletHistory(a) });
      void queryClient.invalidateQueries({ queryKey: keys.achievements(a) });
    },
  });
}

export interface RentInput {
  listingId?: string;
  criteria?: { gpu_model?: string; min_hashrate?: number; max_price_per_hour?: number };
  durationSec: number;
  /** One key per intended rental, so a retry never rents twice. */
  key: string;
}

type MarketData = InfiniteData<Page<ListingOut>>;

export function useRent() {
  const api = useApi();
  const address = useAddress();
  const queryClient = useQueryClient();
  return useMutation({
    meta: { errorTitle: "Could not rent" },
    mutationFn: (input: RentInput) =>
      api.post<LeaseOut>(
        "/api/leases",
        input.listingId
          ? { listing_id: input.listingId, duration_sec: input.durationSec }
          : { criteria: input.criteria ?? {}, duration_sec: input.durationSec },
        { headers: { "Idempotency-Key": input.key } },
      ),
    // Optimistic: the rented listing leaves the market at once (put back if it fails).
    onMutate: async (input) => {
      if (!input.listingId) return { previous: [] as [QueryKey, MarketData | undefined][] };
      await queryClient.cancelQueries({ queryKey: keys.marketplaceAll });
      const previous = queryClient.getQueriesData<MarketData>({ queryKey: keys.marketplaceAll });
      queryClient.setQueriesData<MarketData>({ queryKey: keys.marketplaceAll }, (data) =>
        data
          ? {
              ...data,
              pages: data.pages.map((p) => ({ ...p, items: p.items.filter((l) => l.listing_id !== input.listingId) })),
            }
          : data,
      );
      return { previous };
    },
    onError: (_error, _input, context) => {
      for (const [key, data] of context?.previous ?? []) queryClient.setQueryData(key, data);
    },
    onSuccess: (lease) => {
      const a = requireAddress(address);
      queryClient.setQueryData<Page<LeaseOut>>(keys.leases(a, "renter"), (page) =>
        page ? { ...page, items: [lease, ...page.items.filter((l) => l.lease_id !== lease.lease_id)] } : page,
      );
      queryClient.setQueryData(keys.lease(a, lease.lease_id), lease);
      void queryClient.invalidateQueries({ queryKey: keys.account(a) });
      void queryClient.invalidateQueries({ queryKey: keys.walletHistory(a) });
    },
    onSettled: () => {
      void queryClient.invalidateQueries({ queryKey: keys.marketplaceAll });
      void queryClient.invalidateQueries({ queryKey: ["public", "price-index"] });
    },
  });
}

export function useStopLease() {
  const api = useApi();
  const address = useAddress();
  const queryClient = useQueryClient();
  return useMutation({
    meta: { errorTitle: "Could not stop the lease" },
    mutationFn: (leaseId: string) => api.post<LeaseOut>(`/api/leases/${encodeURIComponent(leaseId)}/stop`),
    onMutate: async (leaseId) => {
      const a = requireAddress(address);
      const key = keys.leases(a, "renter");
      await queryClient.cancelQueries({ queryKey: key });
      const previous = queryClient.getQueryData<Page<LeaseOut>>(key);
      const now = Math.floor(Date.now() / 1000);
      queryClient.setQueryData<Page<LeaseOut>>(key, (page) =>
        page
          ? {
              ...page,
              items: page.items.map((l) => (l.lease_id === leaseId ? { ...l, stopped_at: now, ends_at: Math.min(l.ends_at, now) } : l)),
            }
          : page,
      );
      return { previous, key };
    },
    onError: (_error, _id, context) => {
      if (context?.previous) queryClient.setQueryData(context.key, context.previous);
    },
    onSuccess: (lease) => {
      const a = requireAddress(address);
      queryClient.setQueryData<Page<LeaseOut>>(keys.leases(a, "renter"), (page) =>
        page ? { ...page, items: page.items.map((l) => (l.lease_id === lease.lease_id ? lease : l)) } : page,
      );
      toasts.success("Lease stopped", "It settles on the next settlement run; unused escrow is refunded.");
    },
  });
}

export function useEnrolDevice() {
  const api = useApi();
  const address = useAddress();
  const queryClient = useQueryClient();
  return useMutation({
    meta: { errorTitle: "Enrolment failed" },
    mutationFn: (name: string) => api.post<EnrolResponse>("/api/devices", { name }),
    onSuccess: () => {
      const a = requireAddress(address);
      void queryClient.invalidateQueries({ queryKey: keys.devices(a) });
      void queryClient.invalidateQueries({ queryKey: keys.fleet(a) });
      void queryClient.invalidateQueries({ queryKey: keys.providerDashboard(a) });
    },
  });
}

export function useRevokeDevice() {
  const api = useApi();
  const address = useAddress();
  const queryClient = useQueryClient();
  return useMutation({
    meta: { errorTitle: "Could not revoke the rig" },
    mutationFn: (workerId: string) => api.delete<void>(`/api/devices/${encodeURIComponent(workerId)}`),
    onMutate: async (workerId) => {
      const a = requireAddress(address);
      const key = keys.devices(a);
      await queryClient.cancelQueries({ queryKey: key });
      const previous = queryClient.getQueryData<{ items: DeviceOut[]; truncated: boolean }>(key);
      queryClient.setQueryData<{ items: DeviceOut[]; truncated: boolean }>(key, (data) =>
        data ? { ...data, items: data.items.filter((d) => d.worker_id !== workerId) } : data,
      );
      return { previous, key };
    },
    onError: (_e, _id, context) => {
      if (context?.previous) queryClient.setQueryData(context.key, context.previous);
    },
    onSettled: () => {
      const a = requireAddress(address);
      void queryClient.invalidateQueries({ queryKey: keys.devices(a) });
      void queryClient.invalidateQueries({ queryKey: keys.fleet(a) });
      void queryClient.invalidateQueries({ queryKey: keys.providerDashboard(a) });
    },
  });
}

function invalidateListings(queryClient: ReturnType<typeof useQueryClient>, address: string | null) {
  const a = requireAddress(address);
  void queryClient.invalidateQueries({ queryKey: keys.listings(a) });
  void queryClient.invalidateQueries({ queryKey: keys.devices(a) });
  void queryClient.invalidateQueries({ queryKey: keys.providerDashboard(a) });
  void queryClient.invalidateQueries({ queryKey: keys.marketplaceAll });
}

export function useCreateListing() {
  const api = useApi();
  const address = useAddress();
  const queryClient = useQueryClient();
  return useMutation({
    meta: { errorTitle: "Could not list the rig" },
    mutationFn: (body: CreateListing) => api.post<ListingOut>("/api/listings", body),
    onSuccess: () => invalidateListings(queryClient, address),
  });
}

export function useChangeListing() {
  const api = useApi();
  const address = useAddress();
  const queryClient = useQueryClient();
  return useMutation({
    meta: { errorTitle: "Could not change the listing" },
    mutationFn: ({ listing, change }: { listing: ListingOut; change: ChangeListing }) =>
      api.patch<ListingOut>(`/api/listings/${encodeURIComponent(listing.listing_id)}`, change, {
        query: { version: listing.version },
      }),
    // Optimistic: a status toggle or new price shows at once.
    onMutate: async ({ listing, change }) => {
      const a = requireAddress(address);
      const key = keys.listings(a);
      await queryClient.cancelQueries({ queryKey: key });
      const previous = queryClient.getQueryData<Page<ListingOut>>(key);
      const patch = Object.fromEntries(Object.entries(change).filter(([, v]) => v !== undefined && v !== null));
      queryClient.setQueryData<Page<ListingOut>>(key, (page) =>
        page
          ? { ...page, items: page.items.map((l) => (l.listing_id === listing.listing_id ? { ...l, ...patch } : l)) }
          : page,
      );
      return { previous, key };
    },
    onError: (_e, _v, context) => {
      if (context?.previous) queryClient.setQueryData(context.key, context.previous);
    },
    onSettled: () => invalidateListings(queryClient, address),
  });
}

export function useDelist() {
  const api = useApi();
  const address = useAddress();
  const queryClient = useQueryClient();
  return useMutation({
    meta: { errorTitle: "Could not delist" },
    mutationFn: (listingId: string) => api.delete<ListingOut>(`/api/listings/${encodeURIComponent(listingId)}`),
    onSettled: () => invalidateListings(queryClient, address),
  });
}

export function useSendCommand(workerId: string) {
  const api = useApi();
  return useMutation({
    meta: { errorTitle: "Command not sent" },
    mutationFn: (body: CommandRequest) =>
      api.post<CommandSent>(`/api/workers/${encodeURIComponent(workerId)}/commands`, body),
    onSuccess: (sent) => toasts.success(`“${sent.action}” sent`, "The rig's next status report will show the result."),
  });
}

export function useCreateRule() {
  const api = useApi();
  const address = useAddress();
  const queryClient = useQueryClient();
  return useMutation({
    meta: { errorTitle: "Could not create the rule" },
    mutationFn: (body: RuleCreate) => api.post<RuleCreated>("/api/alerts/rules", body),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: keys.alertRules(requireAddress(address)) }),
  });
}

type RulesData = { items: RuleOut[]; truncated: boolean };

export function useUpdateRule() {
  const api = useApi();
  const address = useAddress();
  const queryClient = useQueryClient();
  return useMutation({
    meta: { errorTitle: "Could not change the rule" },
    mutationFn: ({ ruleId, patch }: { ruleId: string; patch: RulePatch }) =>
      api.patch<RuleOut>(`/api/alerts/rules/${encodeURIComponent(ruleId)}`, patch),
    onMutate: async ({ ruleId, patch }) => {
      const key = keys.alertRules(requireAddress(address));
      await queryClient.cancelQueries({ queryKey: key });
      const previous = queryClient.getQueryData<RulesData>(key);
      // Channels come back as hints only: they show once the API has answered.
      const { channels: _written, ...shown } = patch;
      queryClient.setQueryData<RulesData>(key, (data) =>
        data ? { ...data, items: data.items.map((r) => (r.rule_id === ruleId ? ({ ...r, ...shown } as RuleOut) : r)) } : data,
      );
      return { previous, key };
    },
    onError: (_e, _v, context) => {
      if (context?.previous) queryClient.setQueryData(context.key, context.previous);
    },
    onSettled: () => void queryClient.invalidateQueries({ queryKey: keys.alertRules(requireAddress(address)) }),
  });
}

export function useDeleteRule() {
  const api = useApi();
  const address = useAddress();
  const queryClient = useQueryClient();
  return useMutation({
    meta: { errorTitle: "Could not delete the rule" },
    mutationFn: (ruleId: string) => api.delete<void>(`/api/alerts/rules/${encodeURIComponent(ruleId)}`),
    onMutate: async (ruleId) => {
      const key = keys.alertRules(requireAddress(address));
      await queryClient.cancelQueries({ queryKey: key });
      const previous = queryClient.getQueryData<RulesData>(key);
      queryClient.setQueryData<RulesData>(key, (data) =>
        data ? { ...data, items: data.items.filter((r) => r.rule_id !== ruleId) } : data,
      );
      return { previous, key };
    },
    onError: (_e, _v, context) => {
      if (context?.previous) queryClient.setQueryData(context.key, context.previous);
    },
    onSettled: () => void queryClient.invalidateQueries({ queryKey: keys.alertRules(requireAddress(address)) }),
  });
}
