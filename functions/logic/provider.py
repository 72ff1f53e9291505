"""A provider's figures: the dashboard (rigs, listings, active leases, totals) and earnings.

Earnings are the ledger's payout entries to the provider, read through the ledger's party
index newest first and never further back than needed; every walk is capped at
``MAX_LEDGER_ENTRIES`` entries and says whether it saw everything (``complete``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from functions.dal.leases import LeaseRepository
from functions.dal.ledger import LedgerRepository
from functions.dal.listings import ListingRepository
from functions.dal.pagination import MAX_PAGE_SIZE
from functions.dal.workers import WorkerRepository
from functions.errors import InvalidInput
from functions.models.accounts import EntryKind, LedgerEntry
from functions.models.market import Lease, Listing, ListingStatus
from functions.models.workers import Worker

# Bounds on one request's reads: ledger entries walked, and the first page of each list.
MAX_LEDGER_ENTRIES = 2_000
DASHBOARD_PAGE = 50
MAX_EARNINGS_DAYS = 366


@dataclass(frozen=True)
class Payouts:
    entries: list[LedgerEntry]  # newest first
    complete: bool  # False when the cap stopped the walk before ``since``


def payouts_since(address: str, since: int, *, ledger: LedgerRepository) -> Payouts:
    """Payout entries to ``address`` created at or after ``since``, newest first.

    Walks the address's ledger newest first and stops at the first older entry.
    """
    found: list[LedgerEntry] = []
    cursor: str | None = None
    read = 0
    while read < MAX_LEDGER_ENTRIES:
        limit = min(MAX_PAGE_SIZE, MAX_LEDGER_ENTRIES - read)
        page = ledger.history(address, limit=limit, cursor=cursor)
        for entry in page.items:
            if entry.created_at < since:
                return Payouts(found, complete=True)
            if entry.kind is EntryKind.PAYOUT and entry.to_party == address:
                found.append(entry)
        read += len(page.items)
        if page.cursor is None or not page.items:
            return Payouts(found, complete=True)
        cursor = page.cursor
    return Payouts(found, complete=False)


@dataclass(frozen=True)
class DayEarnings:
    day: str  # UTC date, YYYY-MM-DD
    payout: int  # micro-credits paid to the provider
    fee: int  # micro-credits the platform withheld from those leases
    leases: int  # leases settled that day with a payout


@dataclass(frozen=True)
class Earnings:
    days: list[DayEarnings]  # oldest first, every day of the window (zeros included)
    total: int
    fee_withheld: int
    since: int  # window start (epoch seconds, UTC midnight)
    complete: bool


def _utc_date(ts: int) -> date:
    return datetime.fromtimestamp(ts, UTC).date()


def window_start(now: int, days: int) -> int:
    """UTC midnight ``days - 1`` days before today: ``days=1`` is today so far."""
    if not 1 <= days <= MAX_EARNINGS_DAYS:
        raise InvalidInput(f"days must be between 1 and {MAX_EARNINGS_DAYS}")
    first = _utc_date(now) - timedelta(days=days - 1)
    return int(datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp())


def earnings(
    address: str,
    *,
    now: int,
    days: int,
    ledger: LedgerRepository,
    leases: LeaseRepository,
) -> Earnings:
    """Payouts to ``address`` per UTC day over the last ``days`` days, with the fees withheld.

    A lease pays its provider once (entry ``payout:<lease_id>``), so each payout's fee is
    read from its lease record: one GetItem per payout in the window.
    """
    since = window_start(now, days)
    payouts = payouts_since(address, since, ledger=ledger)
    per_day: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for entry in payouts.entries:
        bucket = per_day[_utc_date(entry.created_at).isoformat()]
        bucket[0] += entry.amount
        bucket[1] += _fee_of(entry, leases)
        bucket[2] += 1
    first = _utc_date(since)
    out = []
    for offset in range(days):
        day = (first + timedelta(days=offset)).isoformat()
        payout, fee, count = per_day.get(day, (0, 0, 0))
        out.append(DayEarnings(day=day, payout=payout, fee=fee, leases=count))
    return Earnings(
        days=out,
        total=sum(d.payout for d in out),
        fee_withheld=sum(d.fee for d in out),
        since=since,
        complete=payouts.complete,
    )


def _fee_of(entry: LedgerEntry, leases: LeaseRepository) -> int:
    if entry.lease_id is None:
        return 0
    lease = leases.get(entry.lease_id)
    return lease.fee if lease is not None else 0


@dataclass(frozen=True)
class Dashboard:
    workers: list[Worker]
    listings: list[Listing]
    active_leases: list[Lease]
    workers_online: int
    hashrate_online: float  # what the online rigs report, H/s
    hashrate_listed: float  # advertised by listings open or leased
    hashrate_leased: float  # advertised by the listings under an active lease
    earnings_to_date: int
    earnings_complete: bool
    more_workers: bool  # the lists are first pages: True when there is more
    more_listings: bool
    more_leases: bool


_LISTED = (ListingStatus.OPEN, ListingStatus.LEASED)


def dashboard(
    address: str,
    *,
    workers: WorkerRepository,
    listings: ListingRepository,
    leases: LeaseRepository,
    ledger: LedgerRepository,
) -> Dashboard:
    rigs = workers.list_by_owner(address, limit=DASHBOARD_PAGE)
    offers = listings.list_by_provider(address, limit=DASHBOARD_PAGE)
    recent = leases.list_by_provider(address, limit=DASHBOARD_PAGE)
    active = [lease for lease in recent.items if lease.is_active]
    online = [w for w in rigs.items if w.online and not w.revoked]
    payouts = payouts_since(address, 0, ledger=ledger)
    return Dashboard(
        workers=rigs.items,
        listings=offers.items,
        active_leases=active,
        workers_online=len(online),
        hashrate_online=sum(w.hashrate for w in online),
        hashrate_listed=sum(o.advertised_hashrate for o in offers.items if o.status in _LISTED),
        hashrate_leased=sum(lease.advertised_hashrate for lease in active),
        earnings_to_date=sum(e.amount for e in payouts.entries),
        earnings_complete=payouts.complete,
        more_workers=rigs.cursor is not None,
        more_listings=offers.cursor is not None,
        more_leases=recent.cursor is not None,
    )
