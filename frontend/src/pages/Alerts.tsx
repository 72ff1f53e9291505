import { useId, useState, type FormEvent } from "react";
import { Link } from "react-router";
import { useAlertEvents, useAlertRules, useCreateRule, useDeleteRule, useDevices, useUpdateRule } from "../api/queries";
import type { AlertKind, EventOut, RuleCreated, RuleOut } from "../api/types";
import { ActionFields } from "../components/AlertAction";
import { DeliveryFields } from "../components/AlertDelivery";
import { RequireAuth } from "../components/Auth";
import {
  Badge,
  Button,
  Card,
  CopyBlock,
  Dialog,
  EmptyState,
  Field,
  Input,
  LoadMore,
  PageHeader,
  QueryView,
  Select,
  Time,
} from "../components/ui";
import { ACTION_RESULTS, actionCreateFields, actionDraftOf, actionError, actionPatch, type ActionDraft } from "../lib/alertAction";
import { createFields, describeQuiet, draftErrors, draftOf, patchFields, type ChannelsDraft } from "../lib/alertChannels";
import { formatDuration, shortId } from "../lib/format";

const KINDS: Record<AlertKind, { label: string; unit: string; min: number; max: number; default: number; help: string }> = {
  offline: { label: "Rig offline", unit: "minutes", min: 1, max: 1440, default: 5, help: "Fires when a rig has been down this many minutes." },
  hashrate_drop: {
    label: "Hashrate drop",
    unit: "% below the 1-hour median",
    min: 1,
    max: 99,
    default: 30,
    help: "Fires when a rig's hashrate falls this far below its own 1-hour median.",
  },
  temperature: { label: "GPU temperature", unit: "°C", min: 30, max: 120, default: 85, help: "Fires when the hottest GPU passes this temperature." },
  anomaly: {
    label: "Any anomaly",
    unit: "least score",
    min: 0,
    max: 100,
    default: 0,
    help: "Fires on an open anomaly finding (see Insights) scoring at least this many spreads from normal.",
  },
  gpu_lost: {
    label: "GPU lost",
    unit: "least score",
    min: 0,
    max: 100,
    default: 0,
    help: "Fires on an open gpu_lost finding, or when fewer GPUs work than the rig registered.",
  },
  fan_failure: { label: "Fan failure", unit: "least score", min: 0, max: 100, default: 0, help: "Fires on an open fan_failure finding: a GPU hotter than usual with its fan under its curve." },
  back_online: { label: "Back online", unit: "minutes down", min: 1, max: 1440, default: 10, help: "Fires when a rig comes back after being down at least this long." },
};

function describe(rule: Pick<RuleOut, "kind" | "threshold">): string {
  switch (rule.kind) {
    case "offline":
      return `offline ≥ ${rule.threshold} min`;
    case "hashrate_drop":
      return `hashrate ≥ ${rule.threshold}% below median`;
    case "temperature":
      return `GPU ≥ ${rule.threshold} °C`;
    case "anomaly":
    case "gpu_lost":
    case "fan_failure":
      return rule.threshold > 0 ? `${KINDS[rule.kind].label.toLowerCase()}, score ≥ ${rule.threshold}` : KINDS[rule.kind].label.toLowerCase();
    case "back_online":
      return `back after ≥ ${rule.threshold} min down`;
  }
}

