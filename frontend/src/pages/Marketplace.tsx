import { useDeferredValue, useId, useMemo, useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router";
import { idempotencyKey } from "../api/client";
import type { MarketFilters } from "../api/keys";
import { useAccount, useEstimate, useMarketplace, usePriceIndex, useRent, type EstimateParams } from "../api/queries";
import type { Estimate, ListingOut } from "../api/types";
import { useSession, useServices } from "../app/context";
import { SignInButton } from "../components/Auth";
import { TimeSeriesChart, type SeriesSpec } from "../components/TimeSeriesChart";
import {
  Badge,
  Button,
  Card,
  Dialog,
  EmptyState,
  ErrorState,
  Field,
  Input,
  LoadMore,
  PageHeader,
  QueryView,
  Select,
  Skeleton,
} from "../components/ui";
import {
  formatCredits,
  formatDuration,
  formatHashrate,
  formatPercent,
  formatPricePerHour,
  formatPricePerKhs,
  parseCredits,
  shortAddress,
} from "../lib/format";

/** Hours and minutes → seconds, or null when not a whole positive duration. */
function toSeconds(hours: string, minutes: string): number | null {
  const h = hours.trim() === "" ? 0 : Number(hours);
  const m = minutes.trim() === "" ? 0 : Number(minutes);
  if (!Number.isFinite(h) || !Number.isFinite(m) || h < 0 || m < 0) return null;
  const total = Math.round(h * 3600 + m * 60);
  return total > 0 ? total : null;
}

function EstimateView({ estimate, loading, balance }: { estimate: Estimate | undefined; loading: boolean; balance: number | null }) {
  if (loading && !estimate) return <Skeleton className="h-16 w-full" />;
  if (!estimate) return null;
  if (estimate.max_cost == null)
    return <p className="text-sm text-muted">No listing matches: try a lower hashrate or another GPU model.</p>;
  const short = balance != null && balance < estimate.max_cost;
  const cheaper = estimate.market_cost != null && estimate.max_cost <= estimate.market_cost;
  return (
    <dl className="grid grid-cols-2 gap-x-4 gap-y-2 rounded-lg border border-border bg-bg p-3 text-sm" data-testid="estimate">
      <dt className="text-muted">Escrowed now (max)</dt>
      <dd className="tabular text-right font-semibold">{formatCredits(estimate.max_cost)} cr</dd>
      <dt className="text-muted">Platform fee inside</dt>
      <dd className="tabular text-right">{formatCredits(estimate.fee_included)} cr</dd>
      <dt className="text-muted">Hashrate</dt>
      <dd className="tabular text-right">{formatHashrate(estimate.hashrate)}</dd>
      {estimate.market_cost != null && (
        <>
          <dt className="text-muted">At the market median</dt>
          <dd className="tabular text-right">
            {formatCredits(estimate.market_cost)} cr {cheaper ? <Badge tone="ok">below median</Badge> : <Badge tone="warn">above median</Badge>}
          </dd>
        </>
      )}
      {balance != null && (
        <>
          <dt className="text-muted">Your balance</dt>
          <dd className={`tabular text-right ${short ? "text-danger" : ""}`}>{formatCredits(balance)} cr</dd>
        </>
      )}
      <dd className="col-span-2 text-xs text-muted">
        You pay for verified delivery only: the unused escrow is refunded at settlement, and a shortfall under 90% of the advertised hashrate is refunded too.
      </dd>
    </dl>
  );
}

function RentDialog({ listing, onClose }: { listing: ListingOut; onClose: () => void }) {
  const session = useSession();
  const account = useAccount();
  const rent = useRent();
  const navigate = useNavigate();
  const { toasts } = useServices();
  const ids = { hours: useId(), minutes: useId() };
  const defaultSec = Math.min(Math.max(3600, listing.min_duration_sec), listing.max_duration_sec);
  const [hours, setHours] = useState(String(Math.floor(defaultSec / 3600)));
  const [minutes, setMinutes] = useState(String(Math.floor((defaultSec % 3600) / 60)));
  const [key] = useState(idempotencyKey);
  const seconds = toSeconds(hours, minutes);
  const outOfRange = seconds != null && (seconds < listing.min_duration_sec || seconds > listing.max_duration_sec);
  const valid = seconds != null && !outOfRange;
  const deferred = useDeferredValue(valid ? seconds : null);
  const estimate = useEstimate(deferred ? { listing_id: listing.listing_id, duration_sec: deferred } : null);
  const balance = account.data?.balance ?? null;
  const short = balance != null && estimate.data?.max_cost != null && balance < estimate.data.max_cost;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!valid || seconds == null) return;
    rent.mutate(
      { listingId: listing.listing_id, durationSec: seconds, key },
      {
        onSuccess: (lease) => {
          toasts.success("Rented", `${formatHashrate(lease.advertised_hashrate)} for ${formatDuration(lease.duration_sec)}`);
          onClose();
          void navigate(`/renter?lease=${encodeURIComponent(lease.lease_id)}`);
        },
      },
    );
  };

  return (
    <Dialog
      open
      onClose={onClose}
      title={`Rent ${listing.gpu_model ?? "rig"} · ${formatHashrate(listing.advertised_hashrate)}`}
      testId="rent-dialog"
      footer={
        session ? (
          <>
            <Button variant="ghost" onClick={onClose}>
              Cancel
            </Button>
            <Button variant="primary" type="submit" form="rent-form" busy={rent.isPending} disabled={!valid || short} data-testid="confirm-rent">
              Rent for {estimate.data?.max_cost != null ? `${formatCredits(estimate.data.max_cost)} cr` : "…"}
            </Button>
          </>
        ) : (
          <SignInButton label="Sign in to rent" />
        )
      }
    >
      <form id="rent-form" onSubmit={submit} className="space-y-4">
        <div className="grid grid-cols-2 gap-3 text-sm">
          <div>
            <div className="text-xs text-muted">Price</div>
            <div className="tabular font-medium">{formatPricePerHour(listing.price_per_hour)}</div>
          </div>
          <div>
            <div className="text-xs text-muted">Provider</div>
            <div className="font-mono text-xs">{shortAddress(listing.provider)}</div>
          </div>
        </div>
        <fieldset>
          <legend className="mb-1 text-xs font-medium text-muted">
            Duration ({formatDuration(listing.min_duration_sec)} – {formatDuration(listing.max_duration_sec)})
          </legend>
          <div className="grid grid-cols-2 gap-3">
            <Field label="Hours" htmlFor={ids.hours}>
              <Input id={ids.hours} type="number" min={0} step={1} inputMode="numeric" value={hours} onChange={(e) => setHours(e.target.value)} />
            </Field>
            <Field label="Minutes" htmlFor={ids.minutes}>
              <Input id={ids.minutes} type="number" min={0} max={59} step={5} inputMode="numeric" value={minutes} onChange={(e) => setMinutes(e.target.value)} />
            </Field>
          </div>
          {outOfRange && (
            <p className="mt-1 text-xs text-danger" role="alert">
              This listing rents for {formatDuration(listing.min_duration_sec)} to {formatDuration(listing.max_duration_sec)}.
            </p>
          )}
        </fieldset>
        <EstimateView estimate={estimate.data} loading={estimate.isFetching} balance={session ? balance : null} />
        {estimate.isError && <ErrorState error={estimate.error} />}
        {short && (
          <p className="text-sm text-danger" role="alert">
            Not enough credit. <Link to="/account" className="underline" onClick={onClose}>Deposit</Link> first.
          </p>
        )}
      </form>
    </Dialog>
  );
}

