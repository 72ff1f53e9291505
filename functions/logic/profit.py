"""Profit: what a rig's power costs its owner, what its leases paid, and the difference.

An owner sets what a kWh costs them (``electricity_price_per_kwh``, at most 6 decimals, so
it is held exactly as integer micro-units per kWh on their account item). Per rig and per
UTC day:

- **energy** is integrated from the rig's history points: a point's power is the sum of its
  GPUs' ``gpu<i>.power_w`` and stands for the interval until the next point, capped at the
  history cadence (``heartbeat_history_seconds``), so a gap (a rig off or silent) is never
  billed as power. An interval crossing UTC midnight is split between the two days. A day
  the rig reported on without any power reading has unknown energy (None), never zero; a
  day it never reported on used none. ``reported_seconds`` and ``metered_seconds`` say how
  much of the day the rig was heard and how much of that had a power reading.
- **power cost** = kWh (rounded to 6 decimals, as shown) × price, rounded half-even to an
  integer micro-unit; nothing in money is a float.
- **lease revenue** = the ledger's payouts to the owner (``payout:<lease>``, what settlement
  credits the provider after the platform's fee), attributed to the lease's worker and to
  the UTC day of the settlement.
- **net** = revenue − power cost.

Sums over days or rigs add the known costs (``power_complete`` says whether every reported
second had a power reading). Revenue is in micro-credits and the power cost in micro-units
of the owner's currency: net takes one credit for one unit of that currency.

Reads are bounded: at most ``MAX_PROFIT_RIGS`` rigs and ``MAX_PROFIT_POINTS`` history points
per request, and the ledger walk of ``logic/provider.py``; ``complete`` says whether
everything was read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from functions.dal.accounts import AccountRepository
from functions.dal.leases import LeaseRepository
from functions.dal.ledger import LedgerRepository
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.errors import InvalidInput
from functions.logic.fleet_stats import read_series
from functions.logic.provider import payouts_since
from functions.logic.work import sample_from_values
from functions.models.accounts import Account
from functions.models.telemetry import TelemetryPoint, worker_series
from functions.models.workers import Worker

MAX_PROFIT_DAYS = 31
MAX_PROFIT_RIGS = 25  # rigs per fleet request (the first page of the owner's rigs)
MAX_PROFIT_POINTS = 80_000  # history points per request: 25 rigs × 31 days at 15 minutes
MAX_PRICE_PER_KWH = Decimal(10)
PRICE_DECIMALS = 6
DEFAULT_CURRENCY = "USD"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
JOULES_PER_KWH = 3_600_000
DAY_SECONDS = 86_400
_KWH_PLACES = Decimal(1).scaleb(-PRICE_DECIMALS)


# -- the owner's price ----------------------------------------------------------------------


def price_to_micro(price: Decimal) -> int:
    """``price`` per kWh as integer micro-units: 0 to 10, at most 6 decimals."""
    try:
        finite = price.is_finite()
    except (AttributeError, InvalidOperation):
        finite = False
    if not finite:
        raise InvalidInput("electricity_price_per_kwh must be a finite decimal number")
    if price < 0 or price > MAX_PRICE_PER_KWH:
        raise InvalidInput(f"electricity_price_per_kwh must be between 0 and {MAX_PRICE_PER_KWH}")
    micro = price.scaleb(PRICE_DECIMALS)
    if micro != micro.to_integral_value():
        raise InvalidInput(f"electricity_price_per_kwh has at most {PRICE_DECIMALS} decimals")
    return int(micro)


def price_text(micro: int) -> str:
    """Micro-units as a plain decimal string: 120000 → "0.12", 0 → "0"."""
    return format(Decimal(micro).scaleb(-PRICE_DECIMALS).normalize(), "f")


@dataclass(frozen=True)
class OwnerSettings:
    electricity_micro_per_kwh: int | None  # None: not set
    currency: str
    updated_at: int | None

    @property
    def price_text(self) -> str | None:
        micro = self.electricity_micro_per_kwh
        return None if micro is None else price_text(micro)


def settings_of(account: Account) -> OwnerSettings:
    return OwnerSettings(
        electricity_micro_per_kwh=account.electricity_micro_per_kwh,
        currency=account.currency or DEFAULT_CURRENCY,
        updated_at=account.settings_updated_at,
    )


def update_settings(
    accounts: AccountRepository,
    address: str,
    *,
    electricity_price_per_kwh: Decimal | None,
    currency: str | None,
    now: int,
) -> OwnerSettings:
    """Set (or, with None, clear) the owner's price per kWh and its currency label."""
    micro = None if electricity_price_per_kwh is None else price_to_micro(electricity_price_per_kwh)
    account = accounts.set_settings(
        address,
        electricity_micro_per_kwh=micro,
        currency=currency or DEFAULT_CURRENCY,
        now=now,
    )
    return settings_of(account)


