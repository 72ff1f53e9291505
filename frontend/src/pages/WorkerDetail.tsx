import { useId, useMemo, useState, type FormEvent } from "react";
import { Link, useParams } from "react-router";
import { ApiError } from "../api/client";
import { useWorkerAnomalies, useWorkerProfit, useWorkerRecommendations } from "../api/insights";
import { useHashrateHistory, useReputation, useSendCommand, useWorker } from "../api/queries";
import type { CommandRequest, ReportCounts, WorkerDetail as Worker } from "../api/types";
import { useLive } from "../app/context";
import { RequireAuth } from "../components/Auth";
import { LiveHashrate, WorkerStatus } from "../components/domain";
import { FindingList, NoBaseline, RecommendationList } from "../components/Insights";
import { ProfitChart, ProfitDays, ProfitPrice, ProfitTotals } from "../components/Profit";
import { TimeSeriesChart, type SeriesSpec } from "../components/TimeSeriesChart";
import { WindowPicker } from "../components/WindowPicker";
import { Badge, Button, Card, Dialog, EmptyState, ErrorState, Field, Input, LoadingRows, PageHeader, QueryView, Stat, Time } from "../components/ui";
import {
  formatDuration,
  formatHashrate,
  formatNumber,
  formatPercent,
  formatPower,
  formatPricePerHour,
  formatTemperature,
  shortAddress,
  shortId,
} from "../lib/format";
import { PROFIT_DAYS } from "../lib/profit";

const SERIES_COLORS = ["warn", "danger", "info", "accent", "muted"] as const;

function HistoryCharts({ workerId }: { workerId: string }) {
  const [windowSec, setWindowSec] = useState(86_400);
  const history = useHashrateHistory(workerId, windowSec);
  const live = useLive((s) => s.samplesFor(workerId));
  const { hashrate, temps } = useMemo(() => {
    const points = history.data?.points ?? [];
    const hash = points.filter((p) => p.hashrate != null).map((p) => ({ time: p.ts, value: p.hashrate ?? 0 }));
    const last = hash[hash.length - 1]?.time ?? 0;
    hash.push(...live.filter((s) => s.ts > last).map((s) => ({ time: s.ts, value: s.hashrate })));
    const gpuKeys = new Set<string>();
    for (const p of points) for (const key of Object.keys(p.values)) if (/^gpu\d+\.temperature_c$/.test(key)) gpuKeys.add(key);
    const tempSeries: SeriesSpec[] = [...gpuKeys].sort().map((key, i) => ({
      id: key,
      label: `GPU ${key.slice(3, key.indexOf("."))}`,
      kind: "line",
      color: SERIES_COLORS[i % SERIES_COLORS.length],
      data: points.filter((p) => p.values[key] != null).map((p) => ({ time: p.ts, value: p.values[key] ?? 0 })),
    }));
    return { hashrate: [{ id: "hashrate", label: "Hashrate", kind: "area", data: hash }] as SeriesSpec[], temps: tempSeries };
  }, [history.data, live]);

  return (
    <Card title="History" actions={<WindowPicker value={windowSec} onChange={setWindowSec} />}>
      <QueryView
        query={history}
        rows={6}
        empty={
          (hashrate[0]?.data.length ?? 0) === 0 && (
            <EmptyState title="No history in this window">A point is recorded every few minutes while the rig reports.</EmptyState>
          )
        }
      >
        <div className="space-y-6">
          <div>
            <h3 className="mb-2 text-xs font-medium uppercase tracking-wider text-muted">Hashrate</h3>
            <TimeSeriesChart series={hashrate} format={formatHashrate} label="Hashrate history" testId="worker-hashrate-chart" />
          </div>
          {temps.length > 0 && (
            <div>
              <h3 className="mb-2 text-xs font-medium uppercase tracking-wider text-muted">GPU temperature</h3>
              <TimeSeriesChart series={temps} format={(v) => formatTemperature(v)} label="GPU temperatures" height={200} zeroBased={false} />
            </div>
          )}
        </div>
      </QueryView>
    </Card>
  );
}

