import type { Block } from "../api/types";
import { shortId } from "../lib/format";
import { BlockKindBadge } from "./domain";
import { Badge, Time } from "./ui";

type NetworkStatus = NonNullable<Block["network_status"]>;

const NETWORK: Record<NetworkStatus, { tone: "neutral" | "ok" | "danger" | "warn"; label: string; hint: string }> = {
  unconfirmed: { tone: "neutral", label: "Unconfirmed", hint: "No answer from the XenBlocks network yet" },
  accepted: { tone: "ok", label: "On the network", hint: "The XenBlocks node saved it" },
  duplicate: { tone: "ok", label: "On the network", hint: "The node already had it (a retried submission): counts as accepted" },
  refused: { tone: "danger", label: "Network refused", hint: "The XenBlocks node refused it" },
  unreachable: { tone: "warn", label: "Node unreachable", hint: "The rig could not reach the node; it may still be confirmed" },
};

/** What the XenBlocks network made of a block the platform verified. */
export function NetworkStatusBadge({ block }: { block: Pick<Block, "network_status" | "network_reason"> }) {
  const status = NETWORK[block.network_status ?? "unconfirmed"];
  const title = block.network_reason ? `${status.hint}: ${block.network_reason}` : status.hint;
  return (
    <Badge tone={status.tone} title={title}>
      {status.label}
    </Badge>
  );
}

/** Every block reported under a lease: our verdict, and the network's for verified ones. */
export function LeaseBlockList({ blocks }: { blocks: readonly Block[] }) {
  return (
    <ul className="divide-y divide-border text-sm" data-testid="lease-blocks">
      {blocks.map((b, index) => (
        <li key={`${b.hash}-${String(b.verified)}-${index}`} className="flex flex-wrap items-center justify-between gap-2 py-1.5">
          <span className="flex items-center gap-2">
            {b.verified ? <BlockKindBadge kind={b.kind ?? null} /> : <Badge tone="danger">Rejected</Badge>}
            {b.verified && <NetworkStatusBadge block={b} />}
            <span className="font-mono text-xs text-muted" title={b.hash}>
              {shortId(b.hash, 10, 6)}
            </span>
          </span>
          <span className="flex items-center gap-2 text-xs text-muted">
            {!b.verified && <span title={b.reason}>{b.reason}</span>}
            {b.verified && b.network_status === "refused" && b.network_reason && (
              <span className="max-w-xs truncate" title={b.network_reason}>
                {b.network_reason}
              </span>
            )}
            <Time ts={b.recorded_at} />
          </span>
        </li>
      ))}
    </ul>
  );
}
