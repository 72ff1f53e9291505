"""Anomaly detection: each reason fires on its fault, never on a difficulty change, and
only when it persists."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest

from functions.logic.anomaly import (
    Finding,
    Policy,
    Reason,
    RigBaseline,
    assess,
    build_baseline,
    detect,
    peer_baselines,
)
from functions.logic.robust import fit_linear, spread
from functions.logic.work import GpuSample, RigSample

DAY = 86_400
STEP = 900  # the deployed history cadence
NOW = 1_767_225_600 + 3 * DAY
DIFFICULTY = 40_000
GPU_WORK = 1.0e8  # KiB/s: 2,500 H/s at difficulty 40,000


def gpu_reading(
    index: int,
    ts: int,
    rng: random.Random,
    *,
    difficulty: int = DIFFICULTY,
    work: float = GPU_WORK,
    power: float = 300.0,
    temperature: float | None = None,
    fan: float | None = None,
) -> GpuSample:
    """A healthy GPU: the room's daily cycle moves its temperature, its fan follows."""
    room = 24 + 3 * math.sin(2 * math.pi * (ts % DAY) / DAY)
    temp = room + 0.12 * power + rng.gauss(0, 0.5) if temperature is None else temperature
    curve = 40 + 2.5 * (temp - 55)
    return GpuSample(
        index=index,
        hashrate=work / difficulty * rng.gauss(1, 0.01),
        temperature_c=round(temp, 1),
        fan_pct=round(min(100.0, curve + rng.gauss(0, 1)) if fan is None else fan, 1),
        power_w=round(power * rng.gauss(1, 0.01), 1),
    )


def rig_reading(
    ts: int, rng: random.Random, *, gpus: int = 2, difficulty: int = DIFFICULTY, **faulty: float
) -> RigSample:
    """A healthy rig of ``gpus`` GPUs; ``faulty`` overrides GPU 1's figures."""
    readings = tuple(
        gpu_reading(i, ts, rng, difficulty=difficulty, **(faulty if i == 1 else {}))
        for i in range(gpus)
    )
    return RigSample(
        ts=ts,
        hashrate=sum(g.hashrate or 0.0 for g in readings),
        active_gpus=len(readings),
        difficulty=difficulty,
        gpus=readings,
    )


def history(seed: int = 1, *, days: int = 3, gpus: int = 2) -> list[RigSample]:
    rng = random.Random(seed)
    return [rig_reading(NOW - t, rng, gpus=gpus) for t in range(days * DAY, 0, -STEP)]


@pytest.fixture(scope="module")
def baseline() -> RigBaseline:
    built = build_baseline(history(), now=NOW, gpu_model="RTX 3090")
    assert built is not None
    return built


def recent(*points: RigSample) -> list[RigSample]:
    return [replace(p, ts=NOW + i * STEP) for i, p in enumerate(points)]


def reasons(findings: list[Finding]) -> set[tuple[str, int | None]]:
    return {(f.reason.value, f.gpu) for f in findings}


# -- the baseline -----------------------------------------------------------------------------


def test_spread_is_the_median_and_a_scaled_mad_with_a_floor():
    steady = spread([10.0, 10.0, 10.0, 50.0], floor=1.0)
    assert (steady.center, steady.scale) == (10.0, 1.0)  # MAD 0: the floor, not zero
    wide = spread([1.0, 2.0, 3.0, 4.0, 100.0])
    assert wide.center == 3.0
    assert wide.scale == pytest.approx(1.4826)  # the outlier moves neither


def test_a_fit_finds_its_slopes_and_is_not_bent_by_an_outlier():
    rows = [(float(x), float(x % 7)) for x in range(60)]
    ys = [5 + 2 * a - 3 * b for a, b in rows]
    ys[10] += 500  # a glitch in the window
    model = fit_linear(rows, ys, floor=0.1)
    assert model is not None
    assert model.slopes == pytest.approx((2.0, -3.0), abs=1e-4)  # a whisker of ridge
    assert model.intercept == pytest.approx(5.0, abs=1e-3)
    assert fit_linear(rows[:6], ys[:6], floor=0.1) is None  # too few points to say