function Commands({ worker }: { worker: Worker }) {
  const send = useSendCommand(worker.worker_id);
  const [confirm, setConfirm] = useState<CommandRequest | null>(null);
  const ids = { difficulty: useId(), heartbeat: useId() };
  const [difficulty, setDifficulty] = useState("");
  const [heartbeat, setHeartbeat] = useState("");
  const submitConfig = (event: FormEvent) => {
    event.preventDefault();
    const config: NonNullable<CommandRequest["config"]> = {};
    if (difficulty.trim()) config.difficulty = Number(difficulty);
    if (heartbeat.trim()) config.heartbeat_sec = Number(heartbeat);
    if (Object.keys(config).length === 0) return;
    send.mutate({ action: "set_config", config });
  };
  return (
    <Card title="Commands" testId="worker-commands">
      <div className="flex flex-wrap gap-2">
        <Button onClick={() => send.mutate({ action: "pause" })} busy={send.isPending && send.variables?.action === "pause"}>
          Pause
        </Button>
        <Button onClick={() => send.mutate({ action: "resume" })} busy={send.isPending && send.variables?.action === "resume"}>
          Resume
        </Button>
        <Button variant="danger" onClick={() => setConfirm({ action: "shutdown" })}>
          Shut down
        </Button>
      </div>
      <form onSubmit={submitConfig} className="mt-4 grid grid-cols-2 items-end gap-3 sm:grid-cols-3">
        <Field label="Difficulty (KiB)" htmlFor={ids.difficulty}>
          <Input id={ids.difficulty} inputMode="numeric" placeholder={worker.owner_view?.difficulty?.toString() ?? "—"} value={difficulty} onChange={(e) => setDifficulty(e.target.value)} />
        </Field>
        <Field label="Heartbeat (s)" htmlFor={ids.heartbeat}>
          <Input id={ids.heartbeat} inputMode="numeric" placeholder="5–3600" value={heartbeat} onChange={(e) => setHeartbeat(e.target.value)} />
        </Field>
        <Button type="submit" disabled={!difficulty.trim() && !heartbeat.trim()} busy={send.isPending && send.variables?.action === "set_config"}>
          Send settings
        </Button>
      </form>
      <p className="mt-3 text-xs text-muted">Commands go to the rig's control topic; its next status report shows the result.</p>
      <Dialog
        open={confirm !== null}
        onClose={() => setConfirm(null)}
        title="Shut the miner down?"
        footer={
          <>
            <Button variant="ghost" onClick={() => setConfirm(null)}>
              Cancel
            </Button>
            <Button
              variant="danger"
              onClick={() => {
                if (confirm) send.mutate(confirm);
                setConfirm(null);
              }}
            >
              Shut down
            </Button>
          </>
        }
      >
        <p className="text-sm text-muted">The miner process exits. Someone has to start it again on the rig; an active lease stops delivering.</p>
      </Dialog>
    </Card>
  );
}

/** The rig's open anomalies and what to do about them (its owner only). */
function RigInsights({ workerId }: { workerId: string }) {
  const anomalies = useWorkerAnomalies(workerId);
  const recommendations = useWorkerRecommendations(workerId);
  const open = (anomalies.data ?? []).filter((f) => f.open);
  const recs = recommendations.data?.items ?? [];
  return (
    <div className="mt-6 grid gap-6 xl:grid-cols-2">
      <Card title="Open anomalies" bodyClassName="p-0" testId="worker-anomalies">
        <QueryView query={anomalies} padded rows={2}>
          <FindingList
            findings={open}
            showRig={false}
            empty={
              (anomalies.data ?? []).length === 0 ? (
                <NoBaseline title="No anomalies" />
              ) : (
                <EmptyState title="Nothing unusual right now" icon="✓">
                  Its earlier findings are on the <Link to="/insights" className="text-accent hover:underline">Insights page</Link>.
                </EmptyState>
              )
            }
          />
        </QueryView>
      </Card>
      <Card title="Recommendations" bodyClassName="p-0" testId="worker-recommendations">
        <QueryView query={recommendations} padded rows={2}>
          <RecommendationList items={recs} showRig={false} empty={<NoBaseline title="No recommendations for this rig" />} />
        </QueryView>
      </Card>
    </div>
  );
}

