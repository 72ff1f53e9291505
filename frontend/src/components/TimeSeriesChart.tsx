/** Time-series charts on lightweight-charts, themed from the CSS design tokens. */
import {
  AreaSeries,
  ColorType,
  createChart,
  HistogramSeries,
  LineSeries,
  TickMarkType,
  type AutoscaleInfo,
  type IChartApi,
  type ISeriesApi,
  type SeriesType,
  type Time,
} from "lightweight-charts";
import { useEffect, useMemo, useRef, useState } from "react";
import { useThemeKey } from "../app/context";
import { toChartData, type Point } from "../lib/chart";
import { cx } from "../lib/cx";

export type { Point };

export type SeriesColor = "accent" | "info" | "warn" | "danger" | "muted";

export interface SeriesSpec {
  id: string;
  label: string;
  kind: "area" | "line" | "histogram";
  color?: SeriesColor;
  data: Point[];
}

const TOKEN: Record<SeriesColor, string> = {
  accent: "--xb-chart-line",
  info: "--xb-chart-2",
  warn: "--xb-warn",
  danger: "--xb-danger",
  muted: "--xb-muted",
};

/** A token's "r g b" triplet as an rgba() the chart library parses. */
function tokenColor(name: string, alpha = 1, fallback = "148 160 182"): string {
  const raw = typeof document !== "undefined" ? getComputedStyle(document.documentElement).getPropertyValue(name).trim() : "";
  const [r, g, b] = (raw || fallback).split(/[\s,]+/).map(Number);
  return `rgba(${r ?? 148}, ${g ?? 160}, ${b ?? 182}, ${alpha})`;
}

const pad = (n: number) => n.toString().padStart(2, "0");

function tickFormatter(time: Time, type: TickMarkType): string {
  const date = new Date((time as number) * 1000);
  switch (type) {
    case TickMarkType.Year:
      return String(date.getFullYear());
    case TickMarkType.Month:
      return date.toLocaleString("en", { month: "short" });
    case TickMarkType.DayOfMonth:
      return `${date.toLocaleString("en", { month: "short" })} ${date.getDate()}`;
    default:
      return `${pad(date.getHours())}:${pad(date.getMinutes())}`;
  }
}