function NewRule({ onCreated }: { onCreated: (rule: RuleCreated) => void }) {
  const create = useCreateRule();
  const devices = useDevices();
  const ids = { name: useId(), kind: useId(), threshold: useId(), worker: useId(), cooldown: useId() };
  const [name, setName] = useState("");
  const [kind, setKind] = useState<AlertKind>("offline");
  const [threshold, setThreshold] = useState(String(KINDS.offline.default));
  const [workerId, setWorkerId] = useState("");
  const [action, setAction] = useState<ActionDraft>(() => actionDraftOf());
  const [delivery, setDelivery] = useState<ChannelsDraft>(() => draftOf());
  const deliveryErrors = draftErrors(delivery);
  const [cooldownMin, setCooldownMin] = useState("");
  const spec = KINDS[kind];
  const value = Number(threshold);
  const thresholdError = threshold.trim() === "" || !Number.isFinite(value) || value < spec.min || value > spec.max ? `${spec.min} to ${spec.max}` : null;
  const cooldown = cooldownMin.trim() ? Math.round(Number(cooldownMin) * 60) : undefined;
  const cooldownError = cooldown !== undefined && (!Number.isFinite(cooldown) || cooldown < 60 || cooldown > 7 * 86_400) ? "1 minute to 7 days" : null;
  const actionsError = actionError(action);
  const valid = name.trim() !== "" && !thresholdError && !cooldownError && !actionsError && Object.keys(deliveryErrors).length === 0;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!valid) return;
    create.mutate(
      {
        name: name.trim(),
        kind,
        threshold: value,
        worker_id: workerId || null,
        cooldown_seconds: cooldown ?? null,
        enabled: true,
        ...actionCreateFields(action),
        ...createFields(delivery),
      },
      {
        onSuccess: (rule) => {
          setName("");
          setDelivery(draftOf());
          onCreated(rule);
        },
      },
    );
  };

  return (
    <Card title="New rule">
      <form onSubmit={submit} className="grid gap-3 sm:grid-cols-2" data-testid="new-rule">
        <Field label="Name" htmlFor={ids.name}>
          <Input id={ids.name} maxLength={64} value={name} placeholder="e.g. Garage rigs down" onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field label="When" htmlFor={ids.kind} hint={spec.help}>
          <Select
            id={ids.kind}
            value={kind}
            onChange={(e) => {
              const next = e.target.value as AlertKind;
              setKind(next);
              setThreshold(String(KINDS[next].default));
            }}
          >
            {(Object.keys(KINDS) as AlertKind[]).map((k) => (
              <option key={k} value={k}>
                {KINDS[k].label}
              </option>
            ))}
          </Select>
        </Field>
        <Field label={`Threshold (${spec.unit})`} htmlFor={ids.threshold} error={threshold ? thresholdError : null}>
          <Input id={ids.threshold} inputMode="decimal" value={threshold} onChange={(e) => setThreshold(e.target.value)} />
        </Field>
        <Field label="Rig" htmlFor={ids.worker}>
          <Select id={ids.worker} value={workerId} onChange={(e) => setWorkerId(e.target.value)}>
            <option value="">All my rigs</option>
            {devices.data?.items
              .filter((d) => d.revoked_at == null)
              .map((d) => (
                <option key={d.worker_id} value={d.worker_id}>
                  {d.name || shortId(d.worker_id)}
                </option>
              ))}
          </Select>
        </Field>
        <Field label="Cooldown (minutes, optional)" htmlFor={ids.cooldown} error={cooldownError} hint="Least time between two events per rig.">
          <Input id={ids.cooldown} inputMode="numeric" placeholder="default" value={cooldownMin} onChange={(e) => setCooldownMin(e.target.value)} />
        </Field>
        <ActionFields draft={action} error={actionsError} onChange={setAction} />
        <div className="sm:col-span-2">
          <h3 className="mb-2 text-xs font-medium uppercase tracking-wider text-muted">Delivery</h3>
          <DeliveryFields draft={delivery} errors={deliveryErrors} onChange={setDelivery} />
        </div>
        <div className="flex justify-end sm:col-span-2">
          <Button type="submit" variant="primary" busy={create.isPending} disabled={!valid}>
            Create rule
          </Button>
        </div>
      </form>
    </Card>
  );
}

