import { Link } from "react-router";
import { useAnomalies, useGpuModels, useProfit, useRecommendations } from "../api/insights";
import type { FleetProfitOut } from "../api/types";
import { useSession } from "../app/context";
import { RequireAuth } from "../components/Auth";
import { FindingList, NoBaseline, RecommendationList } from "../components/Insights";
import { Net, ProfitChart, ProfitPrice, ProfitTotals } from "../components/Profit";
import { Badge, Card, EmptyState, PageHeader, QueryView, Time } from "../components/ui";
import { formatCredits, formatHashrate, formatNumber, formatPower, formatTemperature } from "../lib/format";
import { formatEfficiency, formatWork } from "../lib/insights";
import { formatEnergy, formatPowerCost, PROFIT_DAYS } from "../lib/profit";

const CLOSED_SHOWN = 10;

function Anomalies() {
  const anomalies = useAnomalies();
  const items = anomalies.data?.items ?? [];
  const open = items.filter((f) => f.open);
  const closed = items.filter((f) => !f.open).slice(0, CLOSED_SHOWN);
  return (
    <>
      <Card title={<>Open anomalies {open.length > 0 && <Badge tone="danger">{open.length}</Badge>}</>} bodyClassName="p-0" testId="open-anomalies">
        <QueryView query={anomalies} padded rows={3}>
          <FindingList
            findings={open}
            empty={
              <EmptyState title="Nothing unusual right now" icon="✓">
                Every heartbeat is scored against its rig's own past and its GPU model's peers; a finding opens when most of
                the last ten stay out of line for four minutes or more. {items.length === 0 && <NoBaselineHint />}
              </EmptyState>
            }
          />
        </QueryView>
      </Card>
      {closed.length > 0 && (
        <Card title="Recently closed" bodyClassName="p-0" testId="closed-anomalies">
          <FindingList findings={closed} empty={null} />
        </Card>
      )}
    </>
  );
}

function NoBaselineHint() {
  return <span className="mt-1 block">A rig needs a few hours of history before it is scored.</span>;
}

function Recommendations() {
  const recommendations = useRecommendations();
  const items = recommendations.data?.items ?? [];
  return (
    <Card
      title="Recommendations"
      actions={recommendations.data && <span className="text-xs text-muted">valued at difficulty {formatNumber(recommendations.data.difficulty)}</span>}
      bodyClassName="p-0"
      testId="recommendations"
    >
      <QueryView query={recommendations} padded rows={3}>
        <RecommendationList items={items} empty={<NoBaseline title="No recommendations yet" />} />
      </QueryView>
    </Card>
  );
}