function ListingCard({ listing, onRent }: { listing: ListingOut; onRent: () => void }) {
  return (
    <article
      className="flex flex-col gap-3 rounded-card border border-border bg-surface p-4 shadow-card"
      data-testid="listing-card"
      data-listing-id={listing.listing_id}
    >
      <header className="flex items-start justify-between gap-2">
        <div className="min-w-0">
          <h3 className="truncate font-semibold">{listing.gpu_model ?? "Unknown GPU"}</h3>
          <p className="font-mono text-xs text-muted">{shortAddress(listing.provider)}</p>
        </div>
        {listing.online === false ? <Badge tone="danger">Offline</Badge> : <Badge tone="ok">Online</Badge>}
      </header>
      <dl className="grid grid-cols-2 gap-2 text-sm">
        <div>
          <dt className="text-xs text-muted">Hashrate</dt>
          <dd className="tabular font-medium">{formatHashrate(listing.advertised_hashrate)}</dd>
        </div>
        <div>
          <dt className="text-xs text-muted">Price</dt>
          <dd className="tabular font-medium">{formatPricePerHour(listing.price_per_hour)}</dd>
        </div>
        <div>
          <dt className="text-xs text-muted">Per kH/s·h</dt>
          <dd className="tabular">{formatPricePerKhs(listing.price_per_khs_hour)}</dd>
        </div>
        <div>
          <dt className="text-xs text-muted">Reputation</dt>
          <dd className="tabular">
            {listing.reputation_score == null ? <span className="text-muted">new</span> : `${Math.round(listing.reputation_score)}/100`}
            {listing.delivery_ratio != null && (
              <span className="ml-1 text-xs text-muted" title="Delivered / advertised hashrate on past leases">
                · {formatPercent(listing.delivery_ratio)} delivered
              </span>
            )}
          </dd>
        </div>
        <div className="col-span-2" data-testid={`measured-${listing.listing_id}`}>
          <dt className="text-xs text-muted">Paid for</dt>
          <dd className="text-xs">
            {listing.measured_by === "blocks" ? (
              <span title="This rig sends no shares: a lease pays for its verified blocks, a coarse measure">
                verified blocks
                {listing.hourly_uncertainty != null && ` (±${formatPercent(listing.hourly_uncertainty)} over an hour)`}
              </span>
            ) : (
              <span title="A lease pays for the work its verified shares prove">verified shares</span>
            )}
          </dd>
        </div>
      </dl>
      <footer className="mt-auto flex items-center justify-between gap-2">
        <span className="text-xs text-muted">
          {formatDuration(listing.min_duration_sec)} – {formatDuration(listing.max_duration_sec)}
        </span>
        <Button variant="primary" size="sm" onClick={onRent} disabled={listing.status !== "open"} data-testid={`rent-${listing.listing_id}`}>
          Rent
        </Button>
      </footer>
    </article>
  );
}

