/** Pieces that know the domain: worker states, block kinds, lists of blocks. */
import { Link } from "react-router";
import type { RecentBlock, WorkerState } from "../api/types";
import { formatHashrate, shortAddress, shortId } from "../lib/format";
import { Badge, StatusDot, Time } from "./ui";

export function WorkerStatus({ offline, state }: { offline: boolean; state: WorkerState }) {
  if (offline) {
    return (
      <span className="inline-flex items-center gap-1.5">
        <StatusDot tone="danger" />
        <Badge tone="danger">Offline</Badge>
      </span>
    );
  }
  const tone = state === "LEASED" ? "info" : state === "ERROR" ? "warn" : "ok";
  return (
    <span className="inline-flex items-center gap-1.5">
      <StatusDot tone={tone} pulse={state === "LEASED" || state === "MINING"} />
      <Badge tone={tone}>{state.charAt(0) + state.slice(1).toLowerCase()}</Badge>
    </span>
  );
}

export function BlockKindBadge({ kind }: { kind: RecentBlock["kind"] }) {
  if (kind === "super") return <Badge tone="warn">Superblock</Badge>;
  if (kind === "xuni") return <Badge tone="info">XUNI</Badge>;
  return <Badge tone="accent">Block</Badge>;
}

export function BlockList({ blocks, empty }: { blocks: readonly RecentBlock[]; empty?: React.ReactNode }) {
  if (blocks.length === 0) return <>{empty}</>;
  return (
    <ul className="divide-y divide-border" data-testid="block-list">
      {blocks.map((block) => (
        <li key={block.hash} className="flex flex-wrap items-center justify-between gap-x-3 gap-y-1 py-2 text-sm">
          <div className="flex min-w-0 items-center gap-2">
            <BlockKindBadge kind={block.kind} />
            <span className="truncate font-mono text-xs text-muted" title={block.hash}>
              {shortId(block.hash, 10, 6)}
            </span>
          </div>
          <div className="flex flex-wrap items-center gap-x-3 text-xs text-muted">
            <Link to={`/workers/${encodeURIComponent(block.worker_id)}`} className="whitespace-nowrap font-mono hover:text-text">
              {shortId(block.worker_id, 10, 4)}
            </Link>
            <span className="hidden whitespace-nowrap font-mono sm:inline" title={`Mined for ${block.account}`}>
              → {shortAddress(block.account)}
            </span>
            <Time ts={block.recorded_at} />
          </div>
        </li>
      ))}
    </ul>
  );
}

/** A hashrate that flashes when it changes (a live update arrived). */
export function LiveHashrate({ value, updatedAt, testId }: { value: number; updatedAt?: number | null; testId?: string }) {
  return (
    <span
      key={updatedAt ?? "static"}
      className={updatedAt ? "flash tabular rounded px-1" : "tabular"}
      data-testid={testId}
      data-live={updatedAt ? "true" : "false"}
      data-updated-at={updatedAt ?? ""}
    >
      {formatHashrate(value)}
    </span>
  );
}