def test_a_baseline_holds_each_working_gpu_and_needs_enough_points(baseline):
    assert sorted(baseline.gpus) == [0, 1]
    usual = baseline.gpus[1]
    assert usual.work is not None
    assert usual.work.center == pytest.approx(GPU_WORK, rel=0.01)
    assert usual.power is not None
    assert usual.power.center == pytest.approx(300, rel=0.01)
    assert usual.fan_curve is not None
    assert usual.fan_curve.slopes[0] == pytest.approx(2.5, 0.1)
    # The heat model carries the room's daily cycle: midday is expected warmer than midnight.
    noon = usual.expected_temperature(300.0, NOW + DAY // 4)
    midnight = usual.expected_temperature(300.0, NOW + 3 * DAY // 4)
    assert noon is not None
    assert midnight is not None
    assert noon - midnight == pytest.approx(6, 0.2)
    assert build_baseline(history()[-10:], now=NOW) is None


# -- each reason on its fault -----------------------------------------------------------------

RNG = random.Random(7)


def test_a_healthy_rig_has_no_findings(baseline):
    points = recent(*(rig_reading(0, RNG) for _ in range(3)))
    assert detect(points, baseline) == []


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        # Cooling degraded: at its limit, fan maxed, power pulled.
        ({"temperature": 85.0, "fan": 100.0, "power": 240.0, "work": 0.85 * GPU_WORK}, "thermal"),
        # The fan stopped: far below its curve, the GPU heating up.
        ({"temperature": 78.0, "fan": 5.0}, "fan"),
        # Gone from the bus: it reads 0 H/s.
        ({"work": 0.0, "power": 20.0}, "lost"),
        # A lower power limit: 30% less power for 14% less work, cooler.
        ({"power": 210.0, "work": 0.86 * GPU_WORK}, "power"),
        # Less work for nearly the same power: something else is wrong.
        ({"power": 285.0, "work": 0.7 * GPU_WORK}, "under"),
    ],
)
def test_each_reason_fires_on_its_fault(baseline, fault, reason):
    expected = {
        "thermal": Reason.THERMAL_THROTTLING,
        "fan": Reason.FAN_FAILURE,
        "lost": Reason.GPU_LOST,
        "power": Reason.POWER_LIMIT_LOWERED,
        "under": Reason.UNDER_DELIVERY,
    }[reason]
    points = recent(rig_reading(0, RNG), rig_reading(0, RNG, **fault), rig_reading(0, RNG, **fault))
    [finding] = detect(points, baseline)
    assert (finding.reason, finding.gpu, finding.points) == (expected, 1, 2)
    assert finding.score >= 4
    assert finding.ts == points[-1].ts
    assert finding.message.startswith("GPU 1")
    # The figures that show it.
    shown = {
        Reason.THERMAL_THROTTLING: {"temperature_c", "expected_temperature_c", "fan_pct"},
        Reason.FAN_FAILURE: {"fan_pct", "expected_fan_pct", "temperature_c"},
        Reason.GPU_LOST: {"work", "usual_work"},
        Reason.POWER_LIMIT_LOWERED: {"power_w", "usual_power_w", "efficiency_ratio"},
        Reason.UNDER_DELIVERY: {"work", "usual_work", "work_ratio"},
    }[expected]
    assert shown <= set(finding.evidence)


def test_a_gpu_missing_from_the_report_is_lost(baseline):
    def without_gpu1() -> RigSample:
        point = rig_reading(0, RNG)
        return replace(point, gpus=point.gpus[:1], active_gpus=1)

    [finding] = detect(recent(without_gpu1(), without_gpu1()), baseline)
    assert (finding.reason, finding.gpu) == (Reason.GPU_LOST, 1)
    assert finding.evidence["gpus_seen"] == 1
    assert finding.evidence["gpus_expected"] == 2
    assert finding.message == "GPU 1 is gone: 1 of 2 report"


@pytest.mark.parametrize("factor", [0.5, 0.7, 1.5, 2.0])
def test_a_difficulty_change_is_never_an_anomaly(baseline, factor):
    """Twice the difficulty halves every GPU's hashrate: the same work, nothing to say."""
    changed = int(DIFFICULTY * factor)
    points = recent(*(rig_reading(0, RNG, difficulty=changed) for _ in range(3)))
    assert all(assess(p, baseline) == [] for p in points)
    assert detect(points, baseline) == []


def test_a_fault_during_a_difficulty_change_is_still_seen(baseline):
    fault = {"power": 285.0, "work": 0.7 * GPU_WORK}
    points = recent(*(rig_reading(0, RNG, difficulty=60_000, **fault) for _ in range(2)))
    [finding] = detect(points, baseline)
    assert (finding.reason, finding.evidence["difficulty"]) == (Reason.UNDER_DELIVERY, 60_000)


# -- persistence ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spike",
    [
        {"work": 0.0},  # a driver hiccup reads 0 H/s for a moment
        {"work": 0.4 * GPU_WORK},  # a miner restart
        {"temperature": 80.0, "fan": 10.0},  # a fan reading off
    ],
)
def test_persistence_holds_back_a_single_spike(baseline, spike):
    points = recent(rig_reading(0, RNG), rig_reading(0, RNG, **spike), rig_reading(0, RNG))
    assert assess(points[1], baseline) != []  # the point itself is abnormal…
    assert detect(points, baseline) == []  # …but one point is not a finding
    again = [*points, rig_reading(0, RNG, **spike)]  # two of the last three: it is
    assert detect(recent(*again), baseline) != []


def test_a_cleared_fault_stops_firing(baseline):
    fault = {"power": 285.0, "work": 0.7 * GPU_WORK}
    points = recent(
        rig_reading(0, RNG, **fault),
        rig_reading(0, RNG, **fault),
        rig_reading(0, RNG),
        rig_reading(0, RNG),
    )
    assert detect(points[:3], baseline) != []
    assert detect(points, baseline) == []


# -- what is unknown stays unknown ----------------------------------------------------------


