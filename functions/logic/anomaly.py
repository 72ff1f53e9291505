"""Anomaly detection on a rig's telemetry history: pure, cheap, standard library only.

A rig is judged against two references, both robust (medians and MADs, never means):

- **its own past** (``build_baseline``): over the last ``Policy.baseline_seconds`` of
  history points, per GPU: its work (H/s × difficulty, ``functions/logic/work.py``), power,
  work per watt and temperature; a heat model (temperature against power and the hour of
  day, a least-squares fit refitted without its outliers: the hour's harmonics carry the
  room's daily cycle) and its fan curve (fan against temperature: what its controller
  asks for);
- **its GPU model's peers** (``peer_baselines``): the median and MAD of the per-GPU work of
  every rig of the model.

Each history point is assessed on its own (``assess``): per GPU at most one signal, the
first that holds of

1. ``gpu_lost``: a GPU that worked in the baseline is missing or does no work;
2. ``fan_failure``: the fan runs far below its curve for the temperature, and the GPU is
   hotter than usual;
3. ``thermal_throttling``: hotter than its heat model allows for its power and hour, the
   fan not failing, and throttled (power or work down) or cooling maxed out (fan ≥ 95%:
   at its thermal limit, the clocks are the next to go);
4. ``power_limit_lowered``: power well below its usual, not hot, and its work per watt
   not worse (a lower limit costs less work than power on a memory-bound hash);
5. ``under_delivery``: work well below its own usual (or, without one, below its GPU
   model's peers) that none of the above explains;

and at rig level ``gpu_lost`` from ``active_gpus`` and ``under_delivery`` from the rig's
work where per-GPU figures are missing. Work is compared, never H/s, so a network
difficulty change is not an anomaly; a point without a difficulty has unknown work and is
judged on its other figures only.

A finding needs persistence (``detect``): the same reason for the same GPU in at least
``Policy.persist`` of the last ``Policy.window`` points, the first and the last of them at
least ``Policy.min_span_seconds`` apart, so a spike (a miner restart, a driver hiccup, a
hashrate averaged across a difficulty step) never fires, whatever the points' cadence:
at 900 s two points are enough; history written every 120 s would need a
window of 5 and 3 of them (``bench/anomaly.py --window 5 --persist 3``). Each
finding carries its reason code, a score (how many robust spreads from normal) and the
figures that show it.

Cost: a baseline is a few medians and two 3-column least-squares fits per GPU over at most
``Policy.max_baseline_points`` points (milliseconds); assessing a point is a few
multiplications per GPU.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from functions.logic.robust import Linear, Prior, Spread, fit_linear, spread
from functions.logic.work import GpuSample, RigSample

_DAY = 86_400
_ROOM_C = 25.0


class Reason(StrEnum):
    GPU_LOST = "gpu_lost"
    FAN_FAILURE = "fan_failure"
    THERMAL_THROTTLING = "thermal_throttling"
    POWER_LIMIT_LOWERED = "power_limit_lowered"
    UNDER_DELIVERY = "under_delivery"


@dataclass(frozen=True)
class Policy:
    """How much history a baseline reads and how far from it a point must be."""

    baseline_seconds: int = 3 * _DAY
    max_baseline_points: int = 288  # a longer window is thinned evenly to this many
    min_baseline_points: int = 24
    window: int = 3  # persistence: the last ``window`` points…
    persist: int = 2  # …of which at least ``persist`` show the same reason…
    min_span_seconds: int = 240  # …the first and last of them this far apart (a spike is shorter)
    z: float = 4.0  # robust z-score a figure must pass besides its relative threshold
    work_drop: float = 0.12  # under_delivery: work at most 88% of its usual
    throttle_drop: float = 0.05  # thermal_throttling: work at most 95% of its usual…
    power_drop: float = 0.15  # …or power at most 85% (also power_limit_lowered's)
    efficiency_tolerance: float = 0.10  # power_limit_lowered: work per watt ≥ 90% of usual
    temp_excess_c: float = 6.0  # thermal_throttling: hotter than its heat model by this
    temp_rise_c: float = 5.0  # fan_failure: hotter than its usual by this
    fan_gap_pct: float = 20.0  # fan_failure: this far below its fan curve
    fan_maxed_pct: float = 95.0  # thermal_throttling: hot with the fan at least this high
    lost_fraction: float = 0.05  # gpu_lost: under 5% of its usual work
    peer_gap: float = 0.25  # under_delivery against peers: 25% under the model's median
    peer_z: float = 3.0
    min_peer_rigs: int = 5


DEFAULT_POLICY = Policy()


def _daily(ts: int) -> tuple[float, float]:
    angle = 2 * math.pi * (ts % _DAY) / _DAY
    return math.sin(angle), math.cos(angle)


# -- baselines ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GpuBaseline:
    index: int
    work: Spread | None  # KiB/s, from the points with a known difficulty
    power: Spread | None
    efficiency: Spread | None  # KiB/J
    temperature: Spread | None
    heat: Linear | None  # temperature ~ [power] + the hour's two harmonics
    heat_uses_power: bool
    fan_curve: Linear | None  # fan ~ temperature

    def expected_temperature(self, power_w: float | None, ts: int) -> float | None:
        if self.heat is None:
            return None
        if self.heat_uses_power:
            return None if power_w is None else self.heat.predict((power_w, *_daily(ts)))
        return self.heat.predict(_daily(ts))

    def expected_fan(self, temperature_c: float) -> float | None:
        if self.fan_curve is None:
            return None
        return min(100.0, max(0.0, self.fan_curve.predict((temperature_c,))))


@dataclass(frozen=True)
class RigBaseline:
    points: int
    since: int
    until: int
    gpu_model: str | None
    work: Spread | None  # the rig's whole work
    active_gpus: int | None  # the median of what it reported
    gpus: dict[int, GpuBaseline] = field(default_factory=dict)  # the GPUs that worked

    def per_gpu_work(self) -> list[float]:
        """Each working GPU's usual work; without per-GPU figures the rig's, shared."""
        centers = [g.work.center for g in self.gpus.values() if g.work is not None]
        if centers:
            return centers
        if self.work is not None and self.active_gpus:
            return [self.work.center / self.active_gpus] * self.active_gpus
        return []


def build_baseline(
    samples: Iterable[RigSample],
    *,
    now: int,
    gpu_model: str | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> RigBaseline | None:
    """The rig's usual figures over the ``policy.baseline_seconds`` before ``now``; None
    with fewer than ``policy.min_baseline_points`` points."""
    window = sorted(
        (s for s in samples if now - policy.baseline_seconds <= s.ts < now), key=lambda s: s.ts
    )
    if len(window) > policy.max_baseline_points:
        step = len(window) / policy.max_baseline_points
        window = [window[int(i * step)] for i in range(policy.max_baseline_points)]
    if len(window) < policy.min_baseline_points:
        return None
    works = [w for w in (s.work for s in window) if w is not None]
    actives = [s.active_gpus for s in window if s.active_gpus is not None]
    by_index: dict[int, list[tuple[RigSample, GpuSample]]] = {}
    for sample in window:
        for gpu in sample.gpus:
            by_index.setdefault(gpu.index, []).append((sample, gpu))
    gpus = {
        index: _gpu_baseline(index, seen, policy)
        for index, seen in sorted(by_index.items())
        # A GPU that worked in at least half the window (one that came and went is no loss).
        if 2 * sum(1 for _, g in seen if (g.hashrate or 0) > 0) >= len(window)
    }
    return RigBaseline(
        points=len(window),
        since=window[0].ts,
        until=window[-1].ts,
        gpu_model=gpu_model,
        work=spread(works, rel_floor=0.02) if len(works) >= policy.min_baseline_points else None,
        active_gpus=round(statistics.median(actives)) if actives else None,
        gpus=gpus,
    )


def _gpu_baseline(
    index: int, seen: list[tuple[RigSample, GpuSample]], policy: Policy
) -> GpuBaseline:
    working = [(s, g) for s, g in seen if (g.hashrate or 0) > 0]
    enough = policy.min_baseline_points
    works = [w for w in (s.gpu_work(g) for s, g in working) if w is not None]
    powers = [g.power_w for _, g in working if g.power_w is not None]
    per_watt = [e for e in (s.gpu_efficiency(g) for s, g in working) if e is not None]
    temps = [g.temperature_c for _, g in working if g.temperature_c is not None]
    with_power = [
        (s.ts, g.power_w, g.temperature_c)
        for s, g in working
        if g.power_w is not None and g.temperature_c is not None
    ]
    heat: Linear | None
    if len(with_power) >= enough:
        rows = [(p, *_daily(ts)) for ts, p, _ in with_power]
        ys = [t for _, _, t in with_power]
        heat = fit_linear(rows, ys, floor=1.0, prior=_heat_prior(rows, ys))
        uses_power = True
    else:
        heated = [(s.ts, g.temperature_c) for s, g in working if g.temperature_c is not None]
        heat = (
            fit_linear([_daily(ts) for ts, _ in heated], [t for _, t in heated], floor=1.0)
            if len(heated) >= enough
            else None
        )
        uses_power = False
    fans = [
        (g.temperature_c, g.fan_pct)
        for _, g in working
        if g.temperature_c is not None and g.fan_pct is not None
    ]
    fan_curve = (
        fit_linear([(t,) for t, _ in fans], [f for _, f in fans], floor=3.0)
        if len(fans) >= enough
        else None
    )
    return GpuBaseline(
        index=index,
        work=spread(works, rel_floor=0.02) if len(works) >= enough else None,
        power=spread(powers, rel_floor=0.02) if len(powers) >= enough else None,
        efficiency=spread(per_watt, rel_floor=0.02) if len(per_watt) >= enough else None,
        temperature=spread(temps, floor=1.0) if len(temps) >= enough else None,
        heat=heat,
        heat_uses_power=uses_power,
        fan_curve=fan_curve,
    )


def _heat_prior(rows: Sequence[Sequence[float]], ys: Sequence[float]) -> Prior:
    """A mining GPU's power barely moves, so the data alone cannot say how its temperature
    follows its power (a fit on ±2% of noise says: not at all). Physics can: the rise over
    the room is proportional to the power at a given airflow, and the fan controller takes
    back about a quarter of it. The room is taken at 25 °C; the prior holds as firmly as if
    the power had varied by 20 W, so a baseline where it did vary (a power limit changed,
    a lease ended) overrules it."""
    power = statistics.median(r[0] for r in rows)
    rise = max(statistics.median(ys) - _ROOM_C, 0.0)
    return Prior(column=0, slope=0.75 * rise / power if power > 0 else 0.0, spread=20.0)


@dataclass(frozen=True)
class PeerBaseline:
    """A GPU model's per-GPU work across the rigs that run it."""

    model: str
    work: Spread
    rigs: int
    gpus: int


