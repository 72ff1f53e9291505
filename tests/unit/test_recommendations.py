"""Recommendations: each kind on the rig it is for, valued at the market, ranked by gain."""

from __future__ import annotations

import pytest

from functions.logic.anomaly import GpuBaseline, RigBaseline
from functions.logic.pricing import ModelPrice, PriceIndex
from functions.logic.recommendations import Market, RecommendationKind, Rig, rank, recommend
from functions.logic.robust import Spread
from functions.models.insights import AnomalyFinding, GpuModelFigures
from functions.models.market import ListingStatus
from functions.models.network import DifficultyChange, NetworkState
from functions.models.workers import Worker
from protocol.messages import WorkerState
from tests.factories import NOW, PROVIDER, listing_of

MODEL = "RTX 3090"
DIFFICULTY = 40_000
GPU_WORK = 1.0e8  # KiB/s: 2,500 H/s at 40,000
MEDIAN = 2_000.0  # µcredits per kH/s-hour
FIGURES = GpuModelFigures(
    gpu_model=MODEL,
    rigs=40,
    gpus=160,
    work_median=GPU_WORK,
    work_spread=0.03 * GPU_WORK,
    efficiency_median=GPU_WORK / 300,
    power_median_w=300.0,
    temperature_median_c=64.0,
    computed_at=NOW,
)


def gpu(index: int, *, work: float = GPU_WORK, temp: float = 64.0, power: float = 300.0):
    return GpuBaseline(
        index=index,
        work=Spread(work, 0.01 * work),
        power=Spread(power, 3.0),
        efficiency=Spread(work / power, 0.01 * work / power),
        temperature=Spread(temp, 1.0),
        heat=None,
        heat_uses_power=False,
        fan_curve=None,
    )


def baseline(*gpus: GpuBaseline) -> RigBaseline:
    total = sum(g.work.center for g in gpus if g.work is not None)
    return RigBaseline(
        points=288,
        since=NOW - 3 * 86_400,
        until=NOW,
        gpu_model=MODEL,
        work=Spread(total, 0.01 * total),
        active_gpus=len(gpus),
        gpus={g.index: g for g in gpus},
    )


def worker(worker_id: str = "w1", **fields) -> Worker:
    base = {
        "worker_id": worker_id,
        "owner": PROVIDER,
        "created_at": NOW - 86_400,
        "gpu_model": MODEL,
        "online": True,
        "state": WorkerState.LEASED,  # busy: no "list it" advice unless a test wants it
        "hashrate": 5_000.0,
        "difficulty": DIFFICULTY,
    }
    return Worker(**(base | fields))


def market(*, changes: tuple[tuple[int, int], ...] = ((DIFFICULTY, NOW - 10 * 86_400),)):
    history = tuple(
        DifficultyChange(difficulty=d, since=t, seen_at=t) for d, t in changes
    )  # newest first
    price = ModelPrice(scope=MODEL, median=MEDIAN, p25=1_500.0, p75=2_500.0, listings=3, leases=1)
    return Market(
        now=NOW,
        network=NetworkState(changes=history),
        prices=PriceIndex(ts=NOW, models={MODEL: price}),
        models={MODEL: FIGURES},
    )


def per_day(work: float, difficulty: int = DIFFICULTY) -> int:
    """What the market pays a day for ``work``: H/s × median × 24 h × 25% utilisation."""
    return round(work / difficulty / 1000 * MEDIAN * 24 * 0.25)


def kinds(found) -> list[RecommendationKind]:
    return [r.kind for r in found]


def test_a_rig_25_percent_under_its_peers_is_told_the_gap():
    rig = Rig(
        worker(), baseline(gpu(0, work=0.75 * GPU_WORK), gpu(1, work=0.75 * GPU_WORK)), [], None
    )
    [advice] = recommend([rig], market())
    assert advice.kind is RecommendationKind.UNDER_PEERS
    assert "GPU 0 75%, GPU 1 75% of the model's median" in advice.title
    assert "2,500 H/s" in advice.detail  # the median GPU's rate at today's difficulty
    assert advice.evidence["gpu0.work_ratio"] == pytest.approx(0.75)
    assert advice.gain_per_day == per_day(0.5 * GPU_WORK)


def test_a_rig_at_its_peers_median_gets_nothing():
    rig = Rig(worker(), baseline(gpu(0), gpu(1, work=0.95 * GPU_WORK)), [], None)
    assert recommend([rig], market()) == []


