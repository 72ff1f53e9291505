/** A rule's delivery settings: the webhook, Telegram, Discord, e-mail, quiet hours and the
 * rate limit. Secrets are write-only: a stored one shows only its hint, and an empty field
 * keeps it. */
import { useId, type ReactNode } from "react";
import type { RuleOut } from "../api/types";
import { MAX_PER_HOUR_LIMIT, type ChannelsDraft, type DraftErrors } from "../lib/alertChannels";
import { Field, Input } from "./ui";

function Check({ label, checked, onChange }: { label: string; checked: boolean; onChange: (on: boolean) => void }) {
  return (
    <label className="flex cursor-pointer items-center gap-2 text-sm">
      <input type="checkbox" className="h-4 w-4 accent-accent" checked={checked} onChange={(e) => onChange(e.target.checked)} />
      {label}
    </label>
  );
}

/** A chosen channel's fields. */
function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <fieldset className="rounded-lg border border-border p-3">
      <legend className="px-1 text-xs font-medium text-muted">{title}</legend>
      <div className="grid gap-3 sm:grid-cols-2">{children}</div>
    </fieldset>
  );
}

export function DeliveryFields({
  draft,
  errors,
  onChange,
  rule,
}: {
  draft: ChannelsDraft;
  errors: DraftErrors;
  onChange: (draft: ChannelsDraft) => void;
  /** The stored rule being changed (its secrets' hints); absent for a new rule. */
  rule?: RuleOut;
}) {
  const base = useId();
  const id = (name: string) => `${base}-${name}`;
  const set = <K extends keyof ChannelsDraft>(key: K, value: ChannelsDraft[K]) => onChange({ ...draft, [key]: value });
  const text = (key: keyof ChannelsDraft) => ({
    id: id(key),
    value: draft[key] as string,
    onChange: (e: React.ChangeEvent<HTMLInputElement>) => set(key, e.target.value),
    "aria-invalid": errors[key] != null,
  });
  const telegram = rule?.channels.telegram;
  const discord = rule?.channels.discord;
  const show = (key: keyof ChannelsDraft, value: string) => (value.trim() ? (errors[key] ?? null) : null);

  return (
    <div className="space-y-3" data-testid="delivery-fields">
      <Field label="Webhook URL (optional)" htmlFor={id("webhook")} error={show("webhook", draft.webhook)} hint="Events are POSTed as signed JSON (HMAC-SHA256).">
        <Input type="url" placeholder="https://…" {...text("webhook")} />
      </Field>
      <fieldset>
        <legend className="mb-1 text-xs font-medium text-muted">Also send to, or hold back</legend>
        <div className="flex flex-wrap gap-x-5 gap-y-2">
          <Check label="Telegram" checked={draft.telegram} onChange={(on) => set("telegram", on)} />
          <Check label="Discord" checked={draft.discord} onChange={(on) => set("discord", on)} />
          <Check label="E-mail" checked={draft.email} onChange={(on) => set("email", on)} />
          <Check label="Quiet hours" checked={draft.quiet} onChange={(on) => set("quiet", on)} />
        </div>
      </fieldset>
      {draft.telegram && (
        <Section title="Telegram">
          <Field
            label="Bot token"
            htmlFor={id("telegramToken")}
            error={errors.telegramToken && (draft.telegramToken.trim() || telegram) ? errors.telegramToken : null}
            hint={telegram ? `Stored: ${telegram.bot_token_hint}. Leave empty to keep it.` : "From @BotFather; stored encrypted, never shown again."}
          >
            <Input type="password" autoComplete="off" placeholder={telegram ? `${telegram.bot_token_hint} (kept)` : "123456:ABC…"} {...text("telegramToken")} />
          </Field>
          <Field label="Chat id" htmlFor={id("telegramChat")} error={show("telegramChat", draft.telegramChat)} hint="A numeric id (negative for groups) or @channel.">
            <Input placeholder="-1001234567890" {...text("telegramChat")} />
          </Field>
        </Section>
      )}
      {draft.discord && (
        <Section title="Discord">
          <div className="sm:col-span-2">
            <Field
              label="Webhook URL"
              htmlFor={id("discordUrl")}
              error={show("discordUrl", draft.discordUrl)}
              hint={discord ? `Stored: ${discord.webhook_url_hint}. Leave empty to keep it.` : "The channel's webhook; stored encrypted, never shown again."}
            >
              <Input type="password" autoComplete="off" placeholder={discord ? `${discord.webhook_url_hint} (kept)` : "https://discord.com/api/webhooks/…"} {...text("discordUrl")} />
            </Field>
          </div>
        </Section>
      )}
      {draft.email && (
        <Section title="E-mail">
          <div className="sm:col-span-2">
            <Field label="Address" htmlFor={id("emailAddress")} error={show("emailAddress", draft.emailAddress)}>
              <Input type="email" placeholder="ops@example.com" {...text("emailAddress")} />
            </Field>
          </div>
        </Section>
      )}
      {draft.quiet && (
        <Section title="Quiet hours">
          <Field label="From (hour)" htmlFor={id("quietStart")} error={errors.quietStart ?? null}>
            <Input inputMode="numeric" {...text("quietStart")} />
          </Field>
          <Field label="Until (hour)" htmlFor={id("quietEnd")} error={errors.quietEnd ?? null}>
            <Input inputMode="numeric" {...text("quietEnd")} />
          </Field>
          <div className="sm:col-span-2">
            <Field label="Time zone" htmlFor={id("quietZone")} error={errors.quietZone ?? null} hint="Events in these hours are recorded, not sent (across midnight when From is after Until).">
              <Input placeholder="UTC, Europe/Berlin, +05:30" {...text("quietZone")} />
            </Field>
          </div>
        </Section>
      )}
      <Field label="At most per hour (optional)" htmlFor={id("maxPerHour")} error={show("maxPerHour", draft.maxPerHour)} hint={`Events sent per clock hour, 1 to ${MAX_PER_HOUR_LIMIT}; the rest are recorded as suppressed.`}>
        <Input inputMode="numeric" placeholder="no limit" {...text("maxPerHour")} />
      </Field>
    </div>
  );
}
