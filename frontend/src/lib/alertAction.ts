/** A rule's automatic action on the rig (`action`, `max_actions_per_day`): the form's draft,
 * its checks, and the PATCH that changes a stored rule (`{"action": null}` removes it). */
import type { AutoAction, RuleOut, RulePatch } from "../api/types";

export const ACTIONS: Record<AutoAction, string> = { pause: "Pause the rig", restart: "Restart its miner (pause, then resume)" };
export const MAX_ACTIONS_PER_DAY = 10;
const DEFAULT_ACTIONS_PER_DAY = 3;

/** What came of an event's action: sent, daily_limit (the day's allowance was used), failed. */
export const ACTION_RESULTS: Record<string, { label: string; tone: "ok" | "warn" | "danger" }> = {
  sent: { label: "sent", tone: "ok" },
  daily_limit: { label: "not sent: daily limit reached", tone: "warn" },
  failed: { label: "failed", tone: "danger" },
};

export interface ActionDraft {
  /** "": no action, only tell the owner. */
  action: AutoAction | "";
  perDay: string;
}

export function actionDraftOf(rule?: Pick<RuleOut, "action" | "max_actions_per_day">): ActionDraft {
  return { action: rule?.action ?? "", perDay: String(rule?.max_actions_per_day ?? DEFAULT_ACTIONS_PER_DAY) };
}

/** Why the draft cannot be sent (null: it can). */
export function actionError(draft: ActionDraft): string | null {
  if (!draft.action) return null;
  const text = draft.perDay.trim();
  const count = Number(text);
  return !/^\d+$/.test(text) || count < 1 || count > MAX_ACTIONS_PER_DAY ? `1 to ${MAX_ACTIONS_PER_DAY}` : null;
}

/** The new rule's fields. */
export function actionCreateFields(draft: ActionDraft): { action: AutoAction | null; max_actions_per_day: number } {
  return draft.action
    ? { action: draft.action, max_actions_per_day: Number(draft.perDay.trim()) }
    : { action: null, max_actions_per_day: DEFAULT_ACTIONS_PER_DAY };
}

/** Only what differs from the stored rule; no action sends `{"action": null}`. */
export function actionPatch(draft: ActionDraft, rule: Pick<RuleOut, "action" | "max_actions_per_day">): RulePatch {
  if (!draft.action) return rule.action ? { action: null } : {};
  const patch: RulePatch = {};
  if (draft.action !== rule.action) patch.action = draft.action;
  const perDay = Number(draft.perDay.trim());
  if (perDay !== rule.max_actions_per_day) patch.max_actions_per_day = perDay;
  return patch;
}
