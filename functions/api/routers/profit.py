"""``/api/profit`` and ``/api/workers/{id}/profit``: power cost, lease revenue and net per
rig and UTC day, at the owner's electricity price (``PUT /api/accounts/me/settings``).

Money is integer micro-units (1 unit = 1,000,000): revenue in micro-credits, the power cost
in micro-units of the owner's currency, and net takes one credit for one unit of it.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from functions.api.auth import Context, CurrentPrincipal
from functions.errors import NotFound
from functions.logic.heartbeat_schedule import schedule_for
from functions.logic.profit import (
    MAX_PROFIT_DAYS,
    MAX_PROFIT_RIGS,
    Figures,
    OwnerSettings,
    RigProfit,
    Sources,
    fleet_profit,
    worker_profit,
)
from protocol.topics import WORKER_ID_PATTERN

router = APIRouter(tags=["profit"])

Days = Annotated[
    int,
    Query(ge=1, le=MAX_PROFIT_DAYS, description="Window in UTC days, today (so far) included"),
]


class FiguresOut(BaseModel):
    energy_kwh: float | None = Field(
        description="Energy used, kWh to 6 decimals; null when the rig reported that day "
        "without any power reading (unknown, not zero). Sums add the known rig-days."
    )
    power_cost: int | None = Field(
        description="energy_kwh × your price, micro-units of your currency; null without a "
        "price or with unknown energy"
    )
    revenue: int = Field(description="Lease payouts to you (after the fee), micro-credits")
    leases: int = Field(description="Leases settled with a payout to you")
    net: int | None = Field(description="revenue − power_cost; null when power_cost is")
    metered_seconds: int = Field(description="Seconds with a power reading")
    reported_seconds: int = Field(description="Seconds the rig's history points stand for")
    power_complete: bool = Field(
        description="Every reported second had a power reading (else power_cost is a lower bound)"
    )

    @classmethod
    def of(cls, figures: Figures) -> FiguresOut:
        kwh = figures.energy_kwh
        return cls(
            energy_kwh=None if kwh is None else float(kwh),
            power_cost=figures.power_cost,
            revenue=figures.revenue,
            leases=figures.leases,
            net=figures.net,
            metered_seconds=figures.metered_seconds,
            reported_seconds=figures.reported_seconds,
            power_complete=figures.power_complete,
        )


class ProfitDayOut(FiguresOut):
    day: str = Field(description="UTC date, YYYY-MM-DD")

    @classmethod
    def on(cls, day: date, figures: Figures) -> ProfitDayOut:
        return cls(day=day.isoformat(), **FiguresOut.of(figures).model_dump())


class RigProfitOut(BaseModel):
    worker_id: str
    name: str
    gpu_model: str | None
    days: list[ProfitDayOut] = Field(description="Every day of the window, oldest first")
    totals: FiguresOut
    complete: bool = Field(description="False when its history was not read to the end")

    @classmethod
    def of(cls, rig: RigProfit) -> RigProfitOut:
        return cls(
            worker_id=rig.worker.worker_id,
            name=rig.worker.name,
            gpu_model=rig.worker.gpu_model,
            days=[ProfitDayOut.on(day, figures) for day, figures in rig.days],
            totals=FiguresOut.of(rig.totals),
            complete=rig.complete,
        )


class PriceOut(BaseModel):
    electricity_price_per_kwh: str | None = Field(
        description="Your price per kWh (decimal string); null when not set"
    )
    currency: str

    @classmethod
    def of(cls, settings: OwnerSettings) -> PriceOut:
        return cls(electricity_price_per_kwh=settings.price_text, currency=settings.currency)


class FleetProfitOut(BaseModel):
    since: int = Field(description="Window start: UTC midnight, epoch seconds")
    until: int = Field(description="Window end: now, epoch seconds")
    price: PriceOut
    days: list[ProfitDayOut] = Field(
        description="The fleet per day, oldest first: revenue from every rig; energy and "
        "cost from the rigs listed"
    )
    rigs: list[RigProfitOut] = Field(description=f"Your first {MAX_PROFIT_RIGS} rigs")
    totals: FiguresOut
    more_rigs: bool = Field(description="You have more rigs than listed: see each one's profit")
    complete: bool = Field(description="Every rig, history point and payout was read")


class WorkerProfitOut(BaseModel):
    since: int
    until: int
    price: PriceOut
    rig: RigProfitOut
    complete: bool = Field(description="Its history and your payouts were read to the end")


def _sources(context: Context) -> Sources:
    return Sources(
        accounts=context.accounts,
        workers=context.workers,
        telemetry=context.telemetry,
        ledger=context.ledger,
        leases=context.leases,
        cadence=schedule_for(context.settings).history_seconds,
    )


@router.get("/api/profit")
def my_profit(principal: CurrentPrincipal, context: Context, days: Days = 7) -> FleetProfitOut:
    """Your fleet's power cost, lease revenue and net per UTC day, and each rig's."""
    fleet = fleet_profit(principal.address, _sources(context), now=context.clock(), days=days)
    return FleetProfitOut(
        since=fleet.window.since,
        until=fleet.window.until,
        price=PriceOut.of(fleet.settings),
        days=[ProfitDayOut.on(day, figures) for day, figures in fleet.days],
        rigs=[RigProfitOut.of(rig) for rig in fleet.rigs],
        totals=FiguresOut.of(fleet.totals),
        more_rigs=fleet.more_rigs,
        complete=fleet.complete,
    )


@router.get("/api/workers/{worker_id}/profit")
def worker_profit_route(
    worker_id: Annotated[str, Path(pattern=WORKER_ID_PATTERN)],
    principal: CurrentPrincipal,
    context: Context,
    days: Days = 7,
) -> WorkerProfitOut:
    """One rig's power cost, lease revenue and net per UTC day (its owner, or an admin)."""
    worker = context.workers.get(worker_id)
    if worker is None or (worker.owner != principal.address and not principal.is_admin):
        raise NotFound(f"worker {worker_id} not found")
    result = worker_profit(worker, _sources(context), now=context.clock(), days=days)
    return WorkerProfitOut(
        since=result.window.since,
        until=result.window.until,
        price=PriceOut.of(result.settings),
        rig=RigProfitOut.of(result.rig),
        complete=result.complete,
    )