def test_an_open_finding_is_fixed_first_and_not_told_twice():
    lost = AnomalyFinding(
        worker_id="w1",
        owner=PROVIDER,
        reason="gpu_lost",
        gpu=1,
        opened_at=NOW - 600,
        last_seen=NOW,
        score=4.0,
        message="GPU 1 stopped working",
        evidence={"work": 0.0, "usual_work": 0.8 * GPU_WORK},
    )
    rig = Rig(worker(), baseline(gpu(0), gpu(1, work=0.8 * GPU_WORK)), [lost], None)
    [advice] = recommend([rig], market())
    assert (advice.kind, advice.gpu) == (RecommendationKind.FIX_ANOMALY, 1)
    assert advice.title == "w1: GPU 1 stopped working"
    assert "riser" in advice.detail
    assert advice.gain_per_day == per_day(0.8 * GPU_WORK)  # what the lost GPU did


def test_a_gpu_hot_for_its_power_is_pointed_at_its_cooling():
    rig = Rig(worker(), baseline(gpu(0), gpu(1, temp=76.0)), [], None)
    [advice] = recommend([rig], market())
    assert (advice.kind, advice.gpu, advice.gain_per_day) == (
        RecommendationKind.HOT_FOR_POWER,
        1,
        None,
    )
    assert "12 °C hotter" in advice.title
    # Hotter because it draws more power: not a cooling problem.
    busy = Rig(worker(), baseline(gpu(0), gpu(1, temp=76.0, power=360.0)), [], None)
    assert recommend([busy], market()) == []


def test_an_idle_unlisted_rig_is_worth_listing():
    idle = worker(state=WorkerState.AVAILABLE)
    [advice] = recommend([Rig(idle, baseline(gpu(0), gpu(1)), [], None)], market())
    assert advice.kind is RecommendationKind.LIST_IDLE_RIG
    assert advice.gain_per_day == per_day(2 * GPU_WORK)
    offline = worker(state=WorkerState.AVAILABLE, online=False)
    assert recommend([Rig(offline, None, [], None)], market()) == []


@pytest.mark.parametrize(
    ("price_per_khs_hour", "kind", "gain"),
    [
        (3_000, RecommendationKind.PRICE_HIGH, per_day(5_000 * DIFFICULTY)),
        (1_000, RecommendationKind.PRICE_LOW, per_day(5_000 * DIFFICULTY) // 2),
        (2_000, None, None),
    ],
)
def test_a_price_out_of_line_with_its_market(price_per_khs_hour, kind, gain):
    listing = listing_of("w1", price_per_hour=price_per_khs_hour * 5, hashrate=5_000.0)
    listing = listing.model_copy(update={"gpu_model": MODEL})
    rig = Rig(worker(listing_id=listing.listing_id), baseline(gpu(0), gpu(1)), [], listing)
    found = recommend([rig], market())
    if kind is None:
        assert found == []
    else:
        [advice] = found
        assert (advice.kind, advice.gain_per_day) == (kind, pytest.approx(gain, abs=1))


def test_a_difficulty_change_asks_for_the_advertised_hashrate_to_follow():
    listing = listing_of("w1", price_per_hour=10_000, hashrate=5_000.0).model_copy(
        update={"gpu_model": MODEL, "status": ListingStatus.LEASED}
    )
    rig = Rig(worker(listing_id=listing.listing_id), baseline(gpu(0), gpu(1)), [], listing)
    # The network fell from 40,000 to 20,000 an hour ago: the rig now does 10,000 H/s.
    moved = market(changes=((20_000, NOW - 3600), (DIFFICULTY, NOW - 10 * 86_400)))
    [advice] = recommend([rig], moved)
    assert advice.kind is RecommendationKind.UPDATE_HASHRATE
    assert "from 40,000 to 20,000" in advice.title
    assert advice.evidence["expected_hashrate"] == pytest.approx(10_000)
    assert advice.gain_per_day == per_day(5_000 * 20_000, 20_000)
    # A day later, or without a move of 10%, nothing to say.
    assert recommend([rig], market()) == []


def test_recommendations_are_ranked_by_expected_gain():
    small = Rig(worker("w1"), baseline(gpu(0, work=0.85 * GPU_WORK)), [], None)
    large = Rig(worker("w2"), baseline(gpu(0, work=0.5 * GPU_WORK)), [], None)
    hot = Rig(worker("w3"), baseline(gpu(0, temp=80.0)), [], None)
    found = recommend([small, hot, large], market())
    assert [(r.worker_id, r.kind) for r in found] == [
        ("w2", RecommendationKind.UNDER_PEERS),
        ("w1", RecommendationKind.UNDER_PEERS),
        ("w3", RecommendationKind.HOT_FOR_POWER),
    ]
    assert rank(reversed(found)) == found


def test_without_a_market_the_gain_is_unknown_not_zero():
    rig = Rig(worker(), baseline(gpu(0, work=0.5 * GPU_WORK)), [], None)
    bare = Market(now=NOW, network=market().network, prices=None, models={MODEL: FIGURES})
    [advice] = recommend([rig], bare)
    assert (advice.kind, advice.gain_per_day) == (RecommendationKind.UNDER_PEERS, None)
