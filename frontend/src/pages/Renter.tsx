import { useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { useLeaseBlocks, useLeases, useMyBlocks, useStopLease, useWorker } from "../api/queries";
import type { LeaseOut } from "../api/types";
import { useAddress, useLive, useNow } from "../app/context";
import { RequireAuth } from "../components/Auth";
import { BlockList, LiveHashrate } from "../components/domain";
import { LeaseBlockList } from "../components/LeaseBlocks";
import { Sparkline } from "../components/TimeSeriesChart";
import {
  Badge,
  Button,
  Card,
  Dialog,
  EmptyState,
  ErrorState,
  LoadingRows,
  Meter,
  PageHeader,
  QueryView,
  Stat,
  Time,
} from "../components/ui";
import { cx } from "../lib/cx";
import {
  deliveryRatio,
  formatAbsolute,
  formatCredits,
  formatDuration,
  formatHashrate,
  formatPercent,
  formatPricePerHour,
  shortAddress,
  shortId,
} from "../lib/format";

const REFUND_THRESHOLD = 0.9;

function LeaseBlocks({ leaseId }: { leaseId: string }) {
  const blocks = useLeaseBlocks(leaseId);
  if (blocks.isPending) return <LoadingRows rows={2} />;
  if (blocks.isError) return <ErrorState error={blocks.error} onRetry={() => void blocks.refetch()} />;
  const items = blocks.data.items;
  if (items.length === 0) return <p className="text-sm text-muted">No blocks reported under this lease yet.</p>;
  return <LeaseBlockList blocks={items} />;
}

function ActiveLease({ lease, highlight }: { lease: LeaseOut; highlight: boolean }) {
  const now = useNow(1000);
  const stop = useStopLease();
  const [confirm, setConfirm] = useState(false);
  const [showBlocks, setShowBlocks] = useState(false);
  const samples = useLive((s) => s.samplesFor(lease.worker_id));
  const updatedAt = useLive((s) => s.updatedAt(lease.worker_id));
  // Only updates after the lease started count as this lease's live hashrate.
  const liveSamples = useMemo(() => samples.filter((s) => s.ts >= lease.created_at), [samples, lease.created_at]);
  const latest = liveSamples[liveSamples.length - 1];
  const worker = useWorker(lease.worker_id);
  const ratio = deliveryRatio(lease.delivered_hashrate, lease.advertised_hashrate);
  const elapsed = Math.max(0, Math.min(now, lease.ends_at) - lease.created_at);
  const progress = lease.duration_sec > 0 ? elapsed / lease.duration_sec : 0;
  const remaining = Math.max(0, lease.ends_at - now);
  const stopped = lease.stopped_at != null;
  const tone = ratio == null ? "accent" : ratio >= REFUND_THRESHOLD ? "accent" : ratio >= 0.5 ? "warn" : "danger";

  return (
    <article
      className={cx("rounded-card border bg-surface p-4 shadow-card", highlight ? "border-accent" : "border-border")}
      data-testid="active-lease"
      data-lease-id={lease.lease_id}
      data-status={lease.status}
    >
      <header className="flex flex-wrap items-start justify-between gap-2">
        <div className="min-w-0">
          <h3 className="font-semibold">
            {lease.gpu_model ?? "Rig"} · {formatHashrate(lease.advertised_hashrate)}
          </h3>
          <p className="text-xs text-muted">
            <Link to={`/workers/${encodeURIComponent(lease.worker_id)}`} className="font-mono hover:text-text">
              {shortId(lease.worker_id, 12, 4)}
            </Link>{" "}
            from {shortAddress(lease.provider)} · key prefix <span className="font-mono">{lease.prefix}</span>
          </p>
        </div>
        <div className="flex items-center gap-2">
          {stopped ? <Badge tone="warn">Stopping · settles soon</Badge> : <Badge tone="ok">Active</Badge>}
          {!stopped && (
            <Button size="sm" variant="danger" onClick={() => setConfirm(true)} data-testid="stop-lease">
              Stop
            </Button>
          )}
        </div>
      </header>

      <div className="mt-4 grid gap-4 sm:grid-cols-3">
        <div>
          <div className="text-xs text-muted">Live hashrate</div>
          <div className="text-xl font-semibold">
            {latest ? (
              <LiveHashrate value={latest.hashrate} updatedAt={updatedAt} testId="lease-live-hashrate" />
            ) : (
              <span data-testid="lease-live-hashrate" data-live="false" className={worker.data ? "tabular" : "text-sm font-normal text-muted"}>
                {worker.data ? formatHashrate(worker.data.hashrate) : "waiting for the rig…"}
              </span>
            )}
          </div>
          {liveSamples.length > 1 && <Sparkline points={liveSamples.map((s) => ({ time: s.ts, value: s.hashrate }))} label="Live hashrate of this rig" />}
        </div>
        <div className="sm:col-span-2">
          <div className="flex items-baseline justify-between text-xs text-muted">
            <span>Delivered (verified shares) vs advertised</span>
            <span className="tabular">
              <span className="text-text">{formatHashrate(lease.delivered_hashrate)}</span> / {formatHashrate(lease.advertised_hashrate)}
              {ratio != null && ` · ${formatPercent(ratio)}`}
            </span>
          </div>
          <div className="mt-2">
            <Meter value={ratio} marker={REFUND_THRESHOLD} label="Delivered as a share of advertised hashrate" tone={tone} />
          </div>
          <p className="mt-1 text-[11px] text-muted">Under the 90% mark at settlement, the shortfall is refunded.</p>
          <div className="mt-3 flex items-baseline justify-between text-xs text-muted">
            <span>
              Started <Time ts={lease.created_at} />
            </span>
            <span title={formatAbsolute(lease.ends_at)}>{remaining > 0 ? `${formatDuration(remaining)} left` : "ended"}</span>
          </div>
          <div className="mt-1">
            <Meter value={progress} label="Time elapsed" />
          </div>
        </div>
      </div>

      <dl className="mt-4 grid grid-cols-2 gap-3 text-sm sm:grid-cols-5">
        <div>
          <dt className="text-xs text-muted">Shares</dt>
          <dd className="tabular">{lease.shares}</dd>
        </div>
        <div>
          <dt className="text-xs text-muted">Blocks</dt>
          <dd className="tabular">{lease.blocks}</dd>
        </div>
        <div>
          <dt className="text-xs text-muted">Price</dt>
          <dd className="tabular">{formatPricePerHour(lease.price_per_hour)}</dd>
        </div>
        <div>
          <dt className="text-xs text-muted">Escrow</dt>
          <dd className="tabular">{formatCredits(lease.escrow)} cr</dd>
        </div>
        <div>
          <dt className="text-xs text-muted">Max cost</dt>
          <dd className="tabular">{formatCredits(lease.max_cost)} cr</dd>
        </div>
      </dl>
      <div className="mt-3">
        <Button size="sm" variant="ghost" aria-expanded={showBlocks} onClick={() => setShowBlocks((v) => !v)}>
          {showBlocks ? "Hide blocks" : "Blocks of this lease"}
        </Button>
        {showBlocks && (
          <div className="mt-2">
            <LeaseBlocks leaseId={lease.lease_id} />
          </div>
        )}
      </div>

      <Dialog
        open={confirm}
        onClose={() => setConfirm(false)}
        title="Stop this lease?"
        footer={
          <>
            <Button variant="ghost" onClick={() => setConfirm(false)}>
              Keep it running
            </Button>
            <Button
              variant="danger"
              busy={stop.isPending}
              data-testid="confirm-stop"
              onClick={() => stop.mutate(lease.lease_id, { onSettled: () => setConfirm(false) })}
            >
              Stop now
            </Button>
          </>
        }
      >
        <p className="text-sm text-muted">
          The rig stops mining for you now. The lease settles on the next run: you pay for the verified work delivered so far and the rest of the
          escrow ({formatCredits(lease.escrow)} cr held) comes back to your balance.
        </p>
      </Dialog>
    </article>
  );
}

function PastLeases({ leases }: { leases: LeaseOut[] }) {
  if (leases.length === 0) return <EmptyState title="No past leases">Settled leases and what they cost show here.</EmptyState>;
  return (
    <div className="overflow-x-auto">
      <table className="w-full text-sm">
        <caption className="sr-only">Settled leases</caption>
        <thead className="text-left text-xs uppercase tracking-wider text-muted">
          <tr>
            <th scope="col" className="py-2 pr-3 font-medium">Started</th>
            <th scope="col" className="py-2 pr-3 font-medium">Rig</th>
            <th scope="col" className="py-2 pr-3 text-right font-medium">Duration</th>
            <th scope="col" className="py-2 pr-3 text-right font-medium">Delivered</th>
            <th scope="col" className="hidden py-2 pr-3 text-right font-medium sm:table-cell">Blocks</th>
            <th scope="col" className="py-2 pr-3 text-right font-medium">Paid</th>
            <th scope="col" className="hidden py-2 text-right font-medium md:table-cell">Refunded</th>
          </tr>
        </thead>
        <tbody className="tabular">
          {leases.map((l) => {
            const ratio = deliveryRatio(l.delivered_hashrate, l.advertised_hashrate);
            const ran = (l.stopped_at ?? l.ends_at) - l.created_at;
            return (
              <tr key={l.lease_id} className="border-t border-border" data-testid="past-lease">
                <td className="py-2 pr-3">
                  <Time ts={l.created_at} />
                </td>
                <td className="py-2 pr-3">
                  {l.gpu_model ?? "—"} <span className="text-xs text-muted">{formatHashrate(l.advertised_hashrate)}</span>
                </td>
                <td className="py-2 pr-3 text-right">{formatDuration(ran)}</td>
                <td className={cx("py-2 pr-3 text-right", ratio != null && ratio < REFUND_THRESHOLD && "text-warn")}>
                  {formatHashrate(l.delivered_hashrate)} {ratio != null && <span className="text-xs text-muted">({formatPercent(ratio)})</span>}
                </td>
                <td className="hidden py-2 pr-3 text-right sm:table-cell">{l.blocks}</td>
                <td className="py-2 pr-3 text-right">{formatCredits(l.payout + l.fee)} cr</td>
                <td className="hidden py-2 text-right md:table-cell">{formatCredits(l.refund)} cr</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function RenterContent() {
  const leases = useLeases("renter");
  const blocks = useMyBlocks();
  const address = useAddress();
  const [params] = useSearchParams();
  const focus = params.get("lease");
  const items = leases.data?.items ?? [];
  const active = items.filter((l) => l.status === "active");
  const past = items.filter((l) => l.status !== "active");
  const forMe = (blocks.data?.items ?? []).filter((b) => b.account === address);
  const spent = past.reduce((sum, l) => sum + l.payout + l.fee, 0);
  const delivered = active.reduce((sum, l) => sum + l.delivered_hashrate, 0);

  return (
    <>
      <div className="grid grid-cols-2 gap-3 md:grid-cols-4">
        <Stat label="Active leases" value={active.length} loading={leases.isPending} />
        <Stat label="Delivered now" value={formatHashrate(delivered)} loading={leases.isPending} hint="verified, across active leases" />
        <Stat label="Blocks for me" value={forMe.length} loading={blocks.isPending} hint="recent, verified" />
        <Stat label="Spent (shown leases)" value={`${formatCredits(spent, { maxDecimals: 2 })} cr`} loading={leases.isPending} />
      </div>
      <section className="mt-6" aria-labelledby="active-heading">
        <h2 id="active-heading" className="mb-3 text-sm font-semibold">
          Active leases
        </h2>
        <QueryView
          query={leases}
          rows={4}
          empty={
            active.length === 0 && (
              <Card>
                <EmptyState title="Nothing rented right now" action={<Link to="/marketplace" className="text-sm text-accent hover:underline">Browse the marketplace →</Link>}>
                  Rent a rig and watch its live hashrate and the blocks it finds for you here.
                </EmptyState>
              </Card>
            )
          }
        >
          <div className="grid gap-4 xl:grid-cols-2">
            {active.map((l) => (
              <ActiveLease key={l.lease_id} lease={l} highlight={focus === l.lease_id} />
            ))}
          </div>
        </QueryView>
      </section>
      <div className="mt-6 grid gap-6 xl:grid-cols-3">
        <Card title="Past leases" className="xl:col-span-2">
          {leases.isPending ? <LoadingRows /> : <PastLeases leases={past} />}
        </Card>
        <Card title="Blocks found for me">
          <QueryView query={blocks}>
            <BlockList blocks={forMe.slice(0, 15)} empty={<EmptyState title="No blocks yet">Blocks mined for your address by rented rigs appear here live.</EmptyState>} />
          </QueryView>
        </Card>
      </div>
    </>
  );
}

export default function Renter() {
  return (
    <div data-testid="page-renter">
      <PageHeader title="My rentals" subtitle="Leases you rent: delivered vs advertised hashrate, verified blocks, and the stop button." />
      <RequireAuth what="your rentals">
        <RenterContent />
      </RequireAuth>
    </div>
  );
}
