import { useEffect, useId, useMemo, useRef, useState, type FormEvent } from "react";
import { Link } from "react-router";
import {
  useChangeListing,
  useCreateListing,
  useDelist,
  useDevices,
  useEarnings,
  useMyListings,
  usePriceSuggestion,
  useProviderDashboard,
  useReputation,
  useRevokeDevice,
} from "../api/queries";
import type { DeviceOut, ListingOut } from "../api/types";
import { useConfig, useSession } from "../app/context";
import { RequireAuth } from "../components/Auth";
import { minerCommands } from "../lib/commands";
import { WorkerStatus } from "../components/domain";
import { TimeSeriesChart, type SeriesSpec } from "../components/TimeSeriesChart";
import {
  Badge,
  Button,
  Card,
  CopyBlock,
  Dialog,
  EmptyState,
  ErrorState,
  Field,
  Input,
  LoadingRows,
  Meter,
  PageHeader,
  QueryView,
  Select,
  Stat,
  Time,
} from "../components/ui";
import {
  formatCredits,
  formatDuration,
  formatHashrate,
  formatNumber,
  formatPercent,
  formatPricePerHour,
  MICRO_PER_CREDIT,
  parseCredits,
  shortAddress,
  shortId,
} from "../lib/format";

function EnrolCard() {
  const config = useConfig();
  const session = useSession();
  const [name, setName] = useState("");
  const [reveal, setReveal] = useState(false);
  const id = useId();
  if (!session) return null;
  const full = minerCommands({ apiUrl: config.apiUrl, token: session.token, name, stage: config.stage });
  const masked = minerCommands({ apiUrl: config.apiUrl, token: `${session.token.slice(0, 12)}…(hidden)`, name, stage: config.stage });
  return (
    <Card title="Enrol a rig" testId="enrol-card">
      <div className="space-y-3 text-sm">
        <p className="text-muted">
          Run these on the rig. <code className="font-mono text-text">enroll</code> makes a key on the rig, sends only a certificate request, and
          saves the certificate in <code className="font-mono">~/.xenblocks/miner</code>; the key never leaves the rig.
        </p>
        <Field label="Rig name (optional)" htmlFor={id}>
          <Input id={id} placeholder="e.g. garage-3090" maxLength={64} value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <CopyBlock text={full} display={reveal ? full : masked} label="enrolment commands" />
        <div className="flex flex-wrap items-center justify-between gap-2 text-xs text-muted">
          <span>
            The session token in the command expires <Time ts={session.expiresAt} />: enrol before then, or use{" "}
            <code className="font-mono">--wallet-key-file</code> instead.
          </span>
          <Button size="sm" variant="ghost" onClick={() => setReveal((v) => !v)} aria-pressed={reveal}>
            {reveal ? "Hide token" : "Show token"}
          </Button>
        </div>
      </div>
    </Card>
  );
}

function SuggestedPrices({ workerId, hashrate, onPick }: { workerId: string; hashrate?: number; onPick: (micro: number) => void }) {
  const suggestion = usePriceSuggestion(workerId, hashrate);
  if (suggestion.isPending) return <p className="text-xs text-muted">Reading the market…</p>;
  if (suggestion.isError) return <p className="text-xs text-muted">{(suggestion.error as Error).message}</p>;
  const s = suggestion.data;
  if (s.suggested_price_per_hour == null) return <p className="text-xs text-muted">No market prices yet: you set the first one.</p>;
  const options = [
    { label: "Rents fast", value: s.low_price_per_hour },
    { label: "Market median", value: s.suggested_price_per_hour },
    { label: "Premium", value: s.high_price_per_hour },
  ];
  return (
    <div className="space-y-1" data-testid="price-suggestions">
      <p className="text-xs text-muted">
        Suggested for {formatHashrate(s.hashrate)} ({s.basis === "gpu_model" ? `${s.gpu_model} prices` : "whole market"}):
      </p>
      <div className="flex flex-wrap gap-2">
        {options.map((o) =>
          o.value == null ? null : (
            <Button key={o.label} size="sm" onClick={() => onPick(o.value!)}>
              {o.label}: {formatPricePerHour(o.value)}
            </Button>
          ),
        )}
      </div>
    </div>
  );
}