function Rules() {
  const rules = useAlertRules();
  const update = useUpdateRule();
  const remove = useDeleteRule();
  const [editing, setEditing] = useState<RuleOut | null>(null);
  const [editingAction, setEditingAction] = useState<RuleOut | null>(null);
  const items = rules.data?.items ?? [];
  return (
    <Card title="Rules" bodyClassName="p-0" testId="alert-rules">
      <QueryView
        query={rules}
        padded
        empty={items.length === 0 && <EmptyState title="No rules yet">Create one to hear when a rig goes down, slows down or runs hot.</EmptyState>}
      >
        <ul className="divide-y divide-border">
          {items.map((rule) => (
            <li key={rule.rule_id} className="flex flex-wrap items-center justify-between gap-3 px-4 py-3 text-sm" data-testid="alert-rule">
              <div className="min-w-0">
                <div className="flex items-center gap-2">
                  <span className="font-medium">{rule.name}</span>
                  {!rule.enabled && <Badge>paused</Badge>}
                </div>
                <p className="text-xs text-muted">
                  {describe(rule)} · {rule.worker_id ? shortId(rule.worker_id, 10, 4) : "all rigs"} · cooldown {formatDuration(rule.cooldown_seconds)}
                </p>
                <ChannelBadges rule={rule} />
              </div>
              <div className="flex items-center gap-2">
                <Button size="sm" onClick={() => setEditing(rule)} aria-label={`Delivery of rule ${rule.name}`}>
                  Delivery
                </Button>
                <Button size="sm" onClick={() => setEditingAction(rule)} aria-label={`Action of rule ${rule.name}`}>
                  Action
                </Button>
                <label className="flex cursor-pointer items-center gap-2 text-xs text-muted">
                  <input
                    type="checkbox"
                    className="h-4 w-4 accent-accent"
                    checked={rule.enabled}
                    onChange={(e) => update.mutate({ ruleId: rule.rule_id, patch: { enabled: e.target.checked } })}
                  />
                  Enabled
                </label>
                <Button size="sm" variant="danger" onClick={() => remove.mutate(rule.rule_id)} aria-label={`Delete rule ${rule.name}`}>
                  Delete
                </Button>
              </div>
            </li>
          ))}
        </ul>
      </QueryView>
      {editing && <EditDelivery key={editing.rule_id} rule={editing} onClose={() => setEditing(null)} />}
      {editingAction && <EditAction key={editingAction.rule_id} rule={editingAction} onClose={() => setEditingAction(null)} />}
    </Card>
  );
}

function ChannelBadges({ rule }: { rule: RuleOut }) {
  const { telegram, discord, email } = rule.channels;
  const none = !rule.webhook_url && !telegram && !discord && !email;
  return (
    <div className="mt-1 flex flex-wrap items-center gap-1.5" data-testid="rule-channels">
      {none && <span className="text-xs text-muted">recorded here only</span>}
      {rule.webhook_url && (
        <Badge tone="info" title={rule.webhook_url}>
          webhook
        </Badge>
      )}
      {telegram && (
        <Badge tone="info" title={`bot token ${telegram.bot_token_hint}`}>
          Telegram {telegram.chat_id}
        </Badge>
      )}
      {discord && <Badge tone="info">Discord {discord.webhook_url_hint}</Badge>}
      {email && <Badge tone="info">e-mail {email.address}</Badge>}
      {rule.quiet_hours && <Badge>quiet {describeQuiet(rule.quiet_hours)}</Badge>}
      {rule.max_per_hour != null && <Badge>≤ {rule.max_per_hour}/h</Badge>}
      {rule.action && (
        <Badge tone="warn">
          {rule.action} ≤ {rule.max_actions_per_day}/day
        </Badge>
      )}
    </div>
  );
}

/** A stored rule's delivery, changed with PATCH: only what differs is sent. */
function EditDelivery({ rule, onClose }: { rule: RuleOut; onClose: () => void }) {
  const update = useUpdateRule();
  const [draft, setDraft] = useState<ChannelsDraft>(() => draftOf(rule));
  const errors = draftErrors(draft, rule);
  const patch = patchFields(draft, rule);
  const changed = Object.keys(patch).length > 0;
  const save = () =>
    update.mutate(
      { ruleId: rule.rule_id, patch },
      { onSuccess: () => onClose() },
    );
  return (
    <Dialog
      open
      onClose={onClose}
      title={`Delivery: ${rule.name}`}
      testId="edit-delivery"
      footer={
        <>
          <Button variant="ghost" onClick={onClose}>
            Cancel
          </Button>
          <Button variant="primary" onClick={save} busy={update.isPending} disabled={!changed || Object.keys(errors).length > 0}>
            Save
          </Button>
        </>
      }
    >
      <DeliveryFields draft={draft} errors={errors} onChange={setDraft} rule={rule} />
    </Dialog>
  );
}

/** A stored rule's automatic action, changed with PATCH: only what differs is sent. */
function EditAction({ rule, onClose }: { rule: RuleOut; onClose: () => void }) {
  const update = useUpdateRule();
  const [draft, setDraft] = useState<ActionDraft>(() => actionDraftOf(rule));
  const error = actionError(draft);
  const patch = actionPatch(draft, rule);
  const changed = Object.keys(patch).length > 0;
  const save = () => update.mutate({ ruleId: rule.rule_id, patch }, { onSuccess: () => onClose() });
  return (
    <Dialog
      open
      onClose={onClose}
      title={`Action: ${rule.name}`}
      testId="edit-action"
      footer={
        <>
          <Button variant="ghost" onClick={onClose}>
            Cancel
          </Button>
          <Button variant="primary" onClick={save} busy={update.isPending} disabled={!changed || error !== null}>
            Save
          </Button>
        </>
      }
    >
      <div className="grid gap-3">
        <ActionFields draft={draft} error={error} onChange={setDraft} />
      </div>
    </Dialog>
  );
}

