"""Recommendations: what an owner could do to earn more, ranked by the expected gain, each
with the figures behind it.

Money is valued at the market: a rig's work (H/s × difficulty, ``functions/logic/work.py``)
is worth its H/s at the network's current difficulty × the price index's median for its
GPU model (micro-credits per kH/s-hour) × 24 h × the model's utilisation (the share of its
offered hashpower rented now: active leases / (leases + open listings)). Where the market
says nothing (no price, no listing or lease of the model), the gain is unknown (None) and
the recommendation ranks after the ones with a figure.

The kinds, from the rig's open anomaly findings, its baseline (its usual figures, rebuilt
daily), its GPU model's public figures, its listing and the network:

- ``fix_anomaly``: an open finding (a lost GPU, a failing fan, throttling, a lowered power
  limit, under-delivery), with what to check; the gain is the work it costs;
- ``under_peers``: GPUs delivering at least 10% less work than their model's median, not
  explained by an open finding: power limit, clocks, throttling; the gain is the gap;
- ``hot_for_power``: a GPU at least 8 °C hotter than its model's median while drawing no more
  power: fans, airflow, dust (no money figure: it is what comes before throttling);
- ``list_idle_rig``: online, not leased, not listed: the rig's work at the market;
- ``price_high`` / ``price_low``: an open listing priced above the model's p75 (it will
  hardly be rented: the gain is its revenue at the median) or below its p25 (the gain is
  the difference up to the median);
- ``update_hashrate``: the network's difficulty moved by 10% or more in the last day and a
  listing still advertises the H/s of before (the rig's usual work at today's difficulty
  differs by 10% or more): leases pay for what is proven, so an advertised rate above it
  is refunded and one below it is work given away.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from functions.dal.insights import InsightsRepository
from functions.dal.listings import ListingRepository
from functions.dal.workers import WorkerRepository
from functions.logic.anomaly import GpuBaseline, Reason, RigBaseline
from functions.logic.insights import readable
from functions.logic.network import NetworkView
from functions.logic.pricing import PriceIndex, PriceIndexService, price_per_khs_hour
from functions.models.insights import AnomalyFinding, GpuModelFigures
from functions.models.market import Listing, ListingStatus
from functions.models.network import NetworkState
from functions.models.workers import Worker
from protocol.messages import WorkerState

_DAY = 86_400
UNDER_PEERS = 0.10  # per-GPU work at most 90% of the model's median
HOT_EXCESS_C = 8.0
HASHRATE_DRIFT = 0.10
DIFFICULTY_MOVE = 0.10
MAX_FLEET = 1000  # the rigs one owner's recommendations read at most
_PAGE = 100


class RecommendationKind(StrEnum):
    FIX_ANOMALY = "fix_anomaly"
    UNDER_PEERS = "under_peers"
    HOT_FOR_POWER = "hot_for_power"
    LIST_IDLE_RIG = "list_idle_rig"
    PRICE_HIGH = "price_high"
    PRICE_LOW = "price_low"
    UPDATE_HASHRATE = "update_hashrate"


@dataclass(frozen=True)
class Recommendation:
    kind: RecommendationKind
    worker_id: str
    title: str
    detail: str
    gain_per_day: int | None  # micro-credits a day, at the market; None: unknown
    gpu: int | None = None
    evidence: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Market:
    """What the recommendations value work with."""

    now: int
    network: NetworkState
    prices: PriceIndex | None
    models: dict[str, GpuModelFigures]

    @property
    def difficulty(self) -> int:
        return self.network.difficulty

    def per_day(self, work: float, gpu_model: str | None) -> int | None:
        """Micro-credits a day that ``work`` (KiB/s) earns at the market, or None."""
        if self.prices is None or work <= 0:
            return None
        price = self.prices.for_model(gpu_model)
        if price is None or price.listings + price.leases == 0:
            return None
        utilisation = price.leases / (price.listings + price.leases)
        hashrate = work / self.difficulty
        return round(hashrate / 1000 * price.median * 24 * utilisation)


@dataclass(frozen=True)
class Rig:
    """What the recommendations know of one rig."""

    worker: Worker
    baseline: RigBaseline | None
    findings: Sequence[AnomalyFinding]  # open ones
    listing: Listing | None


def recommend(rigs: Iterable[Rig], market: Market) -> list[Recommendation]:
    """Every recommendation for ``rigs``, the largest expected gain first."""
    found: list[Recommendation] = []
    for rig in rigs:
        found += for_rig(rig, market)
    return rank(found)


def rank(found: Iterable[Recommendation]) -> list[Recommendation]:
    order = list(RecommendationKind)
    return sorted(
        found,
        key=lambda r: (
            r.gain_per_day is None,
            -(r.gain_per_day or 0),
            order.index(r.kind),
            r.worker_id,
            -1 if r.gpu is None else r.gpu,
        ),
    )


def for_rig(rig: Rig, market: Market) -> list[Recommendation]:
    found = [_fix(rig, f, market) for f in rig.findings]
    if rig.baseline is not None:
        figures = market.models.get(rig.worker.gpu_model or "")
        if figures is not None:
            found += _against_peers(rig, rig.baseline, figures, market)
    idle = _idle(rig, market)
    if idle is not None:
        found.append(idle)
    if rig.listing is not None:
        found += _listing(rig, rig.listing, market)
    return found


# -- the rig's own state ----------------------------------------------------------------------

_ADVICE = {
    Reason.GPU_LOST: "check its power cables and riser, then the driver (nvidia-smi lists it?)",
    Reason.FAN_FAILURE: "replace the fan or raise the fan curve before the GPU throttles",
    Reason.THERMAL_THROTTLING: "improve its cooling (airflow, dust, fan curve) or lower "
    "its power limit a little: it loses clocks to heat",
    Reason.POWER_LIMIT_LOWERED: "raise the power limit back if the lower draw was not meant "
    "(nvidia-smi -pl)",
    Reason.UNDER_DELIVERY: "check its clocks, power limit and the miner's log",
}


def _fix(rig: Rig, finding: AnomalyFinding, market: Market) -> Recommendation:
    reason = Reason(finding.reason)
    e = finding.evidence
    lost: float | None = None
    if reason in (Reason.GPU_LOST, Reason.FAN_FAILURE):
        usual = _gpu(rig.baseline, finding.gpu)
        lost = usual.work.center if usual is not None and usual.work is not None else None
        if lost is None and "usual_work" in e:
            lost = e["usual_work"]
    elif "peer_work" in e and "work" in e:
        lost = e["peer_work"] - e["work"]
    elif "usual_work" in e and "work" in e:
        lost = e["usual_work"] - e["work"]
    gain = market.per_day(lost, rig.worker.gpu_model) if lost is not None else None
    return Recommendation(
        kind=RecommendationKind.FIX_ANOMALY,
        worker_id=rig.worker.worker_id,
        gpu=finding.gpu,
        title=f"{_name(rig.worker)}: {finding.message}",
        detail=f"{_ADVICE[reason]}. Seen since {finding.opened_at} (reason {reason.value}).",
        gain_per_day=gain,
        evidence=dict(e),
    )


def _against_peers(
    rig: Rig, baseline: RigBaseline, figures: GpuModelFigures, market: Market
) -> list[Recommendation]:
    explained = {f.gpu for f in rig.findings}
    found: list[Recommendation] = []
    gaps: dict[int, float] = {}
    for index, gpu in baseline.gpus.items():
        if index in explained or gpu.work is None:
            continue
        ratio = gpu.work.center / figures.work_median
        if ratio <= 1 - UNDER_PEERS:
            gaps[index] = figures.work_median - gpu.work.center
        hot = _hot_for_power(rig, gpu, figures)
        if hot is not None:
            found.append(hot)
    if gaps:
        ratios = {i: 1 - gap / figures.work_median for i, gap in gaps.items()}
        which = ", ".join(f"GPU {i} {ratios[i]:.0%}" for i in sorted(gaps))
        hashrate = figures.work_median / market.difficulty
        found.append(
            Recommendation(
                kind=RecommendationKind.UNDER_PEERS,
                worker_id=rig.worker.worker_id,
                gpu=min(gaps) if len(gaps) == 1 else None,
                title=(
                    f"{_name(rig.worker)} delivers less than other {figures.gpu_model} rigs: "
                    f"{which} of the model's median"
                ),
                detail=(
                    f"The median {figures.gpu_model} does {hashrate:,.0f} H/s at today's "
                    f"difficulty {market.difficulty:,} (from {figures.rigs} rigs). Check the "
                    "power limit, memory and core clocks, and whether it throttles."
                ),
                gain_per_day=market.per_day(sum(gaps.values()), rig.worker.gpu_model),
                evidence={
                    "peer_work": figures.work_median,
                    "peer_rigs": float(figures.rigs),
                    **{f"gpu{i}.work_ratio": round(r, 4) for i, r in ratios.items()},
                },
            )
        )
    return found


def _hot_for_power(rig: Rig, gpu: GpuBaseline, figures: GpuModelFigures) -> Recommendation | None:
    if gpu.temperature is None or figures.temperature_median_c is None:
        return None
    excess = gpu.temperature.center - figures.temperature_median_c
    if excess < HOT_EXCESS_C:
        return None
    power = gpu.power.center if gpu.power is not None else None
    peer_power = figures.power_median_w
    if power is not None and peer_power is not None and power > 1.05 * peer_power:
        return None  # hotter because it draws more: not a cooling problem
    evidence = {
        "temperature_c": round(gpu.temperature.center, 1),
        "peer_temperature_c": round(figures.temperature_median_c, 1),
    }
    if power is not None:
        evidence["power_w"] = round(power, 1)
    return Recommendation(
        kind=RecommendationKind.HOT_FOR_POWER,
        worker_id=rig.worker.worker_id,
        gpu=gpu.index,
        title=(
            f"{_name(rig.worker)} GPU {gpu.index} runs {excess:.0f} °C hotter than other "
            f"{figures.gpu_model}s for the same power"
        ),
        detail="Check its fans, the case's airflow and dust: heat comes before throttling.",
        gain_per_day=None,
        evidence=evidence,
    )


def _idle(rig: Rig, market: Market) -> Recommendation | None:
    worker = rig.worker
    listed = rig.listing is not None and rig.listing.status in (
        ListingStatus.OPEN,
        ListingStatus.LEASED,
    )
    if not worker.online or worker.revoked or listed or worker.state is WorkerState.LEASED:
        return None
    work = _rig_work(rig, market)
    return Recommendation(
        kind=RecommendationKind.LIST_IDLE_RIG,
        worker_id=worker.worker_id,
        title=f"{_name(worker)} is online and not listed",
        detail=(
            "List it on the marketplace: renters pay for its hashpower while it mines for them."
        ),
        gain_per_day=market.per_day(work, worker.gpu_model) if work else None,
        evidence={"work": work or 0.0, "difficulty": float(market.difficulty)},
    )


def _listing(rig: Rig, listing: Listing, market: Market) -> list[Recommendation]:
    found: list[Recommendation] = []
    name = _name(rig.worker)
    price = market.prices.for_model(listing.gpu_model) if market.prices is not None else None
    asked = price_per_khs_hour(listing.price_per_hour, listing.advertised_hashrate)
    work = listing.advertised_hashrate * market.difficulty
    if listing.status is ListingStatus.OPEN and price is not None:
        evidence = {"price_per_khs_hour": round(asked, 1), "median": price.median}
        if asked > price.p75:
            found.append(
                Recommendation(
                    kind=RecommendationKind.PRICE_HIGH,
                    worker_id=rig.worker.worker_id,
                    title=f"{name}'s listing costs more than three in four of its market",
                    detail=(
                        f"It asks {asked:,.0f} µcredits per kH/s-hour; the median is "
                        f"{price.median:,.0f} (p75 {price.p75:,.0f}). At the median it would "
                        "be rented about as often as the rest of its market."
                    ),
                    gain_per_day=market.per_day(work, listing.gpu_model),
                    evidence=evidence | {"p75": price.p75},
                )
            )
        elif asked < price.p25:
            value = market.per_day(work, listing.gpu_model)
            gain = round(value * (price.median - asked) / price.median) if value else None
            found.append(
                Recommendation(
                    kind=RecommendationKind.PRICE_LOW,
                    worker_id=rig.worker.worker_id,
                    title=f"{name}'s listing is cheaper than three in four of its market",
                    detail=(
                        f"It asks {asked:,.0f} µcredits per kH/s-hour; the median is "
                        f"{price.median:,.0f} (p25 {price.p25:,.0f})."
                    ),
                    gain_per_day=gain,
                    evidence=evidence | {"p25": price.p25},
                )
            )
    drift = _hashrate_drift(rig, listing, market)
    if drift is not None:
        found.append(drift)
    return found


def _hashrate_drift(rig: Rig, listing: Listing, market: Market) -> Recommendation | None:
    changes = market.network.changes
    if len(changes) < 2 or market.now - changes[0].seen_at > _DAY:
        return None
    before, now = changes[1].difficulty, changes[0].difficulty
    if abs(now - before) / before < DIFFICULTY_MOVE:
        return None
    if rig.baseline is None or rig.baseline.work is None:
        return None
    expected = rig.baseline.work.center / now  # its usual work at today's difficulty
    advertised = listing.advertised_hashrate
    if abs(expected - advertised) / advertised < HASHRATE_DRIFT:
        return None
    # Beating its listing is work given away (valued at the market); falling short of it
    # is refunded to renters and costs reputation, which the market does not price.
    gain: int | None = None
    if expected > advertised:
        gain = market.per_day((expected - advertised) * now, listing.gpu_model)
    return Recommendation(
        kind=RecommendationKind.UPDATE_HASHRATE,
        worker_id=rig.worker.worker_id,
        title=(
            f"The network's difficulty moved from {before:,} to {now:,}: "
            f"{_name(rig.worker)} now does about {expected:,.0f} H/s, its listing says "
            f"{advertised:,.0f}"
        ),
        detail=(
            "Hashrate falls as the difficulty (Argon2id's memory) rises, and rises as it "
            "falls. Update the listing's advertised hashrate: renters pay for the work the "
            "rig proves, so a rate it cannot meet is refunded and one it beats is given away."
        ),
        gain_per_day=gain,
        evidence={
            "difficulty_before": float(before),
            "difficulty": float(now),
            "expected_hashrate": round(expected, 1),
            "advertised_hashrate": advertised,
        },
    )


def _rig_work(rig: Rig, market: Market) -> float | None:
    if rig.baseline is not None and rig.baseline.work is not None:
        return rig.baseline.work.center
    difficulty = rig.worker.difficulty or market.difficulty
    return rig.worker.hashrate * difficulty if rig.worker.hashrate > 0 else None


def _gpu(baseline: RigBaseline | None, index: int | None) -> GpuBaseline | None:
    if baseline is None or index is None:
        return None
    return baseline.gpus.get(index)


def _name(worker: Worker) -> str:
    return worker.name or worker.worker_id


# -- gathering --------------------------------------------------------------------------------


class RecommendationService:
    def __init__(
        self,
        *,
        workers: WorkerRepository,
        listings: ListingRepository,
        insights: InsightsRepository,
        prices: PriceIndexService,
        network: NetworkView,
    ) -> None:
        self._workers = workers
        self._listings = listings
        self._insights = insights
        self._prices = prices
        self._network = network

    def market(self, now: int) -> Market:
        return Market(
            now=now,
            network=self._network.state(),
            prices=self._prices.latest(now),
            models=self._insights.model_figures(),
        )

    def for_owner(self, owner: str, now: int) -> list[Recommendation]:
        workers = self._fleet(owner)
        ids = [w.worker_id for w in workers]
        baselines = self._insights.baselines(ids)
        findings: dict[str, list[AnomalyFinding]] = {}
        for finding in self._insights.open_findings_of_owner(owner):
            findings.setdefault(finding.worker_id, []).append(finding)
        listings = {
            li.listing_id: li
            for li in self._listings.get_many([w.listing_id for w in workers if w.listing_id])
        }
        rigs = [
            Rig(
                worker=w,
                baseline=readable(baselines[w.worker_id]) if w.worker_id in baselines else None,
                findings=findings.get(w.worker_id, []),
                listing=listings.get(w.listing_id) if w.listing_id else None,
            )
            for w in workers
        ]
        return recommend(rigs, self.market(now))

    def for_worker(self, worker: Worker, now: int) -> list[Recommendation]:
        stored = self._insights.rig(worker.worker_id)
        listing = self._listings.get(worker.listing_id) if worker.listing_id else None
        rig = Rig(
            worker=worker,
            baseline=readable(stored.baseline) if stored.baseline is not None else None,
            findings=stored.open_findings,
            listing=listing,
        )
        return recommend([rig], self.market(now))

    def _fleet(self, owner: str) -> list[Worker]:
        workers: list[Worker] = []
        cursor: str | None = None
        while len(workers) < MAX_FLEET:
            page = self._workers.list_by_owner(owner, limit=_PAGE, cursor=cursor)
            workers += [w for w in page.items if not w.revoked]
            cursor = page.cursor
            if cursor is None:
                break
        return workers[:MAX_FLEET]