function Filters({ models, value, onChange }: { models: string[]; value: MarketFilters; onChange: (f: MarketFilters) => void }) {
  const ids = { gpu: useId(), hash: useId(), price: useId(), sort: useId() };
  const [minKhs, setMinKhs] = useState(value.min_hashrate ? String(value.min_hashrate / 1000) : "");
  const [maxPrice, setMaxPrice] = useState(value.max_price ? formatCredits(value.max_price) : "");
  const apply = (event: FormEvent) => {
    event.preventDefault();
    const khs = Number(minKhs);
    const price = parseCredits(maxPrice);
    onChange({
      ...value,
      min_hashrate: minKhs.trim() && Number.isFinite(khs) && khs > 0 ? khs * 1000 : undefined,
      max_price: maxPrice.trim() && price ? price : undefined,
    });
  };
  return (
    <form onSubmit={apply} className="grid grid-cols-2 items-end gap-3 md:grid-cols-5" aria-label="Filter listings">
      <Field label="GPU model" htmlFor={ids.gpu}>
        <Select id={ids.gpu} value={value.gpu ?? ""} onChange={(e) => onChange({ ...value, gpu: e.target.value || undefined })}>
          <option value="">Any</option>
          {models.map((m) => (
            <option key={m} value={m}>
              {m}
            </option>
          ))}
        </Select>
      </Field>
      <Field label="Min hashrate (kH/s)" htmlFor={ids.hash}>
        <Input id={ids.hash} inputMode="decimal" placeholder="any" value={minKhs} onChange={(e) => setMinKhs(e.target.value)} />
      </Field>
      <Field label="Max price (cr/h)" htmlFor={ids.price}>
        <Input id={ids.price} inputMode="decimal" placeholder="any" value={maxPrice} onChange={(e) => setMaxPrice(e.target.value)} />
      </Field>
      <Field label="Sort" htmlFor={ids.sort}>
        <Select
          id={ids.sort}
          value={value.sort ?? "price_per_hs"}
          onChange={(e) => onChange({ ...value, sort: e.target.value as MarketFilters["sort"] })}
        >
          <option value="price_per_hs">Cheapest per H/s</option>
          <option value="verified_value">Best verified value</option>
        </Select>
      </Field>
      <Button type="submit" className="col-span-2 md:col-span-1">
        Apply
      </Button>
    </form>
  );
}