export function TimeSeriesChart({
  series,
  format,
  label,
  height = 260,
  className,
  testId,
  zeroBased = true,
}: {
  series: SeriesSpec[];
  format: (value: number) => string;
  /** What the chart shows, for screen readers. */
  label: string;
  height?: number;
  className?: string;
  testId?: string;
  /** Keep 0 on the value axis (hashrates, money); off for temperatures. */
  zeroBased?: boolean;
}) {
  const container = useRef<HTMLDivElement>(null);
  const chart = useRef<IChartApi | null>(null);
  const handles = useRef(new Map<string, { kind: SeriesSpec["kind"]; api: ISeriesApi<SeriesType> }>());
  const formatRef = useRef(format);
  useEffect(() => {
    formatRef.current = format;
  }, [format]);

  const theme = useThemeKey();
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    const el = container.current;
    if (!el) return;
    const api = createChart(el, {
      autoSize: true,
      layout: {
        background: { type: ColorType.Solid, color: "transparent" },
        textColor: tokenColor("--xb-muted"),
        fontFamily: getComputedStyle(document.body).fontFamily,
        fontSize: 11,
      },
      grid: {
        vertLines: { color: tokenColor("--xb-chart-grid", 0.6) },
        horzLines: { color: tokenColor("--xb-chart-grid", 0.6) },
      },
      rightPriceScale: { borderVisible: false },
      timeScale: { borderVisible: false, timeVisible: true, secondsVisible: false, tickMarkFormatter: tickFormatter },
      crosshair: { horzLine: { labelBackgroundColor: tokenColor("--xb-surface-2") }, vertLine: { labelBackgroundColor: tokenColor("--xb-surface-2") } },
      localization: {
        priceFormatter: (value: number) => formatRef.current(value),
        timeFormatter: (time: Time) => new Date((time as number) * 1000).toLocaleString(),
      },
      handleScroll: { mouseWheel: false, pressedMouseMove: true, horzTouchDrag: true, vertTouchDrag: false },
      handleScale: { mouseWheel: false, pinch: true, axisPressedMouseMove: true },
    });
    chart.current = api;
    const seriesHandles = handles.current;
    // A new chart (first, or repainted for a new theme): the series effect fills it.
    setGeneration((g) => g + 1);
    return () => {
      seriesHandles.clear();
      chart.current = null;
      api.remove();
    };
  }, [theme]);

  useEffect(() => {
    const api = chart.current;
    if (!api) return;
    const seen = new Set<string>();
    for (const spec of series) {
      seen.add(spec.id);
      let handle = handles.current.get(spec.id);
      if (handle && handle.kind !== spec.kind) {
        api.removeSeries(handle.api);
        handle = undefined;
      }
      if (!handle) {
        const color = TOKEN[spec.color ?? "accent"];
        const priceFormat = { type: "custom" as const, formatter: (v: number) => formatRef.current(v), minMove: 0.001 };
        const autoscaleInfoProvider = zeroBased
          ? (original: () => AutoscaleInfo | null): AutoscaleInfo | null => {
              const info = original();
              if (info?.priceRange) info.priceRange.minValue = Math.min(0, info.priceRange.minValue);
              return info;
            }
          : undefined;
        let created: ISeriesApi<SeriesType>;
        if (spec.kind === "area") {
          created = api.addSeries(AreaSeries, {
            lineColor: tokenColor(color),
            topColor: tokenColor(color, 0.35),
            bottomColor: tokenColor(color, 0.02),
            lineWidth: 2,
            priceFormat,
            autoscaleInfoProvider,
            title: series.length > 1 ? spec.label : "",
          });
        } else if (spec.kind === "line") {
          created = api.addSeries(LineSeries, {
            color: tokenColor(color),
            lineWidth: 2,
            priceFormat,
            autoscaleInfoProvider,
            title: series.length > 1 ? spec.label : "",
          });
        } else {
          created = api.addSeries(HistogramSeries, { color: tokenColor(color, 0.8), priceFormat, autoscaleInfoProvider });
        }
        handle = { kind: spec.kind, api: created };
        handles.current.set(spec.id, handle);
      }
      handle.api.setData(toChartData(spec.data));
    }
    for (const [id, handle] of handles.current) {
      if (!seen.has(id)) {
        api.removeSeries(handle.api);
        handles.current.delete(id);
      }
    }
  }, [series, zeroBased, generation]);

  const summary = useMemo(() => {
    const parts = series.map((s) => {
      const last = s.data[s.data.length - 1];
      return last ? `${s.label} latest ${format(last.value)}` : `${s.label}: no data`;
    });
    return `${label}. ${parts.join("; ")}`;
  }, [series, format, label]);

  return (
    <div
      ref={container}
      role="img"
      aria-label={summary}
      data-testid={testId}
      className={cx("w-full", className)}
      style={{ height }}
    />
  );
}

/** A tiny inline SVG sparkline (stat cards); no axes, no library. */
export function Sparkline({
  points,
  label,
  className,
}: {
  points: readonly Point[];
  label: string;
  className?: string;
}) {
  const data = toChartData(points);
  if (data.length < 2) return null;
  const w = 120;
  const h = 32;
  const min = Math.min(...data.map((d) => d.value));
  const max = Math.max(...data.map((d) => d.value));
  const t0 = data[0]!.time;
  const t1 = data[data.length - 1]!.time;
  const x = (t: number) => ((t - t0) / Math.max(1, t1 - t0)) * w;
  const y = (v: number) => h - 2 - ((v - min) / Math.max(1e-9, max - min)) * (h - 4);
  const line = data.map((d, i) => `${i === 0 ? "M" : "L"}${x(d.time).toFixed(1)},${y(d.value).toFixed(1)}`).join(" ");
  return (
    <svg viewBox={`0 0 ${w} ${h}`} className={cx("mt-2 h-8 w-full", className)} role="img" aria-label={label} preserveAspectRatio="none">
      <path d={`${line} L${w},${h} L0,${h} Z`} fill="rgb(var(--xb-chart-line) / 0.15)" />
      <path d={line} fill="none" stroke="rgb(var(--xb-chart-line))" strokeWidth="1.5" vectorEffect="non-scaling-stroke" />
    </svg>
  );
}
