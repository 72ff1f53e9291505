/** Money out: the withdraw request, the account's withdrawals (read again every few seconds
 * while the payouts job is paying one on chain, issue #24) and, for an admin, the hot wallet
 * that pays them and the queue of withdrawals awaiting approval with its decisions. */
import { useInfiniteQuery, useMutation, useQuery, useQueryClient, type InfiniteData } from "@tanstack/react-query";
import { useAddress, useApi, useConfig, useServices, useSession } from "../app/context";
import { decidedMessage, isInFlight, type Decision } from "../lib/withdrawals";
import { ApiError, errorMessage, idempotencyKey } from "./client";
import { keys } from "./keys";
import type { DecisionOut, HotWalletOut, Page, WithdrawalOut, WithdrawalReceipt } from "./types";

/** How often the list is read again while a withdrawal is queued, signing or sent. */
export const IN_FLIGHT_REFRESH_MS = 5_000;
/** The payouts job looks at the hot wallet about once a minute. */
export const HOT_WALLET_REFRESH_MS = 60_000;
/** How often an admin's queue of withdrawals awaiting approval is read again while shown. */
export const QUEUE_REFRESH_MS = 15_000;
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

// -- the admins' queue -----------------------------------------------------------------------

/** The API refused an admin's read to this session (its admin claim is gone): nothing to show. */
export const isForbidden = (error: unknown): boolean => error instanceof ApiError && error.status === 403;

/** A decision the API refused because the withdrawal is no longer pending: someone decided it first. */
export const isAlreadyDecided = (error: unknown): boolean => error instanceof ApiError && error.status === 409;

export const decisionPath = (w: Pick<WithdrawalOut, "address" | "withdrawal_id">, decision: Decision): string =>
  `/api/admin/withdrawals/${encodeURIComponent(w.address)}/${encodeURIComponent(w.withdrawal_id)}/${decision}`;

/** The withdrawals awaiting an admin's decision, oldest request first: asked only with an
 * admin's session, read again every 15 s while the card is shown; a 403 (the session is no
 * admin's after all) hides the card and stops asking. */
export function useWithdrawalQueue() {
  const api = useApi();
  const session = useSession();
  return useInfiniteQuery({
    queryKey: keys.withdrawalQueue(session?.address ?? ""),
    initialPageParam: null as string | null,
    queryFn: ({ pageParam, signal }) =>
      api.get<Page<WithdrawalOut>>("/api/admin/withdrawals", { query: { limit: PAGE_SIZE, cursor: pageParam ?? undefined }, signal }),
    getNextPageParam: (last) => last.next_cursor ?? null,
    enabled: session !== null && session.isAdmin,
    refetchInterval: (query) => (isForbidden(query.state.error) ? false : QUEUE_REFRESH_MS),
    refetchOnWindowFocus: (query) => !isForbidden(query.state.error),
    meta: { silent: true },
  });
}

/** Approve or reject one withdrawal of the queue, and say what it did. Whatever the answer,
 * the queue and the hot wallet are read again; the admin's own balance and lists too when it
 * was their withdrawal. A 409 (another admin decided it first) is said as such, not as a
 * failure. */
export function useDecideWithdrawal() {
  const api = useApi();
  const address = useAddress();
  const { toasts } = useServices();
  const queryClient = useQueryClient();
  return useMutation({
    meta: { silent: true },
    mutationFn: ({ withdrawal, decision }: { withdrawal: WithdrawalOut; decision: Decision }) =>
      api.post<DecisionOut>(decisionPath(withdrawal, decision)),
    onSuccess: (result, { decision }) => {
      toasts.success(decision === "approve" ? "Withdrawal approved" : "Withdrawal rejected", decidedMessage(result.withdrawal));
      if (!address || result.account.address.toLowerCase() !== address.toLowerCase()) return;
      queryClient.setQueryData(keys.account(address), result.account);
      void queryClient.invalidateQueries({ queryKey: keys.withdrawals(address) });
      void queryClient.invalidateQueries({ queryKey: keys.walletHistory(address) });
    },
    onError: (error, { decision }) => {
      if (isAlreadyDecided(error)) toasts.warning("Already decided", `Someone else decided it first (${errorMessage(error)}). The queue is read again.`);
      else toasts.error(`Could not ${decision} the withdrawal`, errorMessage(error));
    },
    onSettled: () => {
      if (!address) return;
      void queryClient.invalidateQueries({ queryKey: keys.withdrawalQueue(address) });
      void queryClient.invalidateQueries({ queryKey: keys.hotWallet(address) });
    },
  });
}