# -- energy ---------------------------------------------------------------------------------


def point_power(values: Mapping[str, float]) -> float | None:
    """A history point's power (W): its GPUs' ``power_w`` summed; None without a reading."""
    readings = [g.power_w for g in sample_from_values(0, values).gpus if g.power_w is not None]
    readings = [w for w in readings if w >= 0]
    return sum(readings) if readings else None


@dataclass
class DayEnergy:
    joules: float = 0.0
    metered_seconds: int = 0  # seconds with a power reading
    reported_seconds: int = 0  # seconds the rig's points stand for

    @property
    def kwh(self) -> Decimal | None:
        """kWh to 6 decimals; None when the rig reported that day without any power reading."""
        if self.metered_seconds == 0:
            return None if self.reported_seconds else Decimal(0)
        return kwh_of(self.joules)


def kwh_of(joules: float) -> Decimal:
    return (Decimal(joules) / JOULES_PER_KWH).quantize(_KWH_PLACES, rounding=ROUND_HALF_EVEN)


def utc_day(ts: int) -> date:
    return datetime.fromtimestamp(ts, UTC).date()


def _by_day(start: int, end: int) -> Iterable[tuple[date, int]]:
    """``[start, end)`` cut at UTC midnights: (day, seconds) pieces."""
    while start < end:
        midnight = (start // DAY_SECONDS + 1) * DAY_SECONDS
        piece = min(end, midnight)
        yield utc_day(start), piece - start
        start = piece


def integrate_energy(
    samples: Sequence[tuple[int, float | None]], *, cadence: int, start: int, end: int
) -> dict[date, DayEnergy]:
    """Energy per UTC day in ``[start, end)`` from (ts, watts or None) points.

    Each point stands for ``[ts, min(next ts, ts + cadence))``: a gap longer than the
    cadence is not billed. Points before ``start`` count for the part of their interval
    inside the window.
    """
    if cadence <= 0:
        raise ValueError("cadence must be positive")
    days: dict[date, DayEnergy] = {}
    ordered = sorted(samples, key=lambda sample: sample[0])
    for i, (ts, watts) in enumerate(ordered):
        stop = ts + cadence
        if i + 1 < len(ordered):
            stop = min(stop, ordered[i + 1][0])
        for day, seconds in _by_day(max(ts, start), min(stop, end)):
            bucket = days.setdefault(day, DayEnergy())
            bucket.reported_seconds += seconds
            if watts is not None:
                bucket.metered_seconds += seconds
                bucket.joules += watts * seconds
    return days


def power_cost(kwh: Decimal, micro_per_kwh: int) -> int:
    """kWh × price, rounded half-even to an integer micro-unit (exact: both are decimals)."""
    return int((kwh * micro_per_kwh).to_integral_value(rounding=ROUND_HALF_EVEN))


# -- revenue --------------------------------------------------------------------------------


@dataclass
class DayRevenue:
    amount: int = 0  # micro-credits paid to the owner
    leases: int = 0  # leases settled that day with a payout


@dataclass(frozen=True)
class Revenue:
    by_rig: dict[str, dict[date, DayRevenue]]  # worker id → day → revenue
    by_day: dict[date, DayRevenue]  # every payout, whichever rig
    complete: bool


def lease_revenue(
    address: str, since: int, *, ledger: LedgerRepository, leases: LeaseRepository
) -> Revenue:
    """The owner's payouts since ``since``, per rig (the lease's worker) and UTC day (the
    settlement's)."""
    payouts = payouts_since(address, since, ledger=ledger)
    lease_ids = sorted({e.lease_id for e in payouts.entries if e.lease_id is not None})
    worker_of = {lease.lease_id: lease.worker_id for lease in leases.get_many(lease_ids)}
    by_rig: dict[str, dict[date, DayRevenue]] = {}
    by_day: dict[date, DayRevenue] = {}
    for entry in payouts.entries:
        day = utc_day(entry.created_at)
        buckets = [by_day.setdefault(day, DayRevenue())]
        worker_id = worker_of.get(entry.lease_id or "")
        if worker_id is not None:
            buckets.append(by_rig.setdefault(worker_id, {}).setdefault(day, DayRevenue()))
        for bucket in buckets:
            bucket.amount += entry.amount
            bucket.leases += 1
    return Revenue(by_rig=by_rig, by_day=by_day, complete=payouts.complete)


# -- profit ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    since: int  # UTC midnight, ``days - 1`` days before today
    until: int  # now
    days: tuple[date, ...]  # oldest first, today last

    @classmethod
    def of(cls, now: int, days: int) -> Window:
        if not 1 <= days <= MAX_PROFIT_DAYS:
            raise InvalidInput(f"days must be between 1 and {MAX_PROFIT_DAYS}")
        first = utc_day(now) - timedelta(days=days - 1)
        since = int(datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp())
        return cls(since, now, tuple(first + timedelta(days=n) for n in range(days)))


@dataclass(frozen=True)
class Figures:
    """Energy, cost and revenue summed over rig-days; costs over the metered ones."""

    energy_kwh: Decimal | None  # None: reported without any power reading (a rig-day only)
    power_cost: int | None  # None: no price set, or the energy is unknown
    revenue: int
    leases: int
    metered_seconds: int
    reported_seconds: int

    @property
    def net(self) -> int | None:
        return None if self.power_cost is None else self.revenue - self.power_cost

    @property
    def power_complete(self) -> bool:
        return self.metered_seconds == self.reported_seconds


def rig_day(energy: DayEnergy | None, revenue: DayRevenue | None, price: int | None) -> Figures:
    energy = energy or DayEnergy()
    revenue = revenue or DayRevenue()
    kwh = energy.kwh
    return Figures(
        energy_kwh=kwh,
        power_cost=None if kwh is None or price is None else power_cost(kwh, price),
        revenue=revenue.amount,
        leases=revenue.leases,
        metered_seconds=energy.metered_seconds,
        reported_seconds=energy.reported_seconds,
    )


def total(
    figures: Iterable[Figures], price: int | None, *, paid: DayRevenue | None = None
) -> Figures:
    """Rig-days summed: known energy and costs added. ``paid`` replaces the revenue summed
    (a fleet day counts the payouts of every rig, shown or not)."""
    rows = list(figures)
    known = [f for f in rows if f.energy_kwh is not None]
    return Figures(
        energy_kwh=sum((f.energy_kwh for f in known if f.energy_kwh is not None), Decimal(0)),
        power_cost=None if price is None else sum(f.power_cost or 0 for f in known),
        revenue=sum(f.revenue for f in rows) if paid is None else paid.amount,
        leases=sum(f.leases for f in rows) if paid is None else paid.leases,
        metered_seconds=sum(f.metered_seconds for f in rows),
        reported_seconds=sum(f.reported_seconds for f in rows),
    )


@dataclass(frozen=True)
class RigProfit:
    worker: Worker
    days: list[tuple[date, Figures]]  # every day of the window, oldest first
    totals: Figures
    complete: bool  # False when the point budget cut its history short


@dataclass(frozen=True)
class FleetProfit:
    window: Window
    settings: OwnerSettings
    days: list[tuple[date, Figures]]
    rigs: list[RigProfit]
    totals: Figures
    more_rigs: bool  # the owner has more rigs than one request reads
    complete: bool  # every rig, point and payout of the window was read


@dataclass(frozen=True)
class Sources:
    """The repositories profit reads."""

    accounts: AccountRepository
    workers: WorkerRepository
    telemetry: TelemetryRepository
    ledger: LedgerRepository
    leases: LeaseRepository
    cadence: int  # the history cadence (``heartbeat_history_seconds``)


@dataclass
class _Run:
    sources: Sources
    window: Window
    settings: OwnerSettings
    revenue: Revenue
    points_left: int  # the request's history point budget

    @property
    def price(self) -> int | None:
        return self.settings.electricity_micro_per_kwh

    def rig(self, worker: Worker) -> RigProfit:
        window, cadence = self.window, self.sources.cadence
        points: list[TelemetryPoint] = []
        complete = False
        if self.points_left > 0:
            points, complete = read_series(
                self.sources.telemetry,
                worker_series(worker.worker_id),
                window.since - cadence,
                window.until,
                max_points=self.points_left,
            )
            self.points_left -= len(points)
        energy = integrate_energy(
            [(p.ts, point_power(p.values)) for p in points],
            cadence=cadence,
            start=window.since,
            end=window.until,
        )
        paid = self.revenue.by_rig.get(worker.worker_id, {})
        days = [(d, rig_day(energy.get(d), paid.get(d), self.price)) for d in window.days]
        totals = total((f for _, f in days), self.price)
        return RigProfit(worker, days, totals, complete)


def _start(address: str, sources: Sources, *, now: int, days: int) -> _Run:
    window = Window.of(now, days)
    settings = settings_of(sources.accounts.get(address))
    revenue = lease_revenue(address, window.since, ledger=sources.ledger, leases=sources.leases)
    return _Run(sources, window, settings, revenue, points_left=MAX_PROFIT_POINTS)


def fleet_profit(address: str, sources: Sources, *, now: int, days: int) -> FleetProfit:
    """The owner's fleet per UTC day, and each of its first ``MAX_PROFIT_RIGS`` rigs."""
    run = _start(address, sources, now=now, days=days)
    page = sources.workers.list_by_owner(address, limit=MAX_PROFIT_RIGS)
    rigs = [run.rig(worker) for worker in page.items]
    fleet_days = []
    for n, day in enumerate(run.window.days):
        paid = run.revenue.by_day.get(day, DayRevenue())
        fleet_days.append((day, total((rig.days[n][1] for rig in rigs), run.price, paid=paid)))
    totals = total((f for _, f in fleet_days), run.price)
    return FleetProfit(
        window=run.window,
        settings=run.settings,
        days=fleet_days,
        rigs=rigs,
        totals=totals,
        more_rigs=page.cursor is not None,
        complete=run.revenue.complete and page.cursor is None and all(rig.complete for rig in rigs),
    )


@dataclass(frozen=True)
class WorkerProfit:
    window: Window
    settings: OwnerSettings
    rig: RigProfit
    complete: bool


def worker_profit(worker: Worker, sources: Sources, *, now: int, days: int) -> WorkerProfit:
    """One rig per UTC day, priced at its owner's electricity price."""
    run = _start(worker.owner, sources, now=now, days=days)
    rig = run.rig(worker)
    return WorkerProfit(
        window=run.window,
        settings=run.settings,
        rig=rig,
        complete=rig.complete and run.revenue.complete,
    )
