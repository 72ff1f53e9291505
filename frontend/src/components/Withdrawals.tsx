/** The Account page's withdrawals: each with its status and, paid on chain (issue #24), its
 * progress (confirmations, the transaction, the hot wallet that pays, when it settled or why
 * it failed). Read again every few seconds while one is in flight. */
import { hasInFlight, useWithdrawals } from "../api/withdrawals";
import type { WithdrawalOut } from "../api/types";
import { cx } from "../lib/cx";
import { formatCredits, shortAddress, shortId } from "../lib/format";
import { approvalLabel, confirmationProgress, withdrawalBadge, withdrawalStep } from "../lib/withdrawals";
import { Badge, Button, CopyBlock, ErrorState, LoadMore, LoadingRows, Meter, Time } from "./ui";

export function WithdrawalList() {
  const withdrawals = useWithdrawals();
  const items = (withdrawals.data?.pages.flatMap((p) => p.items) ?? []).sort((a, b) => b.requested_at - a.requested_at);
  if (withdrawals.isPending) return <LoadingRows rows={2} label="Loading your withdrawals" />;
  if (withdrawals.isError && !withdrawals.data) return <ErrorState error={withdrawals.error} onRetry={() => void withdrawals.refetch()} />;
  if (items.length === 0) return null;
  const polling = hasInFlight(withdrawals.data);
  return (
    <div className="mt-4" data-testid="withdrawal-list">
      <div className="flex items-center justify-between gap-2">
        <h3 className="text-sm font-semibold">Your withdrawals</h3>
        <span className="flex items-center gap-2 text-xs text-muted">
          {polling && <span>Checking every few seconds</span>}
          <Button size="sm" variant="ghost" disabled={withdrawals.isFetching} onClick={() => void withdrawals.refetch()}>
            Refresh
          </Button>
        </span>
      </div>
      <ul className="divide-y divide-border text-sm">
        {items.map((w) => (
          <WithdrawalRow key={w.withdrawal_id} withdrawal={w} />
        ))}
      </ul>
      <LoadMore hasNext={withdrawals.hasNextPage} loading={withdrawals.isFetchingNextPage} onClick={() => void withdrawals.fetchNextPage()} />
    </div>
  );
}

function WithdrawalRow({ withdrawal: w }: { withdrawal: WithdrawalOut }) {
  const badge = withdrawalBadge(w.status);
  const approval = approvalLabel(w);
  const progress = confirmationProgress(w);
  return (
    <li className="flex flex-col gap-1.5 py-2.5" data-testid="withdrawal" data-status={w.status}>
      <div className="flex flex-wrap items-center justify-between gap-2">
        <span className="flex flex-wrap items-center gap-2">
          <Badge tone={badge.tone}>{badge.label}</Badge>
          <span className="tabular">{formatCredits(w.amount)} cr</span>
          {approval && (
            <span className="text-xs text-muted" data-testid="withdrawal-approval">
              {approval}
            </span>
          )}
        </span>
        <span className="text-xs text-muted">
          requested <Time ts={w.requested_at} />
        </span>
      </div>
      <p className={cx("text-xs", w.status === "failed" ? "text-danger" : "text-muted")} data-testid="withdrawal-step">
        {withdrawalStep(w)}
      </p>
      {progress && (
        <div className="flex items-center gap-3">
          <span className="tabular shrink-0 text-xs text-muted" data-testid="withdrawal-confirmations">
            {progress.text}
          </span>
          <Meter value={progress.ratio} label="Confirmations" tone="warn" />
        </div>
      )}
      {w.status === "settled" && w.settled_at != null && (
        <p className="text-xs text-ok" data-testid="withdrawal-settled">
          −{formatCredits(w.amount)} cr left your balance <Time ts={w.settled_at} />
        </p>
      )}
      {w.hot_wallet && (
        <p className="text-xs text-muted">
          from the hot wallet{" "}
          <span className="font-mono" title={w.hot_wallet}>
            {shortAddress(w.hot_wallet)}
          </span>
          {w.chain_id != null && <> on chain {w.chain_id}</>}
        </p>
      )}
      {w.tx_hash && <CopyBlock text={w.tx_hash} display={`tx ${shortId(w.tx_hash, 10, 8)}`} label="transaction hash" />}
    </li>
  );
}