function ListRigDialog({ device, onClose }: { device: DeviceOut; onClose: () => void }) {
  const create = useCreateListing();
  const ids = { price: useId(), hash: useId(), min: useId(), max: useId() };
  const [price, setPrice] = useState("");
  const [khs, setKhs] = useState(device.hashrate > 0 ? String(Math.round(device.hashrate) / 1000) : "");
  const [minHours, setMinHours] = useState("0.5");
  const [maxHours, setMaxHours] = useState("168");
  const micro = parseCredits(price);
  const hashrate = khs.trim() ? Number(khs) * 1000 : undefined;
  const minSec = Math.round(Number(minHours) * 3600);
  const maxSec = Math.round(Number(maxHours) * 3600);
  const valid = micro != null && micro > 0 && minSec >= 60 && maxSec >= minSec && (hashrate === undefined || hashrate > 0);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!valid || micro == null) return;
    create.mutate(
      {
        worker_id: device.worker_id,
        price_per_hour: micro,
        advertised_hashrate: hashrate,
        min_duration_sec: minSec,
        max_duration_sec: maxSec,
      },
      { onSuccess: onClose },
    );
  };
  return (
    <Dialog
      open
      onClose={onClose}
      title={`List ${device.name || shortId(device.worker_id)}`}
      footer={
        <>
          <Button variant="ghost" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" form="list-form" variant="primary" busy={create.isPending} disabled={!valid}>
            List on the marketplace
          </Button>
        </>
      }
    >
      <form id="list-form" onSubmit={submit} className="space-y-4">
        <Field label="Advertised hashrate (kH/s)" htmlFor={ids.hash} hint={`Measured: ${formatHashrate(device.hashrate)}. Renters are refunded below 90% of it.`}>
          <Input id={ids.hash} inputMode="decimal" value={khs} onChange={(e) => setKhs(e.target.value)} />
        </Field>
        <Field label="Price (credits per hour)" htmlFor={ids.price} error={price && micro == null ? "A credit amount, e.g. 0.25" : null}>
          <Input id={ids.price} inputMode="decimal" placeholder="0.25" value={price} onChange={(e) => setPrice(e.target.value)} />
        </Field>
        <SuggestedPrices workerId={device.worker_id} hashrate={hashrate} onPick={(m) => setPrice(formatCredits(m).replace(/,/g, ""))} />
        <div className="grid grid-cols-2 gap-3">
          <Field label="Shortest rental (hours)" htmlFor={ids.min}>
            <Input id={ids.min} inputMode="decimal" value={minHours} onChange={(e) => setMinHours(e.target.value)} />
          </Field>
          <Field label="Longest rental (hours)" htmlFor={ids.max}>
            <Input id={ids.max} inputMode="decimal" value={maxHours} onChange={(e) => setMaxHours(e.target.value)} />
          </Field>
        </div>
      </form>
    </Dialog>
  );
}