def peer_baselines(
    baselines: Iterable[RigBaseline], *, policy: Policy = DEFAULT_POLICY
) -> dict[str, PeerBaseline]:
    """Per GPU model with at least ``policy.min_peer_rigs`` rigs: its GPUs' usual work."""
    works: dict[str, list[float]] = {}
    rigs: Counter[str] = Counter()
    for baseline in baselines:
        per_gpu = baseline.per_gpu_work()
        if baseline.gpu_model is None or not per_gpu:
            continue
        works.setdefault(baseline.gpu_model, []).extend(per_gpu)
        rigs[baseline.gpu_model] += 1
    return {
        model: PeerBaseline(model, spread(values, rel_floor=0.02), rigs[model], len(values))
        for model, values in sorted(works.items())
        if rigs[model] >= policy.min_peer_rigs
    }


# -- one point ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signal:
    """What one point shows: a reason for a GPU (None: the rig as a whole)."""

    reason: Reason
    gpu: int | None
    score: float  # robust spreads from normal (the largest of the figures that decided)
    evidence: dict[str, float]
    basis: str = "own"  # "own": its own past; "peers": its GPU model's

    @property
    def key(self) -> tuple[Reason, int | None]:
        return self.reason, self.gpu


def assess(
    sample: RigSample,
    baseline: RigBaseline,
    *,
    peers: PeerBaseline | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> list[Signal]:
    """What is wrong at this point, if anything (a point is never a finding on its own)."""
    signals: list[Signal] = []
    present = {g.index: g for g in sample.gpus}
    if present:
        for index, usual in baseline.gpus.items():
            gpu = present.get(index)
            if gpu is None:
                seen = sum(1 for i in baseline.gpus if i in present)
                evidence = {"gpus_expected": float(len(baseline.gpus)), "gpus_seen": float(seen)}
                signals.append(Signal(Reason.GPU_LOST, index, policy.z, evidence))
                continue
            signal = _assess_gpu(sample, gpu, usual, peers, policy)
            if signal is not None:
                signals.append(signal)
    if not signals:
        signal = _assess_rig(sample, baseline, peers, policy, per_gpu=bool(present))
        if signal is not None:
            signals.append(signal)
    return signals


def _assess_gpu(
    sample: RigSample,
    gpu: GpuSample,
    usual: GpuBaseline,
    peers: PeerBaseline | None,
    policy: Policy,
) -> Signal | None:
    z = policy.z
    evidence: dict[str, float] = {}
    gpu_work = sample.gpu_work(gpu)
    work_ratio: float | None = None
    work_z = 0.0
    if gpu_work is not None and usual.work is not None:
        work_ratio = gpu_work / usual.work.center
        work_z = usual.work.z(gpu_work)
        evidence |= {"work": gpu_work, "usual_work": usual.work.center, "work_ratio": work_ratio}
    if sample.difficulty is not None:
        evidence["difficulty"] = float(sample.difficulty)

    if (gpu.hashrate or 0.0) <= 0.0 or (
        work_ratio is not None and work_ratio <= policy.lost_fraction
    ):
        return Signal(Reason.GPU_LOST, gpu.index, max(z, -work_z), evidence)

    temp, power, fan = gpu.temperature_c, gpu.power_w, gpu.fan_pct
    if temp is not None:
        evidence["temperature_c"] = temp
    if power is not None:
        evidence["power_w"] = power
    if fan is not None:
        evidence["fan_pct"] = fan

    fan_failing = False
    fan_z = 0.0
    if temp is not None and fan is not None and usual.fan_curve is not None:
        wanted = usual.expected_fan(temp)
        assert wanted is not None
        gap = wanted - fan
        fan_z = gap / usual.fan_curve.residual.scale
        hotter = usual.temperature is not None and (
            temp >= usual.temperature.center + policy.temp_rise_c
        )
        fan_failing = gap >= policy.fan_gap_pct and fan_z >= z and hotter
        evidence["expected_fan_pct"] = wanted
    if fan_failing:
        return Signal(Reason.FAN_FAILURE, gpu.index, fan_z, evidence)

    hot = False
    heat_z = 0.0
    if temp is not None and usual.heat is not None:
        expected = usual.expected_temperature(power, sample.ts)
        if expected is not None:
            heat_z = (temp - expected) / usual.heat.residual.scale
            hot = temp - expected >= policy.temp_excess_c and heat_z >= z
            evidence["expected_temperature_c"] = expected

    power_ratio: float | None = None
    power_z = 0.0
    if power is not None and usual.power is not None:
        power_ratio = power / usual.power.center
        power_z = usual.power.z(power)
        evidence |= {"usual_power_w": usual.power.center, "power_ratio": power_ratio}
    power_down = power_ratio is not None and power_ratio <= 1 - policy.power_drop and power_z <= -z
    throttled = power_down or (work_ratio is not None and work_ratio <= 1 - policy.throttle_drop)
    maxed_out = fan is not None and fan >= policy.fan_maxed_pct  # nothing left to cool it
    if hot and (throttled or maxed_out):
        return Signal(Reason.THERMAL_THROTTLING, gpu.index, heat_z, evidence)

    efficiency_ratio: float | None = None
    per_watt = sample.gpu_efficiency(gpu)
    if per_watt is not None and usual.efficiency is not None:
        efficiency_ratio = per_watt / usual.efficiency.center
        evidence["efficiency_ratio"] = efficiency_ratio
    if (
        power_down
        and not hot
        and (efficiency_ratio is None or efficiency_ratio >= 1 - policy.efficiency_tolerance)
    ):
        return Signal(Reason.POWER_LIMIT_LOWERED, gpu.index, -power_z, evidence)

    if work_ratio is not None and work_ratio <= 1 - policy.work_drop and work_z <= -z:
        return Signal(Reason.UNDER_DELIVERY, gpu.index, -work_z, evidence)
    if gpu_work is not None and peers is not None:
        return _under_peers(gpu_work, gpu.index, peers, policy, evidence)
    return None


def _under_peers(
    per_gpu_work: float,
    gpu: int | None,
    peers: PeerBaseline,
    policy: Policy,
    evidence: dict[str, float],
) -> Signal | None:
    ratio = per_gpu_work / peers.work.center
    peer_z = peers.work.z(per_gpu_work)
    if ratio > 1 - policy.peer_gap or peer_z > -policy.peer_z:
        return None
    evidence = evidence | {
        "work": per_gpu_work,
        "peer_work": peers.work.center,
        "peer_ratio": ratio,
        "peer_rigs": float(peers.rigs),
    }
    return Signal(Reason.UNDER_DELIVERY, gpu, -peer_z, evidence, basis="peers")


def _assess_rig(
    sample: RigSample,
    baseline: RigBaseline,
    peers: PeerBaseline | None,
    policy: Policy,
    *,
    per_gpu: bool,
) -> Signal | None:
    """The rig as a whole: GPUs lost by its count, work lost by its total."""
    evidence: dict[str, float] = {}
    if sample.difficulty is not None:
        evidence["difficulty"] = float(sample.difficulty)
    expected = baseline.active_gpus
    if (
        not per_gpu
        and expected is not None
        and sample.active_gpus is not None
        and sample.active_gpus < expected
    ):
        evidence |= {"gpus_expected": float(expected), "gpus_seen": float(sample.active_gpus)}
        return Signal(Reason.GPU_LOST, None, policy.z, evidence)
    rig_work = sample.work
    if rig_work is None:
        return None
    if baseline.work is not None:
        ratio = rig_work / baseline.work.center
        work_z = baseline.work.z(rig_work)
        if ratio <= 1 - policy.work_drop and work_z <= -policy.z:
            evidence |= {"work": rig_work, "usual_work": baseline.work.center, "work_ratio": ratio}
            return Signal(Reason.UNDER_DELIVERY, None, -work_z, evidence)
    if not per_gpu and peers is not None and sample.active_gpus:
        return _under_peers(rig_work / sample.active_gpus, None, peers, policy, evidence)
    return None


# -- persistence ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    reason: Reason
    gpu: int | None
    ts: int  # the newest point that showed it
    points: int  # how many of the last ``window`` points showed it
    score: float
    basis: str
    evidence: dict[str, float]

    @property
    def message(self) -> str:
        return describe(self)


def persistent(
    assessed: Sequence[tuple[int, Sequence[Signal]]], *, policy: Policy = DEFAULT_POLICY
) -> list[Finding]:
    """The reasons shown by at least ``policy.persist`` of the last ``policy.window``
    assessed points (``(ts, signals)``, oldest first), strongest first."""
    recent = assessed[-policy.window :]
    counts: Counter[tuple[Reason, int | None]] = Counter()
    first: dict[tuple[Reason, int | None], int] = {}
    newest: dict[tuple[Reason, int | None], tuple[int, Signal]] = {}
    for ts, signals in recent:
        for key in {s.key for s in signals}:
            counts[key] += 1
            first.setdefault(key, ts)
        for signal in signals:
            newest[signal.key] = (ts, signal)
    findings = [
        Finding(
            reason=key[0],
            gpu=key[1],
            ts=newest[key][0],
            points=count,
            score=round(newest[key][1].score, 2),
            basis=newest[key][1].basis,
            evidence={k: round(v, 4) for k, v in newest[key][1].evidence.items()},
        )
        for key, count in counts.items()
        if count >= policy.persist and newest[key][0] - first[key] >= policy.min_span_seconds
    ]
    findings.sort(key=lambda f: (-f.score, f.reason, -1 if f.gpu is None else f.gpu))
    return findings


def detect(
    recent: Sequence[RigSample],
    baseline: RigBaseline,
    *,
    peers: PeerBaseline | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> list[Finding]:
    """The findings of a rig's last ``policy.window`` points (oldest first) against its
    baseline and its GPU model's peers."""
    tail = sorted(recent, key=lambda s: s.ts)[-policy.window :]
    assessed = [(s.ts, assess(s, baseline, peers=peers, policy=policy)) for s in tail]
    return persistent(assessed, policy=policy)


def describe(finding: Finding) -> str:
    """One line an owner reads."""
    e = finding.evidence
    where = "the rig" if finding.gpu is None else f"GPU {finding.gpu}"
    match finding.reason:
        case Reason.GPU_LOST:
            if finding.gpu is None:
                return f"the rig: {e['gpus_seen']:.0f} of its {e['gpus_expected']:.0f} GPUs working"
            if "gpus_expected" in e:
                return f"{where} is gone: {e['gpus_seen']:.0f} of {e['gpus_expected']:.0f} report"
            return f"{where} stopped working"
        case Reason.FAN_FAILURE:
            return (
                f"{where}: fan at {e.get('fan_pct', 0):.0f}% at {e.get('temperature_c', 0):.0f} °C "
                f"where its curve gives {e.get('expected_fan_pct', 0):.0f}%"
            )
        case Reason.THERMAL_THROTTLING:
            return (
                f"{where}: {e.get('temperature_c', 0):.0f} °C where its power and hour give "
                f"{e.get('expected_temperature_c', 0):.0f} °C, and throttled"
                + _percent(" (work {:.0f}% of usual)", e.get("work_ratio"))
            )
        case Reason.POWER_LIMIT_LOWERED:
            return (
                f"{where}: drawing {e.get('power_w', 0):.0f} W, usually "
                f"{e.get('usual_power_w', 0):.0f} W"
                + _percent("; work {:.0f}% of usual", e.get("work_ratio"))
            )
        case Reason.UNDER_DELIVERY:
            if finding.basis == "peers":
                return f"{where}: work {e['peer_ratio'] * 100:.0f}% of its GPU model's median"
            return f"{where}: work {e.get('work_ratio', 0) * 100:.0f}% of its usual"


def _percent(template: str, ratio: float | None) -> str:
    return "" if ratio is None else template.format(ratio * 100)
