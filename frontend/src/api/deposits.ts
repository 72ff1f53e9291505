/** Stablecoin deposits on chain (issue #24): the account's own deposit address and the
 * transfers the platform has seen to it. Asked only where config.json says the deployment
 * takes them, so the API's 404 for "deposits off" is never met on the way. */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useAddress, useApi, useConfig } from "../app/context";
import { keys } from "./keys";
import { fetchAllPages } from "./queries";
import type { ChainDepositOut, DepositAddressOut } from "./types";

/** How often the list is read again while a deposit waits for its confirmations. */
export const PENDING_REFRESH_MS = 5_000;
const MAX_DEPOSIT_PAGES = 5;

export interface ChainDeposits {
  /** Newest first (the API pages them in transaction-hash order). */
  items: ChainDepositOut[];
  truncated: boolean;
}

export const hasPending = (data: ChainDeposits | undefined): boolean =>
  data?.items.some((d) => d.status === "pending") ?? false;

/** The signed-in account's deposit address (given at its first request, its own ever after). */
export function useDepositAddress() {
  const api = useApi();
  const address = useAddress();
  const { deposits } = useConfig();
  return useQuery({
    queryKey: keys.depositAddress(address ?? ""),
    queryFn: ({ signal }) => api.get<DepositAddressOut>("/api/accounts/me/deposit-address", { signal }),
    enabled: address !== null && deposits,
    staleTime: Infinity,
    // The card says what went wrong itself; a toast would repeat it.
    meta: { silent: true },
  });
}

/** The account's deposits on chain, read every few seconds while any is pending; a newly
 * credited one reads the balance and the ledger again. */
export function useChainDeposits(enabled: boolean) {
  const api = useApi();
  const address = useAddress();
  const queryClient = useQueryClient();
  const key = keys.chainDeposits(address ?? "");
  return useQuery({
    queryKey: key,
    queryFn: async ({ signal }): Promise<ChainDeposits> => {
      const before = queryClient.getQueryData<ChainDeposits>(key);
      const page = await fetchAllPages<ChainDepositOut>(api, "/api/accounts/me/deposits", {}, MAX_DEPOSIT_PAGES, signal);
      const items = [...page.items].sort((a, b) => b.seen_at - a.seen_at || a.deposit_id.localeCompare(b.deposit_id));
      if (before && address && newlyCredited(before.items, items)) {
        void queryClient.invalidateQueries({ queryKey: keys.account(address) });
        void queryClient.invalidateQueries({ queryKey: keys.walletHistory(address) });
        void queryClient.invalidateQueries({ queryKey: keys.achievements(address) });
      }
      return { items, truncated: page.truncated };
    },
    enabled: address !== null && enabled,
    refetchInterval: (query) => (hasPending(query.state.data) ? PENDING_REFRESH_MS : false),
    meta: { silent: true },
  });
}

function newlyCredited(before: ChainDepositOut[], after: ChainDepositOut[]): boolean {
  const credited = new Set(before.filter((d) => d.status === "credited").map((d) => d.deposit_id));
  return after.some((d) => d.status === "credited" && !credited.has(d.deposit_id));
}
