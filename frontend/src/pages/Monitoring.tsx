import { Fragment, useId, useMemo, useState } from "react";
import { WindowPicker } from "../components/WindowPicker";
import { hottest, sortWorkers, totalPower, type Sort } from "../lib/fleet";
import { Link } from "react-router";
import { useFleet, useFleetStats, useHashrateHistory, useMyBlocks } from "../api/queries";
import type { FleetWorker } from "../api/types";
import { useLive, useServices } from "../app/context";
import { RequireAuth } from "../components/Auth";
import { BlockList, LiveHashrate, WorkerStatus } from "../components/domain";
import { TimeSeriesChart, type SeriesSpec } from "../components/TimeSeriesChart";
import {
  Badge,
  Button,
  Card,
  EmptyState,
  Input,
  PageHeader,
  QueryView,
  Select,
  Stat,
  Time,
} from "../components/ui";
import { cx } from "../lib/cx";
import { formatHashrate, formatNumber, formatPower, formatTemperature, shortId } from "../lib/format";

type Filter = "all" | "online" | "offline" | "leased";
function GpuTable({ worker }: { worker: FleetWorker }) {
  const rows = worker.telemetry.length
    ? worker.telemetry
    : worker.gpus.map((g) => ({ index: g.index, hashrate: 0, temperature_c: null, fan_pct: null, power_w: null }));
  if (rows.length === 0) return <p className="text-sm text-muted">No GPU telemetry reported (CPU rig, or no heartbeat yet).</p>;
  return (
    <table className="w-full text-xs">
      <caption className="sr-only">GPUs of {worker.name || worker.worker_id}</caption>
      <thead className="text-left text-muted">
        <tr>
          <th scope="col" className="py-1 pr-3 font-medium">GPU</th>
          <th scope="col" className="py-1 pr-3 font-medium">Model</th>
          <th scope="col" className="py-1 pr-3 text-right font-medium">Hashrate</th>
          <th scope="col" className="py-1 pr-3 text-right font-medium">Temp</th>
          <th scope="col" className="py-1 pr-3 text-right font-medium">Fan</th>
          <th scope="col" className="py-1 text-right font-medium">Power</th>
        </tr>
      </thead>
      <tbody className="tabular">
        {rows.map((t) => {
          const info = worker.gpus.find((g) => g.index === t.index);
          const hot = t.temperature_c != null && t.temperature_c >= 85;
          return (
            <tr key={t.index} className="border-t border-border/60">
              <td className="py-1 pr-3">#{t.index}</td>
              <td className="py-1 pr-3">{info ? `${info.name} (${info.memory_gb} GB)` : "—"}</td>
              <td className="py-1 pr-3 text-right">{formatHashrate(t.hashrate)}</td>
              <td className={cx("py-1 pr-3 text-right", hot && "font-semibold text-danger")}>{formatTemperature(t.temperature_c)}</td>
              <td className="py-1 pr-3 text-right">{t.fan_pct == null ? "—" : `${Math.round(t.fan_pct)}%`}</td>
              <td className="py-1 text-right">{formatPower(t.power_w)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function FleetRow({ worker, updatedAt }: { worker: FleetWorker; updatedAt: number | null }) {
  const [open, setOpen] = useState(false);
  const detailId = useId();
  const temp = hottest(worker);
  return (
    <Fragment>
      <tr
        className={cx("border-t border-border", worker.offline && "bg-danger/5")}
        data-testid="fleet-row"
        data-worker-id={worker.worker_id}
        data-offline={worker.offline ? "true" : "false"}
      >
        <td className="py-2 pl-3 pr-2">
          <button
            type="button"
            onClick={() => setOpen((v) => !v)}
            aria-expanded={open}
            aria-controls={detailId}
            aria-label={`${open ? "Hide" : "Show"} GPUs of ${worker.name || worker.worker_id}`}
            className="rounded px-1 text-muted hover:text-text"
          >
            <span aria-hidden="true">{open ? "▾" : "▸"}</span>
          </button>
        </td>
        <td className="max-w-[14rem] py-2 pr-3">
          <Link to={`/workers/${encodeURIComponent(worker.worker_id)}`} className="block truncate font-medium hover:text-accent">
            {worker.name || shortId(worker.worker_id)}
          </Link>
          <span className="block truncate font-mono text-[11px] text-muted">{shortId(worker.worker_id, 12, 4)}</span>
        </td>
        <td className="py-2 pr-3">
          <WorkerStatus offline={worker.offline} state={worker.state} />
        </td>
        <td className="py-2 pr-3 text-right">
          <LiveHashrate value={worker.hashrate} updatedAt={updatedAt} />
        </td>
        <td className="hidden py-2 pr-3 md:table-cell">
          <span className="text-sm">{worker.gpu_model ?? "—"}</span>
          <span className="block text-[11px] text-muted">
            {worker.active_gpus}/{worker.gpus.length || worker.active_gpus} active
          </span>
        </td>
        <td className={cx("hidden py-2 pr-3 text-right tabular sm:table-cell", temp != null && temp >= 85 && "text-danger")}>
          {formatTemperature(temp)}
        </td>
        <td className="hidden py-2 pr-3 text-right tabular lg:table-cell">{formatPower(totalPower(worker))}</td>
        <td className="hidden py-2 pr-3 text-right tabular lg:table-cell">{formatNumber(worker.accepted_blocks)}</td>
        <td className="py-2 pr-3 text-right text-xs text-muted">
          <Time ts={worker.last_seen} />
        </td>
        <td className="hidden py-2 pr-3 xl:table-cell">
          {worker.lease_id ? <Badge tone="info">Leased</Badge> : worker.listing_id ? <Badge>Listed</Badge> : <span className="text-xs text-muted">—</span>}
        </td>
      </tr>
      {open && (
        <tr id={detailId} className={cx(worker.offline && "bg-danger/5")}>
          <td />
          <td colSpan={9} className="pb-3 pr-3">
            <GpuTable worker={worker} />
          </td>
        </tr>
      )}
    </Fragment>
  );
}

function FleetTable() {
  const fleet = useFleet();
  const { liveStore } = useServices();
  // Re-render on live updates (the rows read each worker's last update time).
  useLive((s) => s.received);
  const [filter, setFilter] = useState<Filter>("all");
  const [sort, setSort] = useState<Sort>("status");
  const [search, setSearch] = useState("");
  const items = useMemo(() => fleet.data?.items ?? [], [fleet.data]);
  const shown = useMemo(() => {
    const q = search.trim().toLowerCase();
    const filtered = items.filter((w) => {
      if (filter === "online" && w.offline) return false;
      if (filter === "offline" && !w.offline) return false;
      if (filter === "leased" && !w.lease_id) return false;
      return !q || w.name.toLowerCase().includes(q) || w.worker_id.toLowerCase().includes(q) || (w.gpu_model ?? "").toLowerCase().includes(q);
    });
    return sortWorkers(filtered, sort);
  }, [items, filter, sort, search]);
  const offline = items.filter((w) => w.offline).length;

  return (
    <Card
      title={
        <span className="flex items-center gap-2">
          Fleet {items.length > 0 && <span className="text-muted">({items.length})</span>}
          {offline > 0 && <Badge tone="danger">{offline} offline</Badge>}
        </span>
      }
      actions={
        <div className="flex flex-wrap items-center gap-2">
          <label className="sr-only" htmlFor="fleet-search">Search rigs</label>
          <Input id="fleet-search" placeholder="Search…" value={search} onChange={(e) => setSearch(e.target.value)} className="w-36 py-1" />
          <label className="sr-only" htmlFor="fleet-filter">Show</label>
          <Select id="fleet-filter" value={filter} onChange={(e) => setFilter(e.target.value as Filter)} className="w-auto py-1">
            <option value="all">All rigs</option>
            <option value="online">Online</option>
            <option value="offline">Offline</option>
            <option value="leased">Leased</option>
          </Select>
          <label className="sr-only" htmlFor="fleet-sort">Sort by</label>
          <Select id="fleet-sort" value={sort} onChange={(e) => setSort(e.target.value as Sort)} className="w-auto py-1">
            <option value="status">Offline first</option>
            <option value="name">Name</option>
            <option value="hashrate">Hashrate</option>
            <option value="temperature">Hottest</option>
          </Select>
        </div>
      }
      bodyClassName="p-0"
      testId="fleet-table"
    >
      <QueryView
        query={fleet}
        padded
        rows={5}
        loadingLabel="Loading your fleet"
        empty={
          items.length === 0 ? (
            <EmptyState title="No rigs enrolled yet" action={<Link to="/provider" className="text-sm text-accent hover:underline">Enrol a rig →</Link>}>
              Enrol a rig with the miner's one-line command and it shows here with its live figures.
            </EmptyState>
          ) : (
            shown.length === 0 && <EmptyState title="No rig matches">Change the filter or search.</EmptyState>
          )
        }
      >
        <div className="overflow-x-auto">
          <table className="w-full text-sm">
            <caption className="sr-only">Your rigs with their live figures; offline rigs are highlighted.</caption>
            <thead className="text-left text-xs uppercase tracking-wider text-muted">
              <tr>
                <th scope="col" className="w-8 py-2 pl-3"><span className="sr-only">Details</span></th>
                <th scope="col" className="py-2 pr-3 font-medium">Rig</th>
                <th scope="col" className="py-2 pr-3 font-medium">Status</th>
                <th scope="col" className="py-2 pr-3 text-right font-medium">Hashrate</th>
                <th scope="col" className="hidden py-2 pr-3 font-medium md:table-cell">GPUs</th>
                <th scope="col" className="hidden py-2 pr-3 text-right font-medium sm:table-cell">Max temp</th>
                <th scope="col" className="hidden py-2 pr-3 text-right font-medium lg:table-cell">Power</th>
                <th scope="col" className="hidden py-2 pr-3 text-right font-medium lg:table-cell">Blocks</th>
                <th scope="col" className="py-2 pr-3 text-right font-medium">Last seen</th>
                <th scope="col" className="hidden py-2 pr-3 font-medium xl:table-cell">Market</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((w) => (
                <FleetRow key={w.worker_id} worker={w} updatedAt={liveStore.updatedAt(w.worker_id)} />
              ))}
            </tbody>
          </table>
          {fleet.data?.truncated && <p className="p-3 text-xs text-muted">Showing the first {items.length} rigs.</p>}
        </div>
      </QueryView>
    </Card>
  );
}

function FleetChart() {
  const [windowSec, setWindowSec] = useState(86_400);
  const history = useHashrateHistory(null, windowSec);
  const live = useLive((s) => s.ownerSamples);
  const series = useMemo<SeriesSpec[]>(() => {
    const points = (history.data?.points ?? [])
      .filter((p) => p.hashrate != null)
      .map((p) => ({ time: p.ts, value: p.hashrate ?? 0 }));
    const last = points[points.length - 1]?.time ?? 0;
    const tail = live.filter((s) => s.ts > last).map((s) => ({ time: s.ts, value: s.hashrate }));
    return [{ id: "owner", label: "Your fleet", kind: "area", data: [...points, ...tail] }];
  }, [history.data, live]);
  const empty = (series[0]?.data.length ?? 0) === 0;
  return (
    <Card title="Your fleet's hashrate" actions={<WindowPicker value={windowSec} onChange={setWindowSec} />}>
      <QueryView
        query={history}
        rows={6}
        empty={empty && <EmptyState title="No history in this window">The fleet's hashrate is recorded once a minute while rigs are online.</EmptyState>}
      >
        <TimeSeriesChart series={series} format={formatHashrate} label="Your fleet's hashrate" testId="fleet-chart" />
      </QueryView>
    </Card>
  );
}

function MonitoringContent() {
  const stats = useFleetStats();
  const blocks = useMyBlocks();
  const s = stats.data;
  return (
    <>
      <div className="grid grid-cols-2 gap-3 md:grid-cols-3 xl:grid-cols-6">
        <Stat label="Hashrate" value={formatHashrate(s?.hashrate)} loading={stats.isPending} testId="stat-owner-hashrate" />
        <Stat label="Online" value={s ? `${s.workers_online} / ${s.workers_total}` : "—"} loading={stats.isPending} />
        <Stat
          label="Offline"
          value={<span className={cx(s && s.workers_offline > 0 && "text-danger")}>{formatNumber(s?.workers_offline)}</span>}
          loading={stats.isPending}
        />
        <Stat label="GPUs online" value={s ? `${s.online_gpus} / ${s.gpus}` : "—"} loading={stats.isPending} />
        <Stat label="Leased now" value={formatNumber(s?.leased_now)} loading={stats.isPending} />
        <Stat label="Blocks (24 h)" value={formatNumber(s?.verified_blocks_24h)} loading={stats.isPending} hint="verified" />
      </div>
      <div className="mt-6">
        <FleetTable />
      </div>
      <div className="mt-6 grid gap-6 xl:grid-cols-3">
        <div className="xl:col-span-2">
          <FleetChart />
        </div>
        <Card title="Your recent blocks">
          <QueryView query={blocks}>
            <BlockList
              blocks={(blocks.data?.items ?? []).slice(0, 15)}
              empty={<EmptyState title="No blocks yet">Blocks your rigs find, or that are mined for you, appear here live.</EmptyState>}
            />
          </QueryView>
        </Card>
      </div>
    </>
  );
}

export default function Monitoring() {
  const { queryClient } = useServices();
  return (
    <div data-testid="page-monitoring">
      <PageHeader
        title="Monitoring"
        subtitle="Your rigs, live: per-GPU telemetry, hashrate and blocks."
        actions={
          <Button size="sm" variant="ghost" onClick={() => void queryClient.invalidateQueries({ queryKey: ["private"] })}>
            Refresh
          </Button>
        }
      />
      <RequireAuth what="your fleet">
        <MonitoringContent />
      </RequireAuth>
    </div>
  );
}
