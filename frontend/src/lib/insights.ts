/** Words and units for the insights: finding reasons, evidence figures, work and efficiency. */
import type { RecommendationKind } from "../api/types";
import { formatHashrate, formatNumber, formatPercent, formatPower, formatPricePerKhs, formatTemperature } from "./format";

/** Said wherever a rig has nothing to show yet because nothing scores it yet. */
export const NO_BASELINE =
  "A rig needs a few hours of history before it is scored: the insights job builds its baseline from its last three days.";

const REASONS: Record<string, string> = {
  gpu_lost: "GPU lost",
  fan_failure: "Fan failure",
  thermal_throttling: "Thermal throttling",
  power_limit_lowered: "Power limit lowered",
  under_delivery: "Under-delivery",
};

/** "thermal_throttling" → "Thermal throttling" (an unknown reason reads the same way). */
export function reasonLabel(reason: string): string {
  return REASONS[reason] ?? humanize(reason);
}

export const RECOMMENDATION_LABELS: Record<RecommendationKind, string> = {
  fix_anomaly: "Fix a fault",
  under_peers: "Under its peers",
  hot_for_power: "Runs hot",
  list_idle_rig: "List an idle rig",
  price_high: "Price high",
  price_low: "Price low",
  update_hashrate: "Update hashrate",
};

function humanize(name: string): string {
  const text = name.replace(/_/g, " ").trim();
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const EVIDENCE_LABELS: Record<string, string> = {
  work: "Work",
  usual_work: "Usual work",
  peer_work: "Peers' median work",
  work_ratio: "Work vs usual",
  peer_ratio: "Work vs peers",
  peer_rigs: "Peer rigs",
  gpus_expected: "GPUs expected",
  gpus_seen: "GPUs seen",
  temperature_c: "Temperature",
  expected_temperature_c: "Expected temperature",
  peer_temperature_c: "Peers' temperature",
  fan_pct: "Fan",
  expected_fan_pct: "Expected fan",
  power_w: "Power",
  usual_power_w: "Usual power",
  power_ratio: "Power vs usual",
  efficiency_ratio: "Work per watt vs usual",
  difficulty: "Difficulty",
  difficulty_before: "Difficulty before",
  price_per_khs_hour: "Asked price",
  median: "Market median",
  p25: "Market 25th percentile",
  p75: "Market 75th percentile",
  expected_hashrate: "Expected hashrate",
  advertised_hashrate: "Advertised hashrate",
};

/** An evidence name as a person reads it: "gpu2.work_ratio" → "GPU 2: work vs usual". */
export function evidenceLabel(name: string): string {
  const gpu = /^gpu(\d+)\.(.+)$/.exec(name);
  if (gpu) return `GPU ${gpu[1]}: ${evidenceLabel(gpu[2] ?? "").toLowerCase()}`;
  return EVIDENCE_LABELS[name] ?? humanize(name);
}

/** Argon2id work (H/s × difficulty, KiB/s) with a binary prefix: 19,600 → "19.1 MiB/s". */
export function formatWork(kibPerSecond: number | null | undefined): string {
  if (kibPerSecond == null || !Number.isFinite(kibPerSecond)) return "—";
  const units = ["KiB/s", "MiB/s", "GiB/s", "TiB/s"];
  let value = kibPerSecond;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${formatNumber(value, Math.abs(value) < 10 ? 2 : 1)} ${units[unit]}`;
}

/** Work per watt (KiB/J). */
export function formatEfficiency(kibPerJoule: number | null | undefined): string {
  if (kibPerJoule == null || !Number.isFinite(kibPerJoule)) return "—";
  return `${formatNumber(kibPerJoule, kibPerJoule < 10 ? 2 : 1)} KiB/J`;
}

/** One evidence figure in its unit, chosen by its name. */
export function formatEvidence(name: string, value: number): string {
  const key = name.replace(/^gpu\d+\./, "");
  if (key.endsWith("_ratio")) return formatPercent(value, 1);
  if (key.endsWith("_pct")) return `${formatNumber(value, 0)}%`;
  if (key.endsWith("temperature_c")) return formatTemperature(value);
  if (key.endsWith("power_w")) return formatPower(value);
  if (key === "work" || key.endsWith("_work")) return formatWork(value);
  if (key.endsWith("hashrate")) return formatHashrate(value);
  if (key === "price_per_khs_hour" || key === "median" || key === "p25" || key === "p75") return formatPricePerKhs(value);
  if (key.startsWith("difficulty")) return `${formatNumber(value)} KiB`;
  return formatNumber(value, Number.isInteger(value) ? 0 : 2);
}