function QuickMatch({ models }: { models: string[] }) {
  const session = useSession();
  const rent = useRent();
  const navigate = useNavigate();
  const { toasts } = useServices();
  const ids = { khs: useId(), hours: useId(), gpu: useId() };
  const [khs, setKhs] = useState("1");
  const [hours, setHours] = useState("1");
  const [gpu, setGpu] = useState("");
  const [key, setKey] = useState(idempotencyKey);
  const hashrate = Number(khs) * 1000;
  const seconds = Math.round(Number(hours) * 3600);
  const valid = Number.isFinite(hashrate) && hashrate > 0 && Number.isFinite(seconds) && seconds >= 60;
  const params = useDeferredValue<EstimateParams | null>(
    valid ? { hashrate, duration_sec: seconds, ...(gpu ? { gpu } : {}) } : null,
  );
  const estimate = useEstimate(params);
  const account = useAccount();

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!valid) return;
    rent.mutate(
      { criteria: { min_hashrate: hashrate, ...(gpu ? { gpu_model: gpu } : {}) }, durationSec: seconds, key },
      {
        onSuccess: (lease) => {
          setKey(idempotencyKey());
          toasts.success("Matched and rented", `${lease.gpu_model ?? "Rig"} · ${formatHashrate(lease.advertised_hashrate)}`);
          void navigate(`/renter?lease=${encodeURIComponent(lease.lease_id)}`);
        },
      },
    );
  };

  return (
    <Card title="Quick match: the best verified price for the hashrate you need">
      <form onSubmit={submit} className="space-y-3">
        <div className="grid grid-cols-3 gap-3">
          <Field label="Hashrate (kH/s)" htmlFor={ids.khs}>
            <Input id={ids.khs} inputMode="decimal" value={khs} onChange={(e) => setKhs(e.target.value)} />
          </Field>
          <Field label="Hours" htmlFor={ids.hours}>
            <Input id={ids.hours} inputMode="decimal" value={hours} onChange={(e) => setHours(e.target.value)} />
          </Field>
          <Field label="GPU" htmlFor={ids.gpu}>
            <Select id={ids.gpu} value={gpu} onChange={(e) => setGpu(e.target.value)}>
              <option value="">Any</option>
              {models.map((m) => (
                <option key={m} value={m}>
                  {m}
                </option>
              ))}
            </Select>
          </Field>
        </div>
        <EstimateView estimate={estimate.data} loading={estimate.isFetching} balance={session ? (account.data?.balance ?? null) : null} />
        {estimate.isError && <ErrorState error={estimate.error} />}
        <div className="flex justify-end">
          {session ? (
            <Button type="submit" variant="primary" busy={rent.isPending} disabled={!valid || estimate.data?.max_cost == null}>
              Rent the best match
            </Button>
          ) : (
            <SignInButton size="sm" label="Sign in to rent" />
          )}
        </div>
      </form>
    </Card>
  );
}