/** What came of the rule's automatic action on the rig, when it has one. */
function ActionResult({ event }: { event: EventOut }) {
  if (!event.action) return null;
  const result = event.action_result ? ACTION_RESULTS[event.action_result] : undefined;
  return (
    <span data-testid="event-action">
      <Badge tone={result?.tone ?? "neutral"}>
        {event.action}: {result?.label ?? event.action_result ?? "pending"}
      </Badge>
    </span>
  );
}

function Deliveries({ event }: { event: EventOut }) {
  const tone = { delivered: "ok", failed: "danger", pending: "warn", none: "neutral", suppressed: "neutral" } as const;
  const each = event.deliveries ?? [];
  if (event.delivery === "none") return null;
  if (each.length === 0)
    return (
      <Badge tone={tone[event.delivery]} title={event.suppressed_reason ?? undefined}>
        {event.delivery}
        {event.attempts > 1 ? ` ×${event.attempts}` : ""}
      </Badge>
    );
  return (
    <>
      {each.map((d) => (
        <Badge key={d.channel} tone={tone[d.status]} title={d.error ?? undefined}>
          {d.channel} {d.status}
          {d.attempts > 1 ? ` ×${d.attempts}` : ""}
        </Badge>
      ))}
    </>
  );
}

function Events() {
  const events = useAlertEvents();
  const items = events.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <Card title="Events" bodyClassName="p-0" testId="alert-events">
      <QueryView query={events} padded empty={items.length === 0 && <EmptyState title="No alerts fired">Events appear here, live, when a rule fires.</EmptyState>}>
        <ul className="divide-y divide-border">
          {items.map((e) => (
            <li key={e.event_id} className="flex flex-wrap items-start justify-between gap-2 px-4 py-3 text-sm">
              <div className="min-w-0">
                <div className="flex items-center gap-2">
                  <Badge tone={e.kind === "back_online" ? "ok" : e.kind === "offline" ? "danger" : "warn"}>{KINDS[e.kind].label}</Badge>
                  <span className="font-medium">{e.rule_name}</span>
                </div>
                <p className="mt-1 break-words text-muted">{e.message}</p>
                <p className="text-xs text-muted">
                  <Link to={`/workers/${encodeURIComponent(e.worker_id)}`} className="font-mono hover:text-text">
                    {shortId(e.worker_id, 10, 4)}
                  </Link>
                  {e.delivery_error && <span className="ml-2 text-danger">{e.delivery_error}</span>}
                  {e.suppressed_reason && <span className="ml-2">not sent: {e.suppressed_reason}</span>}
                </p>
              </div>
              <div className="flex flex-col items-end gap-1 text-xs text-muted">
                <Time ts={e.ts} />
                <Deliveries event={e} />
                <ActionResult event={e} />
              </div>
            </li>
          ))}
        </ul>
      </QueryView>
      <div className="pb-3">
        <LoadMore hasNext={events.hasNextPage} loading={events.isFetchingNextPage} onClick={() => void events.fetchNextPage()} />
      </div>
    </Card>
  );
}

export default function Alerts() {
  const [created, setCreated] = useState<RuleCreated | null>(null);
  return (
    <div data-testid="page-alerts">
      <PageHeader title="Alerts" subtitle="Rules on your fleet, the events they fired, and where each went: webhook, Telegram, Discord or e-mail." />
      <RequireAuth what="your alerts">
        <div className="grid gap-6 xl:grid-cols-2">
          <div className="space-y-6">
            <NewRule onCreated={setCreated} />
            <Rules />
          </div>
          <Events />
        </div>
        <Dialog open={created !== null} onClose={() => setCreated(null)} title="Rule created" footer={<Button onClick={() => setCreated(null)}>Done</Button>}>
          <p className="mb-3 text-sm text-muted">
            {created?.webhook_url
              ? "Keep this webhook secret: it signs every delivery (X-Xenblocks-Signature) and is shown only now."
              : "This secret signs webhook deliveries if you add a webhook later. It is shown only now."}
          </p>
          {created && <CopyBlock text={created.webhook_secret} label="webhook secret" />}
        </Dialog>
      </RequireAuth>
    </div>
  );
}