function Rigs({ onReputation }: { onReputation: (id: string) => void }) {
  const devices = useDevices();
  const revoke = useRevokeDevice();
  const [listing, setListing] = useState<DeviceOut | null>(null);
  const [revoking, setRevoking] = useState<DeviceOut | null>(null);
  const items = devices.data?.items.filter((d) => d.revoked_at == null) ?? [];
  return (
    <Card title="Your rigs" bodyClassName="p-0" testId="rigs">
      <QueryView
        query={devices}
        padded
        empty={items.length === 0 && <EmptyState title="No rigs yet">Enrol one with the commands above; it appears here when it connects.</EmptyState>}
      >
        <div className="overflow-x-auto">
          <table className="w-full text-sm">
            <caption className="sr-only">Your enrolled rigs</caption>
            <thead className="text-left text-xs uppercase tracking-wider text-muted">
              <tr>
                <th scope="col" className="py-2 pl-4 pr-3 font-medium">Rig</th>
                <th scope="col" className="py-2 pr-3 font-medium">Status</th>
                <th scope="col" className="py-2 pr-3 text-right font-medium">Hashrate</th>
                <th scope="col" className="hidden py-2 pr-3 font-medium md:table-cell">GPU</th>
                <th scope="col" className="hidden py-2 pr-3 font-medium sm:table-cell">Enrolled</th>
                <th scope="col" className="py-2 pr-4 text-right font-medium">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((d) => (
                <tr key={d.worker_id} className="border-t border-border" data-testid="rig-row">
                  <td className="py-2 pl-4 pr-3">
                    <Link to={`/workers/${encodeURIComponent(d.worker_id)}`} className="font-medium hover:text-accent">
                      {d.name || shortId(d.worker_id)}
                    </Link>
                    <span className="block font-mono text-[11px] text-muted">{shortId(d.worker_id, 12, 4)}</span>
                  </td>
                  <td className="py-2 pr-3">
                    <WorkerStatus offline={!d.online} state={d.state} />
                  </td>
                  <td className="tabular py-2 pr-3 text-right">{formatHashrate(d.hashrate)}</td>
                  <td className="hidden py-2 pr-3 md:table-cell">{d.gpu_model ?? "—"}</td>
                  <td className="hidden py-2 pr-3 text-xs text-muted sm:table-cell">
                    <Time ts={d.created_at} />
                  </td>
                  <td className="py-2 pr-4">
                    <div className="flex justify-end gap-1">
                      <Button size="sm" variant="ghost" onClick={() => onReputation(d.worker_id)}>
                        Reputation
                      </Button>
                      {d.listing_id ? (
                        <Badge tone="accent">Listed</Badge>
                      ) : (
                        <Button size="sm" onClick={() => setListing(d)}>
                          List
                        </Button>
                      )}
                      <Button size="sm" variant="danger" onClick={() => setRevoking(d)}>
                        Revoke
                      </Button>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </QueryView>
      {listing && <ListRigDialog device={listing} onClose={() => setListing(null)} />}
      <Dialog
        open={revoking !== null}
        onClose={() => setRevoking(null)}
        title="Revoke this rig?"
        footer={
          <>
            <Button variant="ghost" onClick={() => setRevoking(null)}>
              Cancel
            </Button>
            <Button
              variant="danger"
              onClick={() => {
                if (revoking) revoke.mutate(revoking.worker_id);
                setRevoking(null);
              }}
            >
              Revoke certificate
            </Button>
          </>
        }
      >
        <p className="text-sm text-muted">
          {revoking?.name || revoking?.worker_id} loses its certificate and cannot connect again; re-enrol it to bring it back.
        </p>
      </Dialog>
    </Card>
  );
}

function PriceEditor({ listing }: { listing: ListingOut }) {
  const change = useChangeListing();
  const [editing, setEditing] = useState(false);
  const [price, setPrice] = useState(formatCredits(listing.price_per_hour).replace(/,/g, ""));
  const id = useId();
  const inputRef = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (editing) inputRef.current?.focus();
  }, [editing]);
  const micro = parseCredits(price);
  if (!editing)
    return (
      <button
        type="button"
        className="tabular rounded px-1 underline decoration-dotted underline-offset-4 hover:text-accent disabled:no-underline"
        onClick={() => setEditing(true)}
        disabled={listing.status === "leased"}
        title={listing.status === "leased" ? "Not while leased" : "Change the price"}
      >
        {formatPricePerHour(listing.price_per_hour)}
      </button>
    );
  return (
    <form
      className="flex flex-col items-end gap-1"
      onSubmit={(e) => {
        e.preventDefault();
        if (micro == null || micro <= 0) return;
        change.mutate({ listing, change: { price_per_hour: micro } });
        setEditing(false);
      }}
    >
      <div className="flex items-center gap-1">
        <label htmlFor={id} className="sr-only">
          Price in credits per hour
        </label>
        <Input id={id} ref={inputRef} inputMode="decimal" value={price} onChange={(e) => setPrice(e.target.value)} className="w-24 py-1" />
        <Button size="sm" type="submit" variant="primary" disabled={micro == null || micro <= 0}>
          Save
        </Button>
        <Button size="sm" variant="ghost" onClick={() => setEditing(false)}>
          Cancel
        </Button>
      </div>
      <SuggestedPrices workerId={listing.worker_id} hashrate={listing.advertised_hashrate} onPick={(m) => setPrice(String(m / MICRO_PER_CREDIT))} />
    </form>
  );
}

