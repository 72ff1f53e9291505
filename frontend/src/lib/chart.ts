import type { UTCTimestamp } from "lightweight-charts";

export interface Point {
  /** Epoch seconds. */
  time: number;
  value: number;
}

/** Sorted, one point per second, finite values only: what the chart requires. */
export function toChartData(points: readonly Point[]): { time: UTCTimestamp; value: number }[] {
  const bySecond = new Map<number, number>();
  for (const p of points) {
    if (!Number.isFinite(p.time) || !Number.isFinite(p.value)) continue;
    bySecond.set(Math.floor(p.time), p.value);
  }
  return [...bySecond.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([time, value]) => ({ time: time as UTCTimestamp, value }));
}