function PriceIndex({ models }: { models: string[] }) {
  const [gpu, setGpu] = useState<string>("");
  const [days, setDays] = useState(7);
  const index = usePriceIndex(gpu || null, days);
  const id = useId();
  const series = useMemo<SeriesSpec[]>(
    () => [
      {
        id: "median",
        label: "Median",
        kind: "line",
        color: "info",
        data: (index.data?.history ?? []).map((p) => ({ time: p.ts, value: p.median })),
      },
    ],
    [index.data],
  );
  return (
    <Card
      title="Price index (per kH/s·h)"
      actions={
        <div className="flex items-center gap-2">
          <label htmlFor={id} className="sr-only">GPU model</label>
          <Select id={id} value={gpu} onChange={(e) => setGpu(e.target.value)} className="w-auto py-1">
            <option value="">Whole market</option>
            {models.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </Select>
          <label htmlFor={`${id}-days`} className="sr-only">Days</label>
          <Select id={`${id}-days`} value={days} onChange={(e) => setDays(Number(e.target.value))} className="w-auto py-1">
            <option value={1}>1 day</option>
            <option value={7}>7 days</option>
            <option value={30}>30 days</option>
          </Select>
        </div>
      }
    >
      <QueryView query={index} rows={5}>
        {(series[0]?.data.length ?? 0) < 2 ? (
          <EmptyState title="Not enough price history yet">The index is computed every few minutes from open listings and active leases.</EmptyState>
        ) : (
          <TimeSeriesChart series={series} format={(v) => formatPricePerKhs(v)} label="Median price per kH/s-hour" height={220} testId="price-chart" />
        )}
        {(index.data?.models.length ?? 0) > 0 && (
          <div className="mt-4 overflow-x-auto">
            <table className="w-full text-sm">
              <caption className="sr-only">Price per kH/s-hour by GPU model</caption>
              <thead className="text-left text-xs text-muted">
                <tr>
                  <th scope="col" className="py-1 pr-3 font-medium">Model</th>
                  <th scope="col" className="py-1 pr-3 text-right font-medium">p25</th>
                  <th scope="col" className="py-1 pr-3 text-right font-medium">Median</th>
                  <th scope="col" className="py-1 pr-3 text-right font-medium">p75</th>
                  <th scope="col" className="py-1 text-right font-medium">Listings / leases</th>
                </tr>
              </thead>
              <tbody className="tabular">
                {index.data?.models.map((m) => (
                  <tr key={m.gpu_model} className="border-t border-border">
                    <td className="py-1.5 pr-3">{m.gpu_model === "*" ? "All" : m.gpu_model}</td>
                    <td className="py-1.5 pr-3 text-right">{formatPricePerKhs(m.p25)}</td>
                    <td className="py-1.5 pr-3 text-right font-medium">{formatPricePerKhs(m.median)}</td>
                    <td className="py-1.5 pr-3 text-right">{formatPricePerKhs(m.p75)}</td>
                    <td className="py-1.5 text-right text-muted">
                      {m.listings} / {m.leases}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </QueryView>
    </Card>
  );
}

export default function Marketplace() {
  const [filters, setFilters] = useState<MarketFilters>({ sort: "price_per_hs" });
  const market = useMarketplace(filters);
  const index = usePriceIndex(null, 7);
  const [renting, setRenting] = useState<ListingOut | null>(null);
  const listings = useMemo(() => market.data?.pages.flatMap((p) => p.items) ?? [], [market.data]);
  const models = useMemo(() => {
    const names = new Set<string>();
    for (const m of index.data?.models ?? []) if (m.gpu_model !== "*") names.add(m.gpu_model);
    for (const l of listings) if (l.gpu_model) names.add(l.gpu_model);
    return [...names].sort();
  }, [index.data, listings]);

  return (
    <div data-testid="page-marketplace">
      <PageHeader title="Marketplace" subtitle="Rent verified XenBlocks hashpower by the hour. Every share and block is re-hashed by the platform." />
      <Card>
        <Filters models={models} value={filters} onChange={setFilters} />
      </Card>
      <div className="mt-6">
        {market.isPending ? (
          <div className="grid gap-4 sm:grid-cols-2 xl:grid-cols-3" aria-busy="true">
            {Array.from({ length: 6 }, (_, i) => (
              <Skeleton key={i} className="h-48" />
            ))}
          </div>
        ) : market.isError && !market.data ? (
          <ErrorState error={market.error} onRetry={() => void market.refetch()} />
        ) : listings.length === 0 ? (
          <Card>
            <EmptyState title="No listings match">
              {filters.gpu || filters.min_hashrate || filters.max_price
                ? "Loosen the filters, or try the quick match below."
                : "Nobody is offering hashpower right now. Providers list rigs from the Provider page."}
            </EmptyState>
          </Card>
        ) : (
          <>
            <div className="grid gap-4 sm:grid-cols-2 xl:grid-cols-3" data-testid="listing-grid">
              {listings.map((l) => (
                <ListingCard key={l.listing_id} listing={l} onRent={() => setRenting(l)} />
              ))}
            </div>
            <LoadMore hasNext={market.hasNextPage} loading={market.isFetchingNextPage} onClick={() => void market.fetchNextPage()} />
          </>
        )}
      </div>
      <div className="mt-6 grid gap-6 xl:grid-cols-2">
        <QuickMatch models={models} />
        <PriceIndex models={models} />
      </div>
      {renting && <RentDialog listing={renting} onClose={() => setRenting(null)} />}
    </div>
  );
}
