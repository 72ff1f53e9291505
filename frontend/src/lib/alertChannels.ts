/**
 * Where a rule's events go (webhook, Telegram, Discord, e-mail), its quiet hours and rate
 * limit: the form's draft, its checks, and the bodies for POST and PATCH /api/alerts/rules.
 *
 * Secrets (the bot token, the Discord webhook URL) are write-only: the API shows only a hint
 * (…ab12). A secret field left empty keeps the stored secret: PATCH names only the channels
 * that change (a channel named is replaced whole, null removes it, the others are kept).
 */
import type { ChannelsIn, QuietHoursIn, RuleCreate, RuleOut, RulePatch } from "../api/types";

export const MAX_PER_HOUR_LIMIT = 1000;

// The API's own patterns (functions/models/alerts.py), to say what is wrong before sending.
const TELEGRAM_TOKEN = /^\d{1,20}:[A-Za-z0-9_-]{30,100}$/;
const TELEGRAM_CHAT = /^(-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})$/;
const DISCORD_WEBHOOK = /^https:\/\/(discord\.com|discordapp\.com)\/api(\/v\d{1,2})?\/webhooks\/\d{15,25}\/[A-Za-z0-9_-]{20,128}$/;
const EMAIL = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;

export interface ChannelsDraft {
  webhook: string;
  telegram: boolean;
  telegramToken: string;
  telegramChat: string;
  discord: boolean;
  discordUrl: string;
  email: boolean;
  emailAddress: string;
  quiet: boolean;
  quietStart: string;
  quietEnd: string;
  quietZone: string;
  maxPerHour: string;
}

export type DraftErrors = Partial<Record<keyof ChannelsDraft, string>>;

/** The form's start: empty for a new rule, a stored rule's settings (never its secrets). */
export function draftOf(rule?: RuleOut): ChannelsDraft {
  const channels = rule?.channels ?? {};
  const quiet = rule?.quiet_hours;
  return {
    webhook: rule?.webhook_url ?? "",
    telegram: channels.telegram != null,
    telegramToken: "",
    telegramChat: channels.telegram?.chat_id ?? "",
    discord: channels.discord != null,
    discordUrl: "",
    email: channels.email != null,
    emailAddress: channels.email?.address ?? "",
    quiet: quiet != null,
    quietStart: String(quiet?.start_hour ?? 22),
    quietEnd: String(quiet?.end_hour ?? 7),
    quietZone: quiet?.timezone ?? "UTC",
    maxPerHour: rule?.max_per_hour == null ? "" : String(rule.max_per_hour),
  };
}

function hour(text: string): number | null {
  if (!/^\d{1,2}$/.test(text.trim())) return null;
  const value = Number(text);
  return value <= 23 ? value : null;
}

/** What is wrong with the draft, by field; `rule` is the stored rule being changed. */
export function draftErrors(draft: ChannelsDraft, rule?: RuleOut): DraftErrors {
  const errors: DraftErrors = {};
  const stored = rule?.channels ?? {};
  const webhook = draft.webhook.trim();
  if (webhook && !/^https?:\/\/\S+$/.test(webhook)) errors.webhook = "An https:// URL.";
  if (draft.telegram) {
    const token = draft.telegramToken.trim();
    const chat = draft.telegramChat.trim();
    if (token && !TELEGRAM_TOKEN.test(token)) errors.telegramToken = "A token as @BotFather gives it: <digits>:<30 or more letters, digits, _ or ->.";
    else if (!token && !stored.telegram) errors.telegramToken = "The bot's token.";
    else if (!token && stored.telegram && chat !== stored.telegram.chat_id)
      errors.telegramToken = "Enter the bot token again to change the chat (the stored one is never sent back).";
    if (!TELEGRAM_CHAT.test(chat)) errors.telegramChat = "A chat's numeric id (negative for groups) or a channel's @username.";
  }
  if (draft.discord) {
    const url = draft.discordUrl.trim();
    if (url && !DISCORD_WEBHOOK.test(url)) errors.discordUrl = "https://discord.com/api/webhooks/<id>/<token>";
    else if (!url && !stored.discord) errors.discordUrl = "The channel's webhook URL.";
  }
  if (draft.email && !EMAIL.test(draft.emailAddress.trim())) errors.emailAddress = "An e-mail address such as ops@example.com.";
  if (draft.quiet) {
    const start = hour(draft.quietStart);
    const end = hour(draft.quietEnd);
    if (start == null) errors.quietStart = "An hour, 0 to 23.";
    if (end == null) errors.quietEnd = "An hour, 0 to 23.";
    else if (start === end) errors.quietEnd = "Not the start hour.";
    if (!draft.quietZone.trim()) errors.quietZone = "UTC, an IANA zone (Europe/Berlin) or an offset (+05:30).";
  }
  const max = draft.maxPerHour.trim();
  if (max && (!/^\d+$/.test(max) || Number(max) < 1 || Number(max) > MAX_PER_HOUR_LIMIT)) errors.maxPerHour = `1 to ${MAX_PER_HOUR_LIMIT}, or empty for no limit.`;
  return errors;
}