def test_points_without_a_difficulty_are_judged_on_their_other_figures(baseline):
    def unknown(**fault: float) -> RigSample:
        return replace(rig_reading(0, RNG, **fault), difficulty=None)

    # Half the hashrate, but at an unknown difficulty: no work to compare, nothing said.
    halved = recent(*(unknown(work=0.5 * GPU_WORK) for _ in range(3)))
    assert detect(halved, baseline) == []
    # A stopped fan needs no difficulty.
    fan = recent(*(unknown(temperature=78.0, fan=5.0) for _ in range(2)))
    assert reasons(detect(fan, baseline)) == {("fan_failure", 1)}


def test_a_baseline_of_old_points_has_no_work_but_still_watches_heat():
    old = [replace(p, difficulty=None) for p in history(seed=3)]
    baseline = build_baseline(old, now=NOW)
    assert baseline is not None
    assert baseline.work is None
    assert baseline.gpus[1].work is None
    fault = {"temperature": 78.0, "fan": 5.0}
    points = recent(rig_reading(0, RNG, **fault), rig_reading(0, RNG, **fault))
    assert reasons(detect(points, baseline)) == {("fan_failure", 1)}


def test_a_rig_without_gpu_figures_is_judged_by_its_count_and_total():
    def bare(point: RigSample) -> RigSample:
        return replace(point, gpus=())

    baseline = build_baseline([bare(p) for p in history(seed=4)], now=NOW)
    assert baseline is not None
    assert baseline.active_gpus == 2
    one_left = [replace(bare(rig_reading(0, RNG)), active_gpus=1) for _ in range(2)]
    [lost] = detect(recent(*one_left), baseline)
    assert (lost.reason, lost.gpu) == (Reason.GPU_LOST, None)
    assert lost.message == "the rig: 1 of its 2 GPUs working"
    slow = [bare(rig_reading(0, RNG, work=0.5 * GPU_WORK)) for _ in range(2)]
    [finding] = detect(recent(*slow), baseline)
    assert (finding.reason, finding.gpu) == (Reason.UNDER_DELIVERY, None)
    assert finding.message == "the rig: work 75% of its usual"


# -- peers ------------------------------------------------------------------------------------


def _fleet_baselines(works: list[float]) -> list[RigBaseline]:
    baselines = []
    for n, work in enumerate(works):
        rng = random.Random(100 + n)
        points = [rig_reading(NOW - t, rng, work=work) for t in range(DAY, 0, -STEP)]
        built = build_baseline(points, now=NOW, gpu_model="RTX 3090")
        assert built is not None
        baselines.append(built)
    return baselines


def test_a_rig_steadily_under_its_gpu_models_peers_is_under_delivering():
    """Its own past is no help (it always did 30% less on GPU 1); its peers are."""
    peers = peer_baselines(_fleet_baselines([GPU_WORK * f for f in (0.97, 1.0, 1.02, 1.0, 0.99)]))
    assert set(peers) == {"RTX 3090"}
    peer = peers["RTX 3090"]
    assert (peer.rigs, peer.gpus) == (5, 5 * 2)
    rng = random.Random(9)
    weak = [rig_reading(NOW - t, rng, work=0.7 * GPU_WORK) for t in range(DAY, 0, -STEP)]
    baseline = build_baseline(weak, now=NOW, gpu_model="RTX 3090")
    assert baseline is not None
    points = recent(*(rig_reading(0, rng, work=0.7 * GPU_WORK) for _ in range(3)))
    assert detect(points, baseline) == []  # against its own past: as always
    [finding] = detect(points, baseline, peers=peer)
    assert (finding.reason, finding.gpu, finding.basis) == (Reason.UNDER_DELIVERY, 1, "peers")
    assert finding.evidence["peer_ratio"] == pytest.approx(0.7, abs=0.02)
    assert finding.message == "GPU 1: work 70% of its GPU model's median"


def test_peers_need_enough_rigs_and_the_spread_of_a_model_is_no_anomaly(baseline):
    assert peer_baselines(_fleet_baselines([GPU_WORK] * 4)) == {}  # 4 rigs: too few
    peers = peer_baselines(_fleet_baselines([GPU_WORK * f for f in (0.9, 1.0, 1.1, 0.95, 1.05)]))
    points = recent(*(rig_reading(0, RNG, work=0.9 * GPU_WORK) for _ in range(3)))
    assert all(f.basis == "own" for f in detect(points, baseline, peers=peers["RTX 3090"]))


def test_persistence_is_measured_in_time_so_a_faster_cadence_does_not_weaken_it(baseline):
    """Points every 120 s: a 3-minute glitch shows on two in a row, which is not enough."""
    spike = {"work": 0.4 * GPU_WORK}
    fast = [
        replace(p, ts=NOW + i * 120)
        for i, p in enumerate(
            [rig_reading(0, RNG), rig_reading(0, RNG, **spike), rig_reading(0, RNG, **spike)]
        )
    ]
    assert detect(fast, baseline) == []
    policy = Policy(window=5, persist=3)
    lasting = [*fast, replace(rig_reading(0, RNG, **spike), ts=NOW + 3 * 120)]
    assert reasons(detect(lasting, baseline, policy=policy)) == {("under_delivery", 1)}
