/** A rule's automatic action: what it does to the rig each time it fires, and at most how
 * many times a day per rig. */
import { useId } from "react";
import type { AutoAction } from "../api/types";
import { ACTIONS, type ActionDraft } from "../lib/alertAction";
import { Field, Input, Select } from "./ui";

export function ActionFields({ draft, error, onChange }: { draft: ActionDraft; error: string | null; onChange: (draft: ActionDraft) => void }) {
  const ids = { action: useId(), perDay: useId() };
  return (
    <>
      <Field label="Also act on the rig" htmlFor={ids.action} hint="Each time it fires, at most the number of times a day below.">
        <Select id={ids.action} value={draft.action} onChange={(e) => onChange({ ...draft, action: e.target.value as AutoAction | "" })}>
          <option value="">No, only tell me</option>
          {(Object.keys(ACTIONS) as AutoAction[]).map((a) => (
            <option key={a} value={a}>
              {ACTIONS[a]}
            </option>
          ))}
        </Select>
      </Field>
      {draft.action && (
        <Field label="Actions per rig a day" htmlFor={ids.perDay} error={error}>
          <Input id={ids.perDay} inputMode="numeric" value={draft.perDay} onChange={(e) => onChange({ ...draft, perDay: e.target.value })} />
        </Field>
      )}
    </>
  );
}