function Listings() {
  const listings = useMyListings();
  const change = useChangeListing();
  const delist = useDelist();
  const items = (listings.data?.items ?? []).filter((l) => l.status !== "delisted");
  const tone = { open: "ok", leased: "info", paused: "warn", delisted: "neutral" } as const;
  return (
    <Card title="Your listings" bodyClassName="p-0" testId="listings">
      <QueryView
        query={listings}
        padded
        empty={items.length === 0 && <EmptyState title="Nothing listed">List a rig from the table above to rent its hashpower out.</EmptyState>}
      >
        <div className="overflow-x-auto">
          <table className="w-full text-sm">
            <caption className="sr-only">Your marketplace listings</caption>
            <thead className="text-left text-xs uppercase tracking-wider text-muted">
              <tr>
                <th scope="col" className="py-2 pl-4 pr-3 font-medium">Rig</th>
                <th scope="col" className="py-2 pr-3 font-medium">Status</th>
                <th scope="col" className="py-2 pr-3 text-right font-medium">Hashrate</th>
                <th scope="col" className="py-2 pr-3 text-right font-medium">Price</th>
                <th scope="col" className="hidden py-2 pr-3 text-right font-medium md:table-cell">Durations</th>
                <th scope="col" className="py-2 pr-4 text-right font-medium">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((l) => (
                <tr key={l.listing_id} className="border-t border-border align-top" data-testid="my-listing">
                  <td className="py-2 pl-4 pr-3">
                    {l.gpu_model ?? "—"}
                    <span className="block font-mono text-[11px] text-muted">{shortId(l.worker_id, 12, 4)}</span>
                  </td>
                  <td className="py-2 pr-3">
                    <Badge tone={tone[l.status]}>{l.status}</Badge>
                    {l.after_lease && <span className="block text-[11px] text-muted">then {l.after_lease}</span>}
                  </td>
                  <td className="tabular py-2 pr-3 text-right">{formatHashrate(l.advertised_hashrate)}</td>
                  <td className="py-2 pr-3 text-right">
                    <PriceEditor listing={l} />
                  </td>
                  <td className="hidden py-2 pr-3 text-right text-xs text-muted md:table-cell">
                    {formatDuration(l.min_duration_sec)} – {formatDuration(l.max_duration_sec)}
                  </td>
                  <td className="py-2 pr-4">
                    <div className="flex justify-end gap-1">
                      {l.status === "paused" ? (
                        <Button size="sm" onClick={() => change.mutate({ listing: l, change: { status: "open" } })}>
                          Resume
                        </Button>
                      ) : l.status === "open" ? (
                        <Button size="sm" onClick={() => change.mutate({ listing: l, change: { status: "paused" } })}>
                          Pause
                        </Button>
                      ) : null}
                      <Button size="sm" variant="danger" onClick={() => delist.mutate(l.listing_id)}>
                        Delist
                      </Button>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </QueryView>
    </Card>
  );
}

function Earnings() {
  const [days, setDays] = useState(30);
  const earnings = useEarnings(days);
  const id = useId();
  const series = useMemo<SeriesSpec[]>(
    () => [
      {
        id: "payout",
        label: "Payout",
        kind: "histogram",
        data: (earnings.data?.days ?? []).map((d) => ({ time: Date.parse(`${d.day}T00:00:00Z`) / 1000, value: d.payout / MICRO_PER_CREDIT })),
      },
    ],
    [earnings.data],
  );
  const total = earnings.data?.total ?? 0;
  return (
    <Card
      title="Earnings"
      actions={
        <>
          <label htmlFor={id} className="sr-only">Window</label>
          <Select id={id} value={days} onChange={(e) => setDays(Number(e.target.value))} className="w-auto py-1">
            <option value={7}>7 days</option>
            <option value={30}>30 days</option>
            <option value={90}>90 days</option>
          </Select>
        </>
      }
    >
      <QueryView query={earnings} rows={6}>
        <div className="mb-3 flex flex-wrap gap-6 text-sm">
          <div>
            <div className="text-xs text-muted">Paid to you</div>
            <div className="tabular text-lg font-semibold">{formatCredits(total)} cr</div>
          </div>
          <div>
            <div className="text-xs text-muted">Platform fees withheld</div>
            <div className="tabular text-lg">{formatCredits(earnings.data?.fee_withheld)} cr</div>
          </div>
        </div>
        {total === 0 ? (
          <EmptyState title="No earnings in this window">Payouts land when a lease on your rigs settles.</EmptyState>
        ) : (
          <TimeSeriesChart series={series} format={(v) => `${v.toFixed(v < 1 ? 4 : 2)} cr`} label="Payouts per day" height={220} testId="earnings-chart" />
        )}
      </QueryView>
    </Card>
  );
}

const PART_NAMES: Record<string, string> = {
  uptime: "Uptime",
  delivery: "Delivery",
  blocks: "Verified blocks",
  leases: "Completed leases",
  age: "Age",
};

function Reputation({ workerId, devices, onChange }: { workerId: string | null; devices: DeviceOut[]; onChange: (id: string) => void }) {
  const rep = useReputation(workerId);
  const id = useId();
  return (
    <Card
      title="Reputation"
      actions={
        devices.length > 0 && (
          <>
            <label htmlFor={id} className="sr-only">Rig</label>
            <Select id={id} value={workerId ?? ""} onChange={(e) => onChange(e.target.value)} className="w-auto max-w-[12rem] py-1">
              {devices.map((d) => (
                <option key={d.worker_id} value={d.worker_id}>
                  {d.name || shortId(d.worker_id)}
                </option>
              ))}
            </Select>
          </>
        )
      }
      testId="reputation"
    >
      {!workerId ? (
        <EmptyState title="No rig to score">Reputation is computed per rig from uptime, verified delivery, blocks and completed leases.</EmptyState>
      ) : rep.isPending ? (
        <LoadingRows />
      ) : rep.isError ? (
        <ErrorState error={rep.error} onRetry={() => void rep.refetch()} />
      ) : (
        <div className="space-y-4">
          <div className="flex items-baseline gap-3">
            <span className="tabular text-3xl font-semibold">{rep.data.score == null ? "—" : Math.round(rep.data.score)}</span>
            <span className="text-sm text-muted">{rep.data.score == null ? "not scored yet" : "/ 100"}</span>
            {rep.data.updated_at && (
              <span className="ml-auto text-xs text-muted">
                updated <Time ts={rep.data.updated_at} />
              </span>
            )}
          </div>
          {rep.data.parts.length > 0 && (
            <ul className="space-y-2">
              {rep.data.parts.map((p) => (
                <li key={p.name}>
                  <div className="flex justify-between text-xs">
                    <span>{PART_NAMES[p.name] ?? p.name}</span>
                    <span className="tabular text-muted">
                      {p.points.toFixed(1)} / {p.weight} pts
                    </span>
                  </div>
                  <Meter value={p.value} label={`${PART_NAMES[p.name] ?? p.name}: ${formatPercent(p.value)}`} />
                </li>
              ))}
            </ul>
          )}
          <dl className="grid grid-cols-2 gap-2 text-sm sm:grid-cols-4">
            <div>
              <dt className="text-xs text-muted">Uptime 24 h</dt>
              <dd className="tabular">{formatPercent(rep.data.uptime)}</dd>
            </div>
            <div>
              <dt className="text-xs text-muted">Delivery</dt>
              <dd className="tabular">{formatPercent(rep.data.delivery)}</dd>
            </div>
            <div>
              <dt className="text-xs text-muted">Blocks</dt>
              <dd className="tabular">{formatNumber(rep.data.verified_blocks)}</dd>
            </div>
            <div>
              <dt className="text-xs text-muted">Leases done</dt>
              <dd className="tabular">{formatNumber(rep.data.completed_leases)}</dd>
            </div>
          </dl>
        </div>
      )}
    </Card>
  );
}

function ProviderContent() {
  const board = useProviderDashboard();
  const devices = useDevices();
  const [repWorker, setRepWorker] = useState<string | null>(null);
  const live = devices.data?.items.filter((d) => d.revoked_at == null) ?? [];
  const selected = repWorker ?? live[0]?.worker_id ?? null;
  const t = board.data?.totals;
  return (
    <>
      <div className="grid grid-cols-2 gap-3 md:grid-cols-3 xl:grid-cols-5">
        <Stat label="Rigs online" value={formatNumber(t?.workers_online)} loading={board.isPending} />
        <Stat label="Hashrate online" value={formatHashrate(t?.hashrate_online)} loading={board.isPending} />
        <Stat label="Listed" value={formatHashrate(t?.hashrate_listed)} loading={board.isPending} />
        <Stat label="Leased now" value={formatHashrate(t?.hashrate_leased)} loading={board.isPending} />
        <Stat
          label="Earned to date"
          value={`${formatCredits(t?.earnings_to_date, { maxDecimals: 2 })} cr`}
          loading={board.isPending}
          hint={t && !t.earnings_complete ? "at least" : undefined}
        />
      </div>
      <div className="mt-6 grid gap-6 xl:grid-cols-2">
        <EnrolCard />
        <Card title="Leases on your rigs" bodyClassName="p-0">
          {board.isPending ? (
            <div className="p-4">
              <LoadingRows />
            </div>
          ) : (board.data?.active_leases.length ?? 0) === 0 ? (
            <EmptyState title="No active leases">When a renter takes one of your listings it shows here.</EmptyState>
          ) : (
            <ul className="divide-y divide-border">
              {board.data?.active_leases.map((l) => (
                <li key={l.lease_id} className="flex flex-wrap items-center justify-between gap-2 px-4 py-2 text-sm">
                  <span>
                    <span className="font-mono text-xs">{shortId(l.worker_id, 10, 4)}</span> → {shortAddress(l.renter)}
                  </span>
                  <span className="flex items-center gap-3 text-xs text-muted">
                    <span>{formatPricePerHour(l.price_per_hour)}</span>
                    <span>{l.shares} shares</span>
                    <span>
                      ends <Time ts={l.ends_at} />
                    </span>
                  </span>
                </li>
              ))}
            </ul>
          )}
        </Card>
      </div>
      <div className="mt-6">
        <Rigs onReputation={setRepWorker} />
      </div>
      <div className="mt-6">
        <Listings />
      </div>
      <div className="mt-6 grid gap-6 xl:grid-cols-2">
        <Earnings />
        <Reputation workerId={selected} devices={live} onChange={setRepWorker} />
      </div>
    </>
  );
}

export default function Provider() {
  return (
    <div data-testid="page-provider">
      <PageHeader title="Provider" subtitle="Enrol rigs, list their hashpower, price it from the market, and watch what it earns." />
      <RequireAuth what="your rigs and listings">
        <ProviderContent />
      </RequireAuth>
    </div>
  );
}
