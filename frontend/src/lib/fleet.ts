import type { FleetWorker } from "../api/types";

export type Sort = "status" | "name" | "hashrate" | "temperature";

export function hottest(worker: FleetWorker): number | null {
  const temps = worker.telemetry.map((t) => t.temperature_c).filter((t): t is number => t != null);
  return temps.length ? Math.max(...temps) : null;
}

export function totalPower(worker: FleetWorker): number | null {
  const watts = worker.telemetry.map((t) => t.power_w).filter((t): t is number => t != null);
  return watts.length ? watts.reduce((a, b) => a + b, 0) : null;
}

export function sortWorkers(workers: readonly FleetWorker[], sort: Sort): FleetWorker[] {
  const list = workers.slice();
  const byName = (a: FleetWorker, b: FleetWorker) => (a.name || a.worker_id).localeCompare(b.name || b.worker_id);
  switch (sort) {
    case "status":
      return list.sort((a, b) => Number(b.offline) - Number(a.offline) || byName(a, b));
    case "hashrate":
      return list.sort((a, b) => b.hashrate - a.hashrate || byName(a, b));
    case "temperature":
      return list.sort((a, b) => (hottest(b) ?? -1) - (hottest(a) ?? -1) || byName(a, b));
    default:
      return list.sort(byName);
  }
}

