/** Power cost, lease revenue and net per UTC day: the fleet's on the Insights page, one
 * rig's on its page. Unknown energy shows as "—", never as zero. */
import { useMemo } from "react";
import { Link } from "react-router";
import type { FiguresOut, PriceOut, ProfitDayOut } from "../api/types";
import { cx } from "../lib/cx";
import { formatCredits, MICRO_PER_CREDIT } from "../lib/format";
import { formatEnergy, formatPowerCost, meteredHint, PROFIT_DAYS, unmetered } from "../lib/profit";
import { TimeSeriesChart, type SeriesSpec } from "./TimeSeriesChart";
import { Stat } from "./ui";

export function Net({ figures }: { figures: FiguresOut }) {
  if (figures.net == null) return <>—</>;
  return (
    <span className={cx(figures.net > 0 && "text-ok", figures.net < 0 && "text-danger")}>
      {formatCredits(figures.net, { maxDecimals: 2, sign: true })}
    </span>
  );
}

/** The price the figures are at, and a link to the Account page to set or change it. */
export function ProfitPrice({ price }: { price: PriceOut }) {
  const perKwh = price.electricity_price_per_kwh;
  return (
    <span className="text-xs text-muted" data-testid="profit-price">
      {perKwh ? `at ${perKwh} ${price.currency}/kWh` : "no electricity price set"} ·{" "}
      <Link to="/account" className="text-accent hover:underline">
        {perKwh ? "change" : "set it"}
      </Link>
    </span>
  );
}

export function ProfitTotals({ totals, price }: { totals: FiguresOut; price: PriceOut }) {
  return (
    <div className="grid grid-cols-2 gap-3 lg:grid-cols-4">
      <Stat label="Lease revenue" value={`${formatCredits(totals.revenue, { maxDecimals: 2 })} cr`} hint={`${totals.leases} leases paid`} />
      <Stat label="Energy" value={formatEnergy(totals)} hint={meteredHint(totals)} />
      <Stat
        label="Power cost"
        value={formatPowerCost(totals, price.currency)}
        hint={price.electricity_price_per_kwh ? undefined : "set a price to see it"}
      />
      <Stat label="Net" value={<Net figures={totals} />} hint="revenue − power cost" testId="profit-net" />
    </div>
  );
}

/** Revenue, power cost and net per day, in credits (a day without a figure has no point). */
export function ProfitChart({ days, testId = "profit-chart" }: { days: ProfitDayOut[]; testId?: string }) {
  const series = useMemo<SeriesSpec[]>(() => {
    const at = (day: string) => Date.parse(`${day}T00:00:00Z`) / 1000;
    const credits = (micro: number | null) => (micro == null ? null : micro / MICRO_PER_CREDIT);
    const line = (id: string, label: string, color: SeriesSpec["color"], pick: (d: FiguresOut) => number | null): SeriesSpec => ({
      id,
      label,
      kind: "line",
      color,
      data: days.flatMap((d) => {
        const value = credits(pick(d));
        return value == null ? [] : [{ time: at(d.day), value }];
      }),
    });
    return [
      line("revenue", "Lease revenue", "accent", (d) => d.revenue),
      line("cost", "Power cost", "warn", (d) => (unmetered(d) ? null : d.power_cost)),
      line("net", "Net", "info", (d) => d.net),
    ];
  }, [days]);
  return (
    <TimeSeriesChart
      series={series}
      format={(v) => `${formatCredits(Math.round(v * MICRO_PER_CREDIT), { maxDecimals: 2 })}`}
      label={`Profit per day over the last ${PROFIT_DAYS} days`}
      height={220}
      zeroBased
      testId={testId}
    />
  );
}

/** One row per UTC day, newest first. */
export function ProfitDays({ days, currency }: { days: ProfitDayOut[]; currency: string }) {
  return (
    <div className="-mx-4 overflow-x-auto">
      <table className="w-full text-sm">
        <caption className="sr-only">Energy, power cost, lease revenue and net per UTC day</caption>
        <thead className="text-left text-xs uppercase tracking-wider text-muted">
          <tr>
            <th scope="col" className="py-2 pl-4 pr-3 font-medium">Day (UTC)</th>
            <th scope="col" className="py-2 pr-3 text-right font-medium">Energy</th>
            <th scope="col" className="py-2 pr-3 text-right font-medium">Power cost</th>
            <th scope="col" className="py-2 pr-3 text-right font-medium">Revenue</th>
            <th scope="col" className="py-2 pr-4 text-right font-medium">Net</th>
          </tr>
        </thead>
        <tbody className="tabular">
          {[...days].reverse().map((d) => (
            <tr key={d.day} className="border-t border-border" data-testid="profit-day">
              <th scope="row" className="py-2 pl-4 pr-3 text-left font-normal">
                {d.day}
              </th>
              <td className="py-2 pr-3 text-right" title={d.reported_seconds > 0 ? meteredHint(d) : "nothing reported"}>
                {formatEnergy(d)}
                {!d.power_complete && !unmetered(d) && d.reported_seconds > 0 && <span className="text-warn"> *</span>}
              </td>
              <td className="py-2 pr-3 text-right">{formatPowerCost(d, currency)}</td>
              <td className="py-2 pr-3 text-right">{formatCredits(d.revenue, { maxDecimals: 2 })} cr</td>
              <td className="py-2 pr-4 text-right">
                <Net figures={d} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {days.some((d) => !d.power_complete && !unmetered(d) && d.reported_seconds > 0) && (
        <p className="px-4 pt-2 text-xs text-muted">
          <span className="text-warn">*</span> some seconds without a power reading: the energy and cost are a lower bound.
        </p>
      )}
    </div>
  );
}