function GpuModels() {
  const models = useGpuModels();
  const items = models.data?.items ?? [];
  return (
    <Card
      title="Efficiency by GPU model"
      actions={models.data && <span className="text-xs text-muted">H/s at today's difficulty {formatNumber(models.data.difficulty)}</span>}
      bodyClassName="p-0"
      testId="gpu-models"
    >
      <QueryView
        query={models}
        padded
        rows={3}
        empty={
          items.length === 0 && (
            <EmptyState title="No GPU model has enough rigs yet">
              A model is shown once at least five online rigs run it, each with a baseline: a rig needs a few hours of history
              before it is scored.
            </EmptyState>
          )
        }
      >
        <div className="overflow-x-auto">
          <table className="w-full text-sm">
            <caption className="sr-only">Per-GPU medians by GPU model, across the platform's online rigs</caption>
            <thead className="text-left text-xs uppercase tracking-wider text-muted">
              <tr>
                <th scope="col" className="py-2 pl-4 pr-3 font-medium">GPU model</th>
                <th scope="col" className="py-2 pr-3 text-right font-medium">Hashrate / GPU</th>
                <th scope="col" className="py-2 pr-3 text-right font-medium">Work / GPU</th>
                <th scope="col" className="py-2 pr-3 text-right font-medium">Work per watt</th>
                <th scope="col" className="py-2 pr-3 text-right font-medium">Power</th>
                <th scope="col" className="py-2 pr-3 text-right font-medium">Temp</th>
                <th scope="col" className="py-2 pr-4 text-right font-medium">Rigs (GPUs)</th>
              </tr>
            </thead>
            <tbody className="tabular">
              {items.map((m) => (
                <tr key={m.gpu_model} className="border-t border-border" data-testid="gpu-model-row">
                  <th scope="row" className="py-2 pl-4 pr-3 text-left font-medium">{m.gpu_model}</th>
                  <td className="py-2 pr-3 text-right">{formatHashrate(m.hashrate_median)}</td>
                  <td className="py-2 pr-3 text-right">{formatWork(m.work_median)}</td>
                  <td className="py-2 pr-3 text-right">{formatEfficiency(m.efficiency_median)}</td>
                  <td className="py-2 pr-3 text-right">{formatPower(m.power_median_w)}</td>
                  <td className="py-2 pr-3 text-right">{formatTemperature(m.temperature_median_c)}</td>
                  <td className="py-2 pr-4 text-right">
                    {m.rigs} ({m.gpus})
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {items[0] && (
            <p className="px-4 py-2 text-xs text-muted">
              Medians per GPU from each rig's baseline, computed <Time ts={items[0].computed_at} />.
            </p>
          )}
        </div>
      </QueryView>
    </Card>
  );
}

function Profit() {
  const profit = useProfit(PROFIT_DAYS);
  const data = profit.data;
  return (
    <Card title={`Profit, last ${PROFIT_DAYS} days`} testId="profit" actions={data && <ProfitPrice price={data.price} />}>
      <QueryView query={profit} rows={5}>
        {data && (
          <div className="space-y-4">
            <ProfitTotals totals={data.totals} price={data.price} />
            <ProfitChart days={data.days} />
            {!data.complete && <p className="text-xs text-warn">Not every history point or payout could be read: the figures are a lower bound.</p>}
            <ProfitByRig profit={data} />
          </div>
        )}
      </QueryView>
    </Card>
  );
}

function ProfitByRig({ profit }: { profit: FleetProfitOut }) {
  const currency = profit.price.currency;
  if (profit.rigs.length === 0)
    return <EmptyState title="No rigs yet">Enrol a rig on the Provider page: its energy, power cost and lease revenue show here per day.</EmptyState>;
  return (
    <div className="-mx-4 overflow-x-auto">
      <table className="w-full text-sm">
        <caption className="sr-only">Profit per rig over the last {PROFIT_DAYS} days</caption>
        <thead className="text-left text-xs uppercase tracking-wider text-muted">
          <tr>
            <th scope="col" className="py-2 pl-4 pr-3 font-medium">Rig</th>
            <th scope="col" className="py-2 pr-3 text-right font-medium">Energy</th>
            <th scope="col" className="py-2 pr-3 text-right font-medium">Power cost</th>
            <th scope="col" className="py-2 pr-3 text-right font-medium">Revenue</th>
            <th scope="col" className="py-2 pr-4 text-right font-medium">Net</th>
          </tr>
        </thead>
        <tbody className="tabular">
          {profit.rigs.map((rig) => (
            <tr key={rig.worker_id} className="border-t border-border" data-testid="profit-rig">
              <th scope="row" className="py-2 pl-4 pr-3 text-left font-normal">
                <Link to={`/workers/${encodeURIComponent(rig.worker_id)}`} className="font-medium hover:text-accent">
                  {rig.name || rig.worker_id}
                </Link>
                {rig.gpu_model && <span className="block text-xs text-muted">{rig.gpu_model}</span>}
              </th>
              <td className="py-2 pr-3 text-right">{formatEnergy(rig.totals)}</td>
              <td className="py-2 pr-3 text-right">{formatPowerCost(rig.totals, currency)}</td>
              <td className="py-2 pr-3 text-right">{formatCredits(rig.totals.revenue, { maxDecimals: 2 })} cr</td>
              <td className="py-2 pr-4 text-right">
                <Net figures={rig.totals} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {profit.more_rigs && <p className="px-4 pt-2 text-xs text-muted">Your first {profit.rigs.length} rigs; each rig's page has its own.</p>}
    </div>
  );
}

export default function Insights() {
  const session = useSession();
  return (
    <div data-testid="page-insights">
      <PageHeader
        title="Insights"
        subtitle="What is off on your rigs and why, what to do about it, what it costs and earns, and how each GPU model does on the platform."
      />
      <div className="space-y-6">
        <RequireAuth what="your fleet's insights">
          <div className="grid gap-6 xl:grid-cols-2">
            <div className="space-y-6">
              <Anomalies />
            </div>
            <Recommendations />
          </div>
          <div className="mt-6">
            <Profit />
          </div>
        </RequireAuth>
        {/* Public: each GPU model's figures, for anyone sizing a rig. */}
        {!session && <p className="text-xs text-muted">Anyone can see each GPU model's figures below.</p>}
        <GpuModels />
      </div>
    </div>
  );
}
