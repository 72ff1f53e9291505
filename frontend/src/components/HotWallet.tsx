/** The hot wallet that pays withdrawals on chain (issue #24), for an admin: its balances,
 * its nonce against the chain's, today's outflow against the daily limit and the alarms of
 * the payouts job's last look. Not shown where the API answers 404 (withdrawals not paid on
 * chain, or the job has not run yet). */
import type { ReactNode } from "react";
import { ApiError } from "../api/client";
import { useDepositAddress } from "../api/deposits";
import type { HotWalletOut } from "../api/types";
import { useHotWallet } from "../api/withdrawals";
import { cx } from "../lib/cx";
import { formatCredits, formatTokenUnits, formatWei } from "../lib/format";
import { alarmLabel, nonceState, outflowShare } from "../lib/withdrawals";
import { Card, CopyBlock, ErrorState, Meter, Time } from "./ui";

export function HotWalletCard() {
  const wallet = useHotWallet();
  // Nothing until it answers: a 404 (the job has not run yet) must not flash a card.
  if (wallet.isPending) return null;
  if (wallet.error instanceof ApiError && wallet.error.status === 404) return null;
  return (
    <Card title="Hot wallet" testId="hot-wallet">
      {wallet.isError && !wallet.data ? <ErrorState error={wallet.error} onRetry={() => void wallet.refetch()} /> : <HotWallet info={wallet.data} />}
    </Card>
  );
}

function Fact({ label, children, tone }: { label: string; children: ReactNode; tone?: "danger" }) {
  return (
    <div className="min-w-0">
      <dt className="text-xs uppercase tracking-wider text-muted">{label}</dt>
      <dd className={cx("tabular mt-0.5", tone === "danger" ? "text-danger" : "text-text")}>{children}</dd>
    </div>
  );
}

/** The token's decimals where the deposit address names the same token (6 locally). */
function useTokenDecimals(token: string): number | null {
  const deposit = useDepositAddress();
  const info = deposit.data;
  return info && info.token_address.toLowerCase() === token.toLowerCase() ? info.token_decimals : null;
}

function HotWallet({ info }: { info: HotWalletOut }) {
  const decimals = useTokenDecimals(info.token_address);
  const nonce = nonceState(info.next_nonce, info.chain_nonce);
  const share = outflowShare(info.outflow_today, info.daily_limit);
  const has = (name: string) => info.alarms.includes(name);
  const tokens =
    info.token_units == null ? "—" : decimals == null ? `${info.token_units} units` : `${formatTokenUnits(info.token_units, decimals)} tokens`;
  return (
    <div className="flex flex-col gap-4 text-sm">
      {info.alarms.length > 0 && (
        <ul className="flex flex-col gap-1 rounded-lg border border-danger/30 bg-danger/10 p-3 text-danger" data-testid="hot-wallet-alarms">
          {info.alarms.map((alarm) => (
            <li key={alarm} title={alarm}>
              {alarmLabel(alarm)}
            </li>
          ))}
        </ul>
      )}
      <div>
        <div className="mb-1 text-xs uppercase tracking-wider text-muted">Address on chain {info.chain_id}: fund it with the token and gas</div>
        <CopyBlock text={info.address} label="hot wallet address" />
      </div>
      <dl className="grid grid-cols-2 gap-3 md:grid-cols-4" data-testid="hot-wallet-facts">
        <Fact label="Token balance" tone={has("hot_wallet_token_low") ? "danger" : undefined}>
          {tokens}
        </Fact>
        <Fact label="Gas" tone={has("hot_wallet_gas_low") ? "danger" : undefined}>
          {info.gas_wei == null ? "—" : `${formatWei(info.gas_wei)} ETH`}
        </Fact>
        <Fact label="Nonce" tone={nonce.tone === "danger" || has("hot_wallet_nonce_mismatch") ? "danger" : undefined}>
          {nonce.text}
        </Fact>
        <Fact label="Auto-pay up to">{formatCredits(info.auto_max)} cr</Fact>
        <Fact label="Keep at least">{formatCredits(info.min_balance)} cr</Fact>
        <Fact label="Keep gas over">{formatWei(info.min_gas_wei)} ETH</Fact>
        <Fact label="Paid today">
          {info.payouts_today} payout{info.payouts_today === 1 ? "" : "s"}
        </Fact>
        <Fact label="Chain head">{info.head ?? "—"}</Fact>
      </dl>
      <div>
        <div className="mb-1 flex flex-wrap justify-between gap-2 text-xs text-muted">
          <span>Sent today (UTC)</span>
          <span className={cx("tabular", has("daily_limit_reached") && "text-danger")} data-testid="hot-wallet-outflow">
            {formatCredits(info.outflow_today)} / {formatCredits(info.daily_limit)} cr
          </span>
        </div>
        <Meter value={share} label="Today's outflow against the daily limit" tone={share >= 1 ? "danger" : share >= 0.8 ? "warn" : "accent"} />
      </div>
      <p className="text-xs text-muted">
        Last looked at by the payouts job <Time ts={info.checked_at} />
      </p>
    </div>
  );
}
