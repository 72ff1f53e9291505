/** The withdrawals awaiting an admin's approval (issue #24), oldest request first: who asked,
 * how much, when, and Approve / Reject behind a second click. Shown to admins only, beside
 * the hot wallet; hidden where the API answers 403 (the session is no admin's after all).
 * Read again every 15 s while shown and after each decision. */
import { useState } from "react";
import type { WithdrawalOut } from "../api/types";
import { isAlreadyDecided, isForbidden, useDecideWithdrawal, useWithdrawalQueue } from "../api/withdrawals";
import { useConfig } from "../app/context";
import { formatCredits, shortAddress, shortId } from "../lib/format";
import { approveHint, confirmQuestion, type Decision } from "../lib/withdrawals";
import { Badge, Button, Card, CopyBlock, EmptyState, ErrorState, LoadMore, Time } from "./ui";

export function WithdrawalQueueCard() {
  const queue = useWithdrawalQueue();
  const { withdrawalsOnChain } = useConfig();
  // Decided here: kept off the list even if a read right after the decision still has them.
  const [decided, setDecided] = useState<ReadonlySet<string>>(() => new Set());
  // Nothing until it answers: a 403 must not flash a card.
  if (queue.isPending) return null;
  if (isForbidden(queue.error)) return null;
  const items = (queue.data?.pages.flatMap((p) => p.items) ?? []).filter((w) => !decided.has(w.withdrawal_id));
  const onDecided = (id: string) => setDecided((current) => new Set(current).add(id));
  return (
    <Card
      title="Withdrawals awaiting approval"
      testId="withdrawal-queue"
      actions={
        <>
          {items.length > 0 && (
            <Badge tone="warn">
              {items.length}
              {queue.hasNextPage ? "+" : ""} waiting
            </Badge>
          )}
          <Button size="sm" variant="ghost" disabled={queue.isFetching} onClick={() => void queue.refetch()}>
            Refresh
          </Button>
        </>
      }
    >
      <div className="flex flex-col gap-3">
        <p className="text-sm text-muted" data-testid="withdrawal-queue-hint">
          {approveHint(withdrawalsOnChain)}
        </p>
        {queue.isError && !queue.data ? (
          <ErrorState error={queue.error} onRetry={() => void queue.refetch()} />
        ) : items.length === 0 ? (
          <EmptyState title="Nothing awaiting approval">Withdrawals an admin must decide show here, oldest first.</EmptyState>
        ) : (
          <ul className="divide-y divide-border border-t border-border text-sm">
            {items.map((w) => (
              <QueueRow key={w.withdrawal_id} withdrawal={w} onDecided={onDecided} />
            ))}
          </ul>
        )}
        <LoadMore hasNext={queue.hasNextPage} loading={queue.isFetchingNextPage} onClick={() => void queue.fetchNextPage()} />
      </div>
    </Card>
  );
}

function QueueRow({ withdrawal: w, onDecided }: { withdrawal: WithdrawalOut; onDecided: (id: string) => void }) {
  const decide = useDecideWithdrawal();
  const [confirming, setConfirming] = useState<Decision | null>(null);
  const who = shortAddress(w.address);
  const amount = `${formatCredits(w.amount)} cr`;
  const act = (decision: Decision) =>
    decide.mutate(
      { withdrawal: w, decision },
      {
        onSuccess: () => onDecided(w.withdrawal_id),
        onError: (error) => {
          if (isAlreadyDecided(error)) onDecided(w.withdrawal_id);
        },
        onSettled: () => setConfirming(null),
      },
    );
  return (
    <li className="flex flex-wrap items-center justify-between gap-3 py-3" data-testid="queued-withdrawal" data-withdrawal-id={w.withdrawal_id}>
      <div className="flex min-w-0 flex-col gap-1.5">
        <div className="flex flex-wrap items-baseline gap-x-3 gap-y-1">
          <span className="tabular font-medium" data-testid="queued-withdrawal-amount">
            {amount}
          </span>
          <span className="text-xs text-muted">
            requested <Time ts={w.requested_at} />
          </span>
          <span className="font-mono text-xs text-muted" title={w.withdrawal_id}>
            {shortId(w.withdrawal_id)}
          </span>
        </div>
        <div className="w-64 max-w-full">
          <CopyBlock text={w.address} display={who} label={`address ${who}`} />
        </div>
      </div>
      {confirming ? (
        <div className="flex flex-wrap items-center gap-2" data-testid="queued-withdrawal-confirm">
          <span className="text-xs text-text">{confirmQuestion(confirming, w)}</span>
          <Button
            size="sm"
            variant={confirming === "approve" ? "primary" : "danger"}
            busy={decide.isPending}
            onClick={() => act(confirming)}
            aria-label={`Confirm: ${confirming} ${amount} for ${who}`}
          >
            {confirming === "approve" ? "Approve now" : "Reject now"}
          </Button>
          <Button size="sm" variant="ghost" disabled={decide.isPending} onClick={() => setConfirming(null)}>
            Cancel
          </Button>
        </div>
      ) : (
        <div className="flex items-center gap-2">
          <Button size="sm" variant="primary" onClick={() => setConfirming("approve")} aria-label={`Approve ${amount} for ${who}`}>
            Approve
          </Button>
          <Button size="sm" variant="danger" onClick={() => setConfirming("reject")} aria-label={`Reject ${amount} for ${who}`}>
            Reject
          </Button>
        </div>
      )}
    </li>
  );
}