/** What the platform and the network made of the rig's reports, like a pool's accepted and
 * rejected figures (its owner only). */
function Reports({ reports }: { reports: ReportCounts }) {
  const rows = [
    { label: "Blocks, platform", title: "Verified by the platform, or refused as invalid", ok: reports.blocks_verified, refused: reports.blocks_refused },
    { label: "Blocks, network", title: "Accepted by the XenBlocks node (duplicates too), or refused", ok: reports.network_accepted, refused: reports.network_refused },
    { label: "Shares", title: "Verified, or refused: invalid or after their lease", ok: reports.shares_verified, refused: reports.shares_refused },
  ];
  return (
    <Card title="Reports" bodyClassName="p-0" testId="worker-reports">
      <table className="w-full text-sm">
        <caption className="sr-only">The rig's block and share reports, accepted and refused</caption>
        <thead className="text-left text-xs uppercase tracking-wider text-muted">
          <tr>
            <th scope="col" className="py-2 pl-4 pr-3 font-medium">
              <span className="sr-only">Reports</span>
            </th>
            <th scope="col" className="py-2 pr-3 text-right font-medium">Accepted</th>
            <th scope="col" className="py-2 pr-3 text-right font-medium">Refused</th>
            <th scope="col" className="py-2 pr-4 text-right font-medium">Rate</th>
          </tr>
        </thead>
        <tbody className="tabular">
          {rows.map((r) => (
            <tr key={r.label} className="border-t border-border" data-testid="report-row">
              <th scope="row" className="py-2 pl-4 pr-3 text-left font-normal" title={r.title}>
                {r.label}
              </th>
              <td className="py-2 pr-3 text-right">{formatNumber(r.ok)}</td>
              <td className={`py-2 pr-3 text-right ${r.refused > 0 ? "text-danger" : ""}`}>{formatNumber(r.refused)}</td>
              <td className="py-2 pr-4 text-right">{r.ok + r.refused > 0 ? formatPercent(r.ok / (r.ok + r.refused), 1) : "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="border-t border-border px-4 py-2 text-xs text-muted">
        Blocks stored over the last month{reports.blocks_complete ? "" : " (the newest 1,000 only)"}; the network's answers are for
        the verified ones. Shares are added up every 15 minutes at most.
      </p>
    </Card>
  );
}

/** The rig's energy, power cost, lease revenue and net per day (its owner only). */
function RigProfit({ workerId }: { workerId: string }) {
  const profit = useWorkerProfit(workerId, PROFIT_DAYS);
  const data = profit.data;
  return (
    <Card title={`Profit, last ${PROFIT_DAYS} days`} className="mt-6" testId="worker-profit" actions={data && <ProfitPrice price={data.price} />}>
      <QueryView query={profit} rows={4}>
        {data && (
          <div className="space-y-4">
            <ProfitTotals totals={data.rig.totals} price={data.price} />
            <ProfitChart days={data.rig.days} />
            {!data.complete && <p className="text-xs text-warn">Not every history point or payout could be read: the figures are a lower bound.</p>}
            <ProfitDays days={data.rig.days} currency={data.price.currency} />
          </div>
        )}
      </QueryView>
    </Card>
  );
}

function ReputationSummary({ workerId }: { workerId: string }) {
  const rep = useReputation(workerId);
  if (rep.isPending) return <LoadingRows rows={2} />;
  if (rep.isError) return null;
  return (
    <div className="text-sm">
      <span className="tabular text-2xl font-semibold">{rep.data.score == null ? "—" : Math.round(rep.data.score)}</span>
      <span className="text-muted"> / 100 reputation</span>
      <p className="text-xs text-muted">
        {rep.data.verified_blocks} verified blocks · {rep.data.completed_leases} leases · {rep.data.age_days.toFixed(1)} days old
      </p>
    </div>
  );
}

function WorkerContent({ workerId }: { workerId: string }) {
  const worker = useWorker(workerId);
  const updatedAt = useLive((s) => s.updatedAt(workerId));
  if (worker.isPending) return <LoadingRows rows={8} label="Loading the rig" />;
  if (worker.isError) {
    if (worker.error instanceof ApiError && worker.error.status === 404)
      return (
        <EmptyState title="Rig not found" action={<Link to="/monitoring" className="text-sm text-accent hover:underline">Back to monitoring</Link>}>
          It may have been revoked.
        </EmptyState>
      );
    return <ErrorState error={worker.error} onRetry={() => void worker.refetch()} />;
  }
  const w = worker.data;
  const owner = w.owner_view;
  const offline = owner ? owner.offline : !w.online;
  const lease = owner?.active_lease;
  return (
    <>
      <PageHeader
        title={w.name || shortId(w.worker_id)}
        subtitle={<span className="font-mono text-xs">{w.worker_id}</span>}
        actions={<WorkerStatus offline={offline} state={w.state} />}
      />
      <div className="grid grid-cols-2 gap-3 md:grid-cols-3 xl:grid-cols-6">
        <Stat label="Hashrate" value={<LiveHashrate value={w.hashrate} updatedAt={updatedAt} testId="worker-hashrate" />} />
        <Stat label="GPUs" value={`${w.active_gpus} / ${w.gpus.length || w.active_gpus}`} hint={w.gpu_model ?? undefined} />
        <Stat label="Memory" value={`${w.total_memory_gb} GB`} />
        <Stat label="Blocks (reported)" value={formatNumber(w.accepted_blocks)} />
        <Stat label="Last seen" value={owner ? <Time ts={owner.last_seen} /> : "—"} hint={owner?.version ? `miner ${owner.version}` : undefined} />
        <Stat label="Uptime" value={owner ? formatDuration(owner.uptime_sec) : "—"} hint={owner?.difficulty ? `difficulty ${owner.difficulty}` : undefined} />
      </div>
      {owner?.mines_for_another && (
        <div className="mt-4 rounded-lg border border-warn/40 bg-warn/5 p-3 text-sm" role="alert" data-testid="worker-mines-elsewhere">
          This rig says it mines for <span className="font-mono">{owner.mining_address}</span>, not your address: its own blocks
          count for nobody here. Set its address to yours (or run the bridge with <code>--mine-for-owner</code>).
        </div>
      )}
      {owner && (
        <p className="mt-3 text-xs text-muted" data-testid="worker-proof">
          Leases pay for its verified {owner.share_mode ? "shares" : "blocks (it sends no shares)"}
          {owner.block_pattern != null && ` · block pattern ${owner.block_pattern || "XEN11 (default)"}`}
        </p>
      )}
      <div className="mt-6 grid gap-6 xl:grid-cols-3">
        <div className="xl:col-span-2">
          {owner ? (
            <HistoryCharts workerId={workerId} />
          ) : (
            <Card title="History">
              <EmptyState title="History is for the rig's owner">Its live hashrate shows above while you rent it.</EmptyState>
            </Card>
          )}
        </div>
        <div className="space-y-6">
          <Card title="Market">
            <div className="space-y-3">
              <ReputationSummary workerId={workerId} />
              {lease ? (
                <div className="rounded-lg border border-info/30 bg-info/5 p-3 text-sm" data-testid="worker-lease">
                  <div className="flex items-center justify-between">
                    <Badge tone="info">Leased</Badge>
                    <span className="text-xs text-muted">
                      ends <Time ts={lease.ends_at} />
                    </span>
                  </div>
                  <p className="mt-2">
                    to <span className="font-mono">{shortAddress(lease.renter)}</span> at {formatPricePerHour(lease.price_per_hour)}
                  </p>
                  <p className="text-xs text-muted">
                    {lease.shares} shares · {lease.blocks} blocks · {formatHashrate(lease.advertised_hashrate)} advertised
                  </p>
                </div>
              ) : w.listing_id ? (
                <Badge tone="accent">Listed on the marketplace</Badge>
              ) : (
                <p className="text-sm text-muted">Not listed.{owner && <> List it from the <Link to="/provider" className="text-accent hover:underline">Provider page</Link>.</>}</p>
              )}
            </div>
          </Card>
          {owner && <Reports reports={owner.reports} />}
          {owner && <Commands worker={w} />}
        </div>
      </div>
      {owner && <RigInsights workerId={workerId} />}
      {owner && <RigProfit workerId={workerId} />}
      {owner && (
        <Card title="GPUs" className="mt-6" bodyClassName="p-0">
          {owner.telemetry.length === 0 && w.gpus.length === 0 ? (
            <EmptyState title="No GPU telemetry">A CPU rig, or no heartbeat with GPU figures yet.</EmptyState>
          ) : (
            <div className="overflow-x-auto">
              <table className="w-full text-sm">
                <caption className="sr-only">Per-GPU telemetry at the last heartbeat</caption>
                <thead className="text-left text-xs uppercase tracking-wider text-muted">
                  <tr>
                    <th scope="col" className="py-2 pl-4 pr-3 font-medium">GPU</th>
                    <th scope="col" className="py-2 pr-3 font-medium">Model</th>
                    <th scope="col" className="py-2 pr-3 text-right font-medium">Hashrate</th>
                    <th scope="col" className="py-2 pr-3 text-right font-medium">Temp</th>
                    <th scope="col" className="py-2 pr-3 text-right font-medium">Fan</th>
                    <th scope="col" className="py-2 pr-4 text-right font-medium">Power</th>
                  </tr>
                </thead>
                <tbody className="tabular">
                  {(owner.telemetry.length ? owner.telemetry : w.gpus.map((g) => ({ index: g.index, hashrate: 0, temperature_c: null, fan_pct: null, power_w: null }))).map((t) => {
                    const info = w.gpus.find((g) => g.index === t.index);
                    return (
                      <tr key={t.index} className="border-t border-border">
                        <td className="py-2 pl-4 pr-3">#{t.index}</td>
                        <td className="py-2 pr-3">{info ? `${info.name} · ${info.memory_gb} GB` : "—"}</td>
                        <td className="py-2 pr-3 text-right">{formatHashrate(t.hashrate)}</td>
                        <td className={`py-2 pr-3 text-right ${t.temperature_c != null && t.temperature_c >= 85 ? "text-danger" : ""}`}>
                          {formatTemperature(t.temperature_c)}
                        </td>
                        <td className="py-2 pr-3 text-right">{t.fan_pct == null ? "—" : `${Math.round(t.fan_pct)}%`}</td>
                        <td className="py-2 pr-4 text-right">{formatPower(t.power_w)}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}
        </Card>
      )}
      {!owner && (
        <p className="mt-6 text-xs text-muted">
          Telemetry, history and commands are shown to the rig's owner. Renters see its live hashrate on <Link to="/renter" className="text-accent hover:underline">My rentals</Link>
.
        </p>
      )}
    </>
  );
}

export default function WorkerDetail() {
  const { workerId = "" } = useParams();
  return (
    <div data-testid="page-worker">
      <RequireAuth what="this rig">
        <WorkerContent workerId={workerId} />
      </RequireAuth>
    </div>
  );
}
