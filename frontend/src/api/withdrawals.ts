/** Money out: the withdraw request, the account's withdrawals (read again every few seconds
 * while the payouts job is paying one on chain, issue #24) and, for an admin, the hot wallet
 * that pays them. */
import { useInfiniteQuery, useMutation, useQuery, useQueryClient, type InfiniteData } from "@tanstack/react-query";
import { useAddress, useApi, useConfig, useSession } from "../app/context";
import { isInFlight } from "../lib/withdrawals";
import { ApiError, idempotencyKey } from "./client";
import { keys } from "./keys";
import type { HotWalletOut, Page, WithdrawalOut, WithdrawalReceipt } from "./types";

/** How often the list is read again while a withdrawal is queued, signing or sent. */
export const IN_FLIGHT_REFRESH_MS = 5_000;
/** The payouts job looks at the hot wallet about once a minute. */
export const HOT_WALLET_REFRESH_MS = 60_000;
const PAGE_SIZE = 25;

type Pages = InfiniteData<Page<WithdrawalOut>, string | null>;

const items = (data: Pick<Pages, "pages"> | undefined): WithdrawalOut[] => data?.pages.flatMap((p) => p.items) ?? [];

export const hasInFlight = (data: Pick<Pages, "pages"> | undefined): boolean => items(data).some((w) => isInFlight(w.status));

/** The account's withdrawals, newest first. While one is in flight the list is read again
 * every few seconds; one that leaves flight (paid, or failed and returned) reads the
 * balance and the ledger again. */
export function useWithdrawals() {
  const api = useApi();
  const address = useAddress();
  const queryClient = useQueryClient();
  const key = keys.withdrawals(address ?? "");
  return useInfiniteQuery({
    queryKey: key,
    initialPageParam: null as string | null,
    queryFn: async ({ pageParam, signal }) => {
      const page = await api.get<Page<WithdrawalOut>>("/api/accounts/me/withdrawals", {
        query: { limit: PAGE_SIZE, cursor: pageParam ?? undefined },
        signal,
      });
      const wasInFlight = new Set(
        items(queryClient.getQueryData<Pages>(key))
          .filter((w) => isInFlight(w.status))
          .map((w) => w.withdrawal_id),
      );
      if (address && page.items.some((w) => wasInFlight.has(w.withdrawal_id) && !isInFlight(w.status))) {
        void queryClient.invalidateQueries({ queryKey: keys.account(address) });
        void queryClient.invalidateQueries({ queryKey: keys.walletHistory(address) });
      }
      return page;
    },
    getNextPageParam: (last) => last.next_cursor ?? null,
    enabled: address !== null,
    refetchInterval: (query) => (hasInFlight(query.state.data) ? IN_FLIGHT_REFRESH_MS : false),
  });
}

export function useWithdraw() {
  const api = useApi();
  const address = useAddress();
  const queryClient = useQueryClient();
  return useMutation({
    meta: { errorTitle: "Withdrawal refused" },
    mutationFn: (amount: number) =>
      api.post<WithdrawalReceipt>("/api/accounts/me/withdraw", { amount }, { headers: { "Idempotency-Key": idempotencyKey() } }),
    onSuccess: (result) => {
      if (!address) return;
      queryClient.setQueryData(keys.account(address), result.account);
      void queryClient.invalidateQueries({ queryKey: keys.withdrawals(address) });
      void queryClient.invalidateQueries({ queryKey: keys.walletHistory(address) });
    },
  });
}

const notFound = (error: unknown): boolean => error instanceof ApiError && error.status === 404;

/** The hot wallet as the payouts job last saw it: asked only by an admin where config.json
 * says withdrawals are paid on chain. A 404 (not on chain, or the job has not run yet) is no
 * error: the card is simply not shown. */
export function useHotWallet() {
  const api = useApi();
  const session = useSession();
  const { withdrawalsOnChain } = useConfig();
  const address = session?.address ?? "";
  return useQuery({
    queryKey: keys.hotWallet(address),
    queryFn: ({ signal }) => api.get<HotWalletOut>("/api/admin/hot-wallet", { signal }),
    enabled: session !== null && session.isAdmin && withdrawalsOnChain,
    // Asked again each minute, but not after a 404: nothing to show until the page is opened again.
    refetchInterval: (query) => (notFound(query.state.error) ? false : HOT_WALLET_REFRESH_MS),
    refetchOnWindowFocus: (query) => !notFound(query.state.error),
    meta: { silent: true },
  });
}
