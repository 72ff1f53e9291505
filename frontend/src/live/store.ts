/** What the live channel has told us that no query holds: recent samples and freshness. */
import type { FleetFigures } from "../api/types";

export interface Sample {
  /** Epoch seconds. */
  ts: number;
  hashrate: number;
}

const MAX_SAMPLES = 720;

function pushSample(list: readonly Sample[], sample: Sample): Sample[] {
  const last = list[list.length - 1];
  // Samples stay in time order with one value per second (a chart's requirement).
  if (last && Math.floor(sample.ts) <= Math.floor(last.ts)) {
    const next = list.slice(0, -1);
    next.push({ ts: last.ts, hashrate: sample.hashrate });
    return next;
  }
  const next = list.length >= MAX_SAMPLES ? list.slice(list.length - MAX_SAMPLES + 1) : list.slice();
  next.push(sample);
  return next;
}

const EMPTY: Sample[] = [];

export class LiveStore {
  fleet: FleetFigures | null = null;
  fleetSamples: Sample[] = EMPTY;
  /** The signed-in owner's total hashrate, from worker events. */
  ownerSamples: Sample[] = EMPTY;
  private workerSamples = new Map<string, Sample[]>();
  private workerUpdated = new Map<string, number>();
  /** Messages received since start (the e2e reads it from the indicator). */
  received = 0;
  private readonly listeners = new Set<() => void>();

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  emit(): void {
    for (const listener of this.listeners) listener();
  }

  samplesFor(workerId: string): Sample[] {
    return this.workerSamples.get(workerId) ?? EMPTY;
  }

  /** Epoch seconds of the last live update of this worker, or null. */
  updatedAt(workerId: string): number | null {
    return this.workerUpdated.get(workerId) ?? null;
  }

  recordWorker(workerId: string, hashrate: number, ts: number): void {
    this.workerSamples.set(workerId, pushSample(this.samplesFor(workerId), { ts, hashrate }));
    this.workerUpdated.set(workerId, ts);
  }

  recordOwnerTotal(hashrate: number, ts: number): void {
    this.ownerSamples = pushSample(this.ownerSamples, { ts, hashrate });
  }

  recordFleet(fleet: FleetFigures, ts: number): void {
    this.fleet = fleet;
    this.fleetSamples = pushSample(this.fleetSamples, { ts: fleet.as_of ?? ts, hashrate: fleet.hashrate });
  }

  /** Signed out or in as someone else: drop what belonged to the previous subject. */
  resetPrivate(): void {
    this.ownerSamples = EMPTY;
    this.workerSamples = new Map();
    this.workerUpdated = new Map();
    this.emit();
  }
}
