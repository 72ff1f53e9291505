import { useMemo } from "react";
import { Link } from "react-router";
import { useActivity, useOverviewStats, useRecentBlocks } from "../api/queries";
import { useLive } from "../app/context";
import { BlockList } from "../components/domain";
import { Sparkline, TimeSeriesChart, type SeriesSpec } from "../components/TimeSeriesChart";
import { Badge, Card, EmptyState, ErrorState, LoadingRows, PageHeader, QueryView, Stat, Time } from "../components/ui";
import { formatHashrate, formatNumber } from "../lib/format";

export default function Overview() {
  const stats = useOverviewStats();
  const activity = useActivity(10);
  const blocks = useRecentBlocks();
  const liveFleet = useLive((s) => s.fleetSamples);
  const s = stats.data;

  const points = useMemo(() => {
    const base = (s?.sparkline ?? []).map((p) => ({ time: p.ts, value: p.hashrate }));
    const lastTs = base[base.length - 1]?.time ?? 0;
    return [...base, ...liveFleet.filter((p) => p.ts > lastTs).map((p) => ({ time: p.ts, value: p.hashrate }))];
  }, [s?.sparkline, liveFleet]);
  const series = useMemo<SeriesSpec[]>(
    () => [{ id: "fleet", label: "Fleet hashrate", kind: "area", data: points }],
    [points],
  );

  return (
    <div data-testid="page-overview">
      <PageHeader
        title="Overview"
        subtitle={
          s?.as_of ? (
            <>
              Platform figures as of <Time ts={s.as_of} />
            </>
          ) : (
            "Hashpower for rent, verified on every block."
          )
        }
      />
      {stats.isError && !s && <ErrorState error={stats.error} onRetry={() => void stats.refetch()} />}
      <div className="grid grid-cols-2 gap-3 md:grid-cols-3 xl:grid-cols-6">
        <Stat label="Fleet hashrate" value={formatHashrate(s?.hashrate)} loading={stats.isPending} testId="stat-hashrate">
          <Sparkline points={points} label="Fleet hashrate, last 24 hours" />
        </Stat>
        <Stat label="Online workers" value={formatNumber(s?.online_workers)} loading={stats.isPending} hint={s ? `${formatNumber(s.owners)} providers` : undefined} />
        <Stat label="GPUs online" value={formatNumber(s?.gpus)} loading={stats.isPending} />
        <Stat label="Leased now" value={formatNumber(s?.leased_workers)} loading={stats.isPending} />
        <Stat label="Open listings" value={formatNumber(s?.open_listings)} loading={stats.isPending} hint={<Link className="text-accent hover:underline" to="/marketplace">Browse the market →</Link>} />
        <Stat label="Blocks (24 h)" value={formatNumber(s?.blocks_24h)} loading={stats.isPending} hint={s && !s.complete ? "at least" : "verified"} />
      </div>

      <div className="mt-6 grid gap-6 xl:grid-cols-3">
        <Card title="Fleet hashrate, 24 hours" className="xl:col-span-2">
          {stats.isPending ? (
            <LoadingRows rows={6} />
          ) : points.length === 0 ? (
            <EmptyState title="No hashrate yet">The fleet figures appear within a minute of the first rig coming online.</EmptyState>
          ) : (
            <TimeSeriesChart series={series} format={formatHashrate} label="Fleet hashrate over the last 24 hours" testId="overview-chart" />
          )}
        </Card>
        <Card title="Hashrate by GPU model">
          {stats.isPending ? (
            <LoadingRows rows={4} />
          ) : !s || s.models.length === 0 ? (
            <EmptyState title="No GPUs online" />
          ) : (
            <ul className="space-y-3">
              {s.models.map((m) => {
                const share = s.hashrate > 0 ? m.hashrate / s.hashrate : 0;
                return (
                  <li key={m.model}>
                    <div className="flex justify-between gap-2 text-sm">
                      <span className="min-w-0 truncate" title={m.model}>
                        {m.model}
                      </span>
                      <span className="tabular shrink-0 text-muted">
                        {formatHashrate(m.hashrate)} · {m.workers} {m.workers === 1 ? "rig" : "rigs"}
                      </span>
                    </div>
                    <div className="mt-1 h-1.5 rounded-full bg-surface-2">
                      <div className="h-full rounded-full bg-accent" style={{ width: `${Math.max(2, share * 100)}%` }} />
                    </div>
                  </li>
                );
              })}
            </ul>
          )}
        </Card>
      </div>

      <div className="mt-6 grid gap-6 lg:grid-cols-2">
        <Card title="Recent blocks" actions={<Link to="/monitoring" className="text-xs text-accent hover:underline">Monitoring →</Link>}>
          <QueryView query={blocks}>
            <BlockList
              blocks={(blocks.data?.items ?? []).slice(0, 10)}
              empty={<EmptyState title="No blocks yet">Verified blocks from every rig on the platform show here.</EmptyState>}
            />
          </QueryView>
        </Card>
        <Card title="Activity">
          <QueryView
            query={activity}
            empty={
              (activity.data?.items ?? []).length === 0 && (
                <EmptyState title="Quiet so far">Leases starting and blocks being found appear here.</EmptyState>
              )
            }
          >
            <ol className="space-y-3" data-testid="activity-feed">
              {activity.data?.items.map((item, i) => (
                <li key={`${item.type}-${item.ts}-${i}`} className="flex items-start gap-3 text-sm">
                  <Badge tone={item.type === "block" ? "accent" : "info"}>{item.type === "block" ? "Block" : "Lease"}</Badge>
                  <span className="min-w-0 flex-1 break-words">{item.summary}</span>
                  <Time ts={item.ts} className="text-xs text-muted" />
                </li>
              ))}
            </ol>
          </QueryView>
        </Card>
      </div>
    </div>
  );
}
