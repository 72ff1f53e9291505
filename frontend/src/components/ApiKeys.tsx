import { useId, useState, type FormEvent } from "react";
import { SCOPES, useApiKeys, useCreateApiKey, useRevokeApiKey } from "../api/apiKeys";
import { useNow } from "../app/context";
import type { ApiKeyCreated, ApiKeyOut, CreateKey, Scope } from "../api/types";
import { Badge, Button, Card, CopyBlock, EmptyState, Field, Input, QueryView, Select, Time } from "./ui";

const EXPIRY_DAYS = [7, 30, 90, 365] as const;
const MAX_NAME = 64;

function CreateKeyForm({ busy, full, onSubmit }: { busy: boolean; full: boolean; onSubmit: (body: CreateKey) => void }) {
  const nameId = useId();
  const expiryId = useId();
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<Scope[]>(["read"]);
  const [expiry, setExpiry] = useState("90");
  const trimmed = name.trim();
  const ready = trimmed.length > 0 && scopes.length > 0 && !full;
  const toggle = (scope: Scope, on: boolean) =>
    setScopes((current) => SCOPES.map((s) => s.scope).filter((s) => (s === scope ? on : current.includes(s))));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!ready) return;
    onSubmit({ name: trimmed, scopes, expires_in_days: expiry === "never" ? null : Number(expiry) });
    setName("");
  };
  return (
    <form onSubmit={submit} className="flex flex-col gap-3" data-testid="api-key-form">
      <div className="grid gap-3 sm:grid-cols-[1fr_10rem]">
        <Field label="Name" htmlFor={nameId} hint="What the key is for, e.g. rent-bot on my server.">
          <Input id={nameId} maxLength={MAX_NAME} placeholder="rent-bot" value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field label="Expires" htmlFor={expiryId}>
          <Select id={expiryId} value={expiry} onChange={(e) => setExpiry(e.target.value)}>
            {EXPIRY_DAYS.map((days) => (
              <option key={days} value={String(days)}>
                in {days} days
              </option>
            ))}
            <option value="never">never (until revoked)</option>
          </Select>
        </Field>
      </div>
      <fieldset className="flex flex-col gap-1.5">
        <legend className="mb-1 text-xs font-medium text-muted">Scopes</legend>
        {SCOPES.map((s) => (
          <label key={s.scope} className="flex cursor-pointer items-center gap-2 text-sm">
            <input
              type="checkbox"
              className="h-4 w-4 accent-accent"
              checked={scopes.includes(s.scope)}
              onChange={(e) => toggle(s.scope, e.target.checked)}
            />
            <span className="font-medium">{s.label}</span>
            <span className="text-xs text-muted">{s.hint}</span>
          </label>
        ))}
      </fieldset>
      <div className="flex flex-wrap items-center gap-3">
        <Button type="submit" variant="primary" busy={busy} disabled={!ready}>
          Create key
        </Button>
        {full && <span className="text-xs text-muted">You hold the most keys an address may: revoke one first.</span>}
        {!full && scopes.length === 0 && <span className="text-xs text-muted">Pick at least one scope.</span>}
      </div>
    </form>
  );
}

function NewKey({ created, onDone }: { created: ApiKeyCreated; onDone: () => void }) {
  return (
    <div className="flex flex-col gap-2 rounded-lg border border-accent/40 bg-accent/5 p-3" role="status" data-testid="api-key-created">
      <p className="text-sm font-medium">Copy “{created.name}” now: it is not shown again.</p>
      <CopyBlock text={created.key} label="API key" />
      <p className="text-xs text-muted">
        Send it as <code className="font-mono">Authorization: Bearer &lt;key&gt;</code>. Only its hash is kept, so a lost key cannot be
        recovered: revoke it and make another.
      </p>
      <div>
        <Button size="sm" onClick={onDone}>
          I have copied it
        </Button>
      </div>
    </div>
  );
}

function KeyRow({ apiKey, onRevoke }: { apiKey: ApiKeyOut; onRevoke: () => void }) {
  const [confirming, setConfirming] = useState(false);
  const now = useNow(60_000);
  const expired = apiKey.expires_at != null && apiKey.expires_at <= now;
  return (
    <li className="flex flex-wrap items-center justify-between gap-3 py-3 text-sm" data-testid="api-key">
      <div className="min-w-0">
        <div className="flex flex-wrap items-center gap-2">
          <span className="font-medium">{apiKey.name}</span>
          <code className="font-mono text-xs text-muted">xbk_{apiKey.key_id}_…</code>
          {expired && <Badge tone="danger">expired</Badge>}
        </div>
        <div className="mt-1 flex flex-wrap gap-1">
          {apiKey.scopes.map((scope) => (
            <Badge key={scope} tone={scope === "withdraw" ? "warn" : "neutral"}>
              {scope}
            </Badge>
          ))}
        </div>
        <p className="mt-1 text-xs text-muted">
          created <Time ts={apiKey.created_at} /> · {apiKey.expires_at == null ? "never expires" : <>expires <Time ts={apiKey.expires_at} /></>}{" "}
          · {apiKey.last_used_at == null ? "never used" : <>last used <Time ts={apiKey.last_used_at} /></>}
        </p>
      </div>
      {confirming ? (
        <div className="flex items-center gap-2">
          <Button
            size="sm"
            variant="danger"
            onClick={() => {
              setConfirming(false);
              onRevoke();
            }}
            aria-label={`Confirm revoking key ${apiKey.name}`}
          >
            Revoke now
          </Button>
          <Button size="sm" variant="ghost" onClick={() => setConfirming(false)}>
            Keep
          </Button>
        </div>
      ) : (
        <Button size="sm" variant="danger" onClick={() => setConfirming(true)} aria-label={`Revoke key ${apiKey.name}`}>
          Revoke
        </Button>
      )}
    </li>
  );
}

/** The Account page's API keys: list, create (the key shown once), revoke. */
export function ApiKeysCard() {
  const list = useApiKeys();
  const create = useCreateApiKey();
  const revoke = useRevokeApiKey();
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);
  const items = list.data?.items ?? [];
  const full = list.data != null && items.length >= list.data.max_keys;
  return (
    <Card title="API keys" testId="api-keys">
      <div className="flex flex-col gap-4">
        <p className="text-sm text-muted">
          For bots and scripts. A key acts for your address within its scopes only: it never makes keys, signs sessions out or acts as an
          admin. Revoking one stops it at once.
        </p>
        {created && <NewKey created={created} onDone={() => setCreated(null)} />}
        <CreateKeyForm busy={create.isPending} full={full} onSubmit={(body) => create.mutate(body, { onSuccess: setCreated })} />
        <QueryView
          query={list}
          rows={2}
          loadingLabel="Loading your API keys"
          empty={items.length === 0 && <EmptyState title="No API keys">Create one for a script that rents, lists or watches your rigs.</EmptyState>}
        >
          <ul className="divide-y divide-border border-t border-border">
            {items.map((apiKey) => (
              <KeyRow key={apiKey.key_id} apiKey={apiKey} onRevoke={() => revoke.mutate(apiKey.key_id)} />
            ))}
          </ul>
        </QueryView>
      </div>
    </Card>
  );
}
