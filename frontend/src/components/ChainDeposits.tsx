/** The Account page's "Deposit on chain" card: the account's own deposit address with the
 * chain and token it takes, and the deposits seen to it (pending with their confirmations,
 * credited, orphaned by a reorganisation, held for an operator). */
import type { ReactNode } from "react";
import { ApiError } from "../api/client";
import { hasPending, useChainDeposits, useDepositAddress } from "../api/deposits";
import type { ChainDepositOut, DepositAddressOut } from "../api/types";
import { formatCredits, formatTokenUnits, shortId } from "../lib/format";
import { Badge, Button, Card, CopyBlock, ErrorState, LoadingRows, Meter, Time } from "./ui";

const TONE = { pending: "warn", credited: "ok", orphaned: "neutral", held: "danger" } as const;

export function ChainDepositsCard() {
  const deposit = useDepositAddress();
  const off = deposit.error instanceof ApiError && deposit.error.status === 404;
  return (
    <Card title="Deposit on chain" testId="chain-deposits">
      {deposit.isPending ? (
        <LoadingRows rows={3} label="Loading your deposit address" />
      ) : off ? (
        <p className="text-sm text-muted" data-testid="deposits-off">
          This deployment takes no deposits on chain.
        </p>
      ) : deposit.isError ? (
        <ErrorState error={deposit.error} onRetry={() => void deposit.refetch()} />
      ) : (
        <>
          <DepositAddress info={deposit.data} />
          <Deposits info={deposit.data} />
        </>
      )}
    </Card>
  );
}

function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="min-w-0">
      <dt className="text-xs uppercase tracking-wider text-muted">{label}</dt>
      <dd className="tabular mt-0.5 text-text">{children}</dd>
    </div>
  );
}

function DepositAddress({ info }: { info: DepositAddressOut }) {
  return (
    <div className="flex flex-col gap-3 text-sm">
      <p className="text-muted">
        Send the stablecoin to your own address below, on chain {info.chain_id}. It is credited to your balance once the transfer has{" "}
        {info.confirmations} confirmation{info.confirmations === 1 ? "" : "s"}. Send nothing else to it.
      </p>
      <div data-testid="deposit-address">
        <CopyBlock text={info.deposit_address} label="deposit address" />
      </div>
      <dl className="grid grid-cols-2 gap-3 md:grid-cols-4">
        <Fact label="Chain id">{info.chain_id}</Fact>
        <Fact label="Token decimals">{info.token_decimals}</Fact>
        <Fact label="Confirmations needed">{info.confirmations}</Fact>
        <Fact label="One token credits">{formatCredits(info.micro_per_token)} cr</Fact>
      </dl>
      <div>
        <div className="mb-1 text-xs uppercase tracking-wider text-muted">Token contract</div>
        <CopyBlock text={info.token_address} label="token contract" />
      </div>
    </div>
  );
}

function Deposits({ info }: { info: DepositAddressOut }) {
  const deposits = useChainDeposits(true);
  const items = deposits.data?.items ?? [];
  return (
    <div className="mt-5 border-t border-border pt-4" data-testid="chain-deposit-list">
      <div className="mb-2 flex items-center justify-between gap-2">
        <h3 className="text-sm font-semibold">Your deposits</h3>
        <span className="flex items-center gap-2 text-xs text-muted">
          {hasPending(deposits.data) && <span>Checking every few seconds</span>}
          <Button size="sm" variant="ghost" disabled={deposits.isFetching} onClick={() => void deposits.refetch()}>
            Refresh
          </Button>
        </span>
      </div>
      {deposits.isPending ? (
        <LoadingRows rows={2} label="Loading your deposits" />
      ) : deposits.isError && !deposits.data ? (
        <ErrorState error={deposits.error} onRetry={() => void deposits.refetch()} />
      ) : items.length === 0 ? (
        <p className="text-sm text-muted">No deposits seen yet: a transfer shows up here within a minute of being mined.</p>
      ) : (
        <ul className="divide-y divide-border text-sm">
          {items.map((d) => (
            <DepositRow key={d.deposit_id} deposit={d} decimals={info.token_decimals} />
          ))}
        </ul>
      )}
      {deposits.data?.truncated && <p className="mt-2 text-xs text-muted">Only your most recent deposits are listed.</p>}
    </div>
  );
}

function DepositRow({ deposit: d, decimals }: { deposit: ChainDepositOut; decimals: number }) {
  const shown = Math.min(d.confirmations, d.required_confirmations);
  return (
    <li className="flex flex-col gap-2 py-3" data-testid="chain-deposit" data-status={d.status}>
      <div className="flex flex-wrap items-center justify-between gap-2">
        <span className="flex items-center gap-2">
          <Badge tone={TONE[d.status]}>{d.status}</Badge>
          <span className="tabular">{formatTokenUnits(d.token_units, decimals)} tokens</span>
          {d.amount != null && <span className="tabular text-muted">= {formatCredits(d.amount)} cr</span>}
        </span>
        <span className="text-xs text-muted">
          seen <Time ts={d.seen_at} />
        </span>
      </div>
      {d.status === "pending" && (
        <div className="flex items-center gap-3">
          <span className="tabular shrink-0 text-xs text-muted" data-testid="confirmations">
            {shown} of {d.required_confirmations} confirmations
          </span>
          <Meter value={shown / Math.max(1, d.required_confirmations)} label="Confirmations" tone="warn" />
        </div>
      )}
      {d.status === "credited" && (
        <p className="text-xs text-ok">
          +{formatCredits(d.amount)} cr credited <Time ts={d.credited_at} />
        </p>
      )}
      {d.status === "orphaned" && (
        <p className="text-xs text-muted">
          Its block was dropped by a chain reorganisation before it was confirmed: nothing was credited. If the transfer is mined again it
          shows up here as pending.
        </p>
      )}
      {d.status === "held" && (
        <p className="text-xs text-danger">
          Held, not credited: {d.reason ?? "the amount does not convert exactly into credits"}. An operator needs to credit it by hand; ask
          one, quoting the transaction hash.
        </p>
      )}
      <CopyBlock text={d.tx_hash} display={`tx ${shortId(d.tx_hash, 10, 8)}`} label="transaction hash" />
    </li>
  );
}