function quietOf(draft: ChannelsDraft): QuietHoursIn | null {
  if (!draft.quiet) return null;
  return { start_hour: Number(draft.quietStart), end_hour: Number(draft.quietEnd), timezone: draft.quietZone.trim() };
}

function maxOf(draft: ChannelsDraft): number | null {
  return draft.maxPerHour.trim() ? Number(draft.maxPerHour) : null;
}

/** The delivery part of a new rule's body. */
export function createFields(draft: ChannelsDraft): Pick<RuleCreate, "webhook_url" | "channels" | "quiet_hours" | "max_per_hour"> {
  const channels: ChannelsIn = {};
  if (draft.telegram) channels.telegram = { bot_token: draft.telegramToken.trim(), chat_id: draft.telegramChat.trim() };
  if (draft.discord) channels.discord = { webhook_url: draft.discordUrl.trim() };
  if (draft.email) channels.email = { address: draft.emailAddress.trim() };
  return {
    webhook_url: draft.webhook.trim() || null,
    channels: Object.keys(channels).length ? channels : null,
    quiet_hours: quietOf(draft),
    max_per_hour: maxOf(draft),
  };
}

function sameQuiet(a: QuietHoursIn | null, b: QuietHoursIn | null): boolean {
  if (a == null || b == null) return a === b;
  return a.start_hour === b.start_hour && a.end_hour === b.end_hour && a.timezone === b.timezone;
}

/** Only what changed against the stored rule; an empty secret keeps the stored one. */
export function patchFields(draft: ChannelsDraft, rule: RuleOut): RulePatch {
  const patch: RulePatch = {};
  const webhook = draft.webhook.trim() || null;
  if (webhook !== rule.webhook_url) patch.webhook_url = webhook;

  const stored = rule.channels;
  const channels: ChannelsIn = {};
  const token = draft.telegramToken.trim();
  if (!draft.telegram && stored.telegram) channels.telegram = null;
  else if (draft.telegram && token) channels.telegram = { bot_token: token, chat_id: draft.telegramChat.trim() };
  const url = draft.discordUrl.trim();
  if (!draft.discord && stored.discord) channels.discord = null;
  else if (draft.discord && url) channels.discord = { webhook_url: url };
  const address = draft.emailAddress.trim();
  if (!draft.email && stored.email) channels.email = null;
  else if (draft.email && address !== stored.email?.address) channels.email = { address };
  if (Object.keys(channels).length) patch.channels = channels;

  const quiet = quietOf(draft);
  if (!sameQuiet(quiet, rule.quiet_hours)) patch.quiet_hours = quiet;
  const max = maxOf(draft);
  if (max !== rule.max_per_hour) patch.max_per_hour = max;
  return patch;
}

/** "22:00–07:00 Europe/Berlin". */
export function describeQuiet(quiet: QuietHoursIn): string {
  const at = (h: number) => `${String(h).padStart(2, "0")}:00`;
  return `${at(quiet.start_hour)}–${at(quiet.end_hour)} ${quiet.timezone}`;
}
