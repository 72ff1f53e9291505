/** The insights' pieces shared by the Insights page and a rig's page: anomaly findings with
 * their evidence, and recommendations ranked by the expected gain. */
import { Link } from "react-router";
import type { FindingOut, RecommendationOut } from "../api/types";
import { formatCredits, shortId } from "../lib/format";
import { evidenceLabel, formatEvidence, NO_BASELINE, reasonLabel, RECOMMENDATION_LABELS } from "../lib/insights";
import { Badge, EmptyState, Time } from "./ui";

function Evidence({ evidence, caption }: { evidence: Record<string, number>; caption: string }) {
  const entries = Object.entries(evidence);
  if (entries.length === 0) return null;
  return (
    <table className="mt-2 w-full max-w-md text-xs" data-testid="evidence">
      <caption className="sr-only">{caption}</caption>
      <tbody className="tabular">
        {entries.map(([name, value]) => (
          <tr key={name} className="border-t border-border/60">
            <th scope="row" className="py-1 pr-3 text-left font-normal text-muted">
              {evidenceLabel(name)}
            </th>
            <td className="py-1 text-right">{formatEvidence(name, value)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function RigLink({ workerId }: { workerId: string }) {
  return (
    <Link to={`/workers/${encodeURIComponent(workerId)}`} className="font-mono text-xs text-muted hover:text-text">
      {shortId(workerId, 14, 4)}
    </Link>
  );
}

/** Findings, the open ones first, each with its message, GPU, since when and evidence. */
export function FindingList({
  findings,
  showRig = true,
  empty,
}: {
  findings: readonly FindingOut[];
  showRig?: boolean;
  empty: React.ReactNode;
}) {
  if (findings.length === 0) return <>{empty}</>;
  const sorted = [...findings].sort((a, b) => Number(b.open) - Number(a.open) || b.opened_at - a.opened_at);
  return (
    <ul className="divide-y divide-border">
      {sorted.map((f) => (
        <li
          key={`${f.worker_id}:${f.reason}:${f.gpu ?? "rig"}:${f.opened_at}`}
          className="px-4 py-3 text-sm"
          data-testid="finding"
          data-open={f.open ? "true" : "false"}
        >
          <div className="flex flex-wrap items-center justify-between gap-2">
            <div className="flex flex-wrap items-center gap-2">
              <Badge tone={f.open ? "danger" : "neutral"}>{reasonLabel(f.reason)}</Badge>
              <span className="text-xs text-muted">{f.gpu == null ? "whole rig" : `GPU ${f.gpu}`}</span>
              {f.basis === "peers" && <Badge tone="info" title="Compared with its GPU model's other rigs">vs peers</Badge>}
              {showRig && <RigLink workerId={f.worker_id} />}
            </div>
            <span className="text-xs text-muted">
              {f.open ? (
                <>
                  since <Time ts={f.opened_at} />
                </>
              ) : (
                <>
                  closed <Time ts={f.closed_at} />
                </>
              )}
            </span>
          </div>
          <p className="mt-1 break-words">{f.message}</p>
          <Evidence evidence={f.evidence} caption={`Evidence: ${reasonLabel(f.reason)}`} />
        </li>
      ))}
    </ul>
  );
}

/** The expected gain a day as credits (the API's micro-credits), or why there is none. */
export function Gain({ micro }: { micro: number | null }) {
  if (micro == null) return <span className="text-xs text-muted">not valued by the market</span>;
  return (
    <span className="tabular font-medium text-ok" data-testid="gain">
      {formatCredits(micro, { maxDecimals: 2, sign: true })} cr/day
    </span>
  );
}

/** Recommendations in the API's order (the largest expected gain first). */
export function RecommendationList({
  items,
  showRig = true,
  empty,
}: {
  items: readonly RecommendationOut[];
  showRig?: boolean;
  empty: React.ReactNode;
}) {
  if (items.length === 0) return <>{empty}</>;
  return (
    <ol className="divide-y divide-border">
      {items.map((r, i) => (
        <li key={`${r.kind}:${r.worker_id}:${r.gpu ?? "rig"}`} className="px-4 py-3 text-sm" data-testid="recommendation">
          <div className="flex flex-wrap items-start justify-between gap-2">
            <div className="min-w-0">
              <div className="flex flex-wrap items-center gap-2">
                <span className="tabular text-xs text-muted">#{i + 1}</span>
                <Badge tone="accent">{RECOMMENDATION_LABELS[r.kind] ?? r.kind}</Badge>
                {showRig && <RigLink workerId={r.worker_id} />}
              </div>
              <p className="mt-1 font-medium">{r.title}</p>
            </div>
            <Gain micro={r.gain_per_day} />
          </div>
          <p className="mt-1 text-muted">{r.detail}</p>
          <Evidence evidence={r.evidence} caption={`Evidence: ${r.title}`} />
        </li>
      ))}
    </ol>
  );
}

export function NoBaseline({ title }: { title: string }) {
  return (
    <EmptyState title={title} icon="◔">
      {NO_BASELINE}
    </EmptyState>
  );
}
