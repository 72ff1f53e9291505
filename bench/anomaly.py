"""Anomaly detection against today's threshold alerts, on a simulated fleet (issue #22).

    .venv/bin/python bench/anomaly.py [--rigs 200] [--days 7] [--seed 22]
        [--history-seconds 900] [--hashrate-drop 20] [--temperature 80]

A seeded fleet of GPU rigs (four GPU models, 1 to 8 GPUs each, each GPU with its own
silicon, power, cooling and fan curve, each rig in its own room with a daily temperature
cycle) heartbeats through ``--warmup-days`` of history and then the measured ``--days``.
The platform sees what it stores: a history point per rig at the deployed cadence
(``functions/logic/heartbeat_schedule.py``: the first heartbeat of each slot, slots shifted
per rig), and a summary per summary slot (what the alert job reads as the worker).

Injected into the measured days, on distinct rigs, ``--faults`` faults split evenly between
thermal throttling (cooling degraded: the GPU reaches its thermal limit and pulls its
power), a failing fan (its speed falls to 0-15%, the GPU heats up and throttles), a lost GPU
(gone from the rig's list, or left at 0 H/s), a lowered power limit (the whole rig at
60-80% of its power) and under-delivery (the whole rig's work at 55-80%, its power a little
lower), each from its onset for 4 to 30 hours. Not faults, and never to be alerted on:
seven network difficulty changes (rises and falls of 30-90%, in +1000/-2000 steps over
30 min to 2 h, and one abrupt fall), the difficulty's small wander between them, daily
room cycles, and short glitches (miner restarts, a GPU reading 0 H/s for a moment, a
temperature or fan reading off; 3 a day per rig, each lasting 20 s to 4 minutes).
A rig's hashrate follows the difficulty it mines at (work ∝ difficulty^-0.03: not exactly
flat), averaged over its last minute, so a point just after a step mixes two difficulties.

Both detectors see the same data:

- **threshold alerts** (``functions/logic/alerts.py``: ``check_hashrate_drop`` against the
  median of the last hour's history points and ``check_temperature``, the owner's rules at
  ``--hashrate-drop`` percent and ``--temperature`` °C), evaluated by the every-minute job
  after each summary and history write, each rule firing at most once per ``--cooldown``
  per rig, as ``AlertJob`` does;
- **the new detection** (``functions/logic/anomaly.py``): each rig's baseline and its GPU
  model's peers rebuilt once a day from the last three days; every history point assessed;
  a finding when a reason persists (2 of the last 3 points); seen by a job every
  ``--job-seconds``. An alert is a (rig, reason) finding starting; it alerts again only
  after it cleared and ``--cooldown`` passed.

Scoring: an alert is true when its rig has a fault and it comes from the onset to an hour
after the fault ends; every other alert is false, and a false one from the first step of
a difficulty change to two hours after its last counts as caused by it.
Recall: faults with a true alert; time-to-detect: onset to the first true alert. The new
detection's reason is right when its first true alert names the injected fault.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import platform
import random
import statistics
import sys
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from functions.logic.alert_conditions import check_hashrate_drop, check_temperature
from functions.logic.anomaly import (
    PeerBaseline,
    Policy,
    RigBaseline,
    Signal,
    assess,
    build_baseline,
    peer_baselines,
    persistent,
)
from functions.logic.anomaly_watch import WATCH_POLICY, StepGuard
from functions.logic.heartbeat_schedule import HeartbeatSchedule
from functions.logic.work import RigSample, sample_from_values
from functions.models.workers import Worker
from protocol.messages import GpuTelemetry

DAY = 86_400
HOUR = 3_600
START = 1_767_225_600  # 2026-01-01 00:00 UTC
OWNER = "0x" + "a" * 40
BASE_DIFFICULTY = 40_000
KINDS = (
    "thermal_throttling",
    "fan_failure",
    "gpu_lost",
    "power_limit_lowered",
    "under_delivery",
)
FAULT_RAMP_SECONDS = 240  # a fault takes hold over a few minutes (heat, a fan spinning down)


@dataclass(frozen=True)
class Model:
    name: str
    work: float  # KiB/s per GPU at full power
    power: float  # W
    theta: float  # °C per W at full airflow


MODELS = (
    Model("RTX 4090", 1.6e8, 360.0, 0.078),
    Model("RTX 3090", 1.05e8, 310.0, 0.090),
    Model("RTX 3080", 0.85e8, 290.0, 0.092),
    Model("RTX A5000", 0.9e8, 220.0, 0.120),
)


@dataclass
class Gpu:
    index: int
    work: float
    power: float
    theta: float
    fan_min: float
    fan_t0: float
    fan_slope: float
    limit_c: float  # where it throttles


@dataclass
class Fault:
    kind: str
    onset: int
    end: int
    gpu: int  # the GPU it strikes (thermal, fan, lost); the whole rig otherwise
    size: float  # cooling multiplier, fan speed, power cap or work share
    lost_as_zero: bool = False


@dataclass
class Rig:
    worker_id: str
    model: Model
    gpus: list[Gpu]
    ambient: float
    swing: float  # daily room swing, °C
    phase: float
    drift: list[float]  # per day, °C
    lag: int  # seconds between a difficulty change and the rig mining at it
    beat_phase: int  # its heartbeats' phase in a 30 s interval
    glitches: list[tuple[int, int, str, int, float]] = field(default_factory=list)
    fault: Fault | None = None


# -- the world --------------------------------------------------------------------------------


def build_fleet(rng: random.Random, count: int, total_days: int) -> list[Rig]:
    rigs = []
    sizes = (1, 2, 4, 4, 6, 8, 8, 3)
    for n in range(count):
        model = rng.choice(MODELS)
        tuned = min(1.15, max(0.85, rng.gauss(1.0, 0.05)))
        gpus = [
            Gpu(
                index=i,
                work=model.work * tuned * rng.gauss(1.0, 0.03),
                power=model.power * rng.gauss(1.0, 0.04),
                theta=model.theta * rng.gauss(1.0, 0.08),
                fan_min=rng.uniform(30, 45),
                fan_t0=rng.uniform(50, 58),
                fan_slope=rng.uniform(2.0, 3.5),
                limit_c=rng.uniform(82.5, 84.5),
            )
            for i in range(rng.choice(sizes))
        ]
        rig = Rig(
            worker_id=f"rig-{n:04d}",
            model=model,
            gpus=gpus,
            ambient=rng.uniform(18, 28),
            swing=rng.uniform(1.5, 5.0),
            phase=rng.uniform(0, 2 * math.pi),
            drift=[rng.gauss(0, 1.0) for _ in range(total_days + 2)],
            lag=rng.randrange(60),
            beat_phase=rng.randrange(30),
        )
        for _ in range(_poisson(rng, 3.0 * total_days)):
            start = START + rng.randrange(total_days * DAY)
            kind = rng.choice(("dip", "gpu_zero", "hot", "fan_zero"))
            rig.glitches.append(
                (start, start + rng.randint(20, 240), kind, rng.randrange(len(gpus)), rng.random())
            )
        rig.glitches.sort()
        rigs.append(rig)
    return rigs


def _poisson(rng: random.Random, mean: float) -> int:
    count, total = 0, rng.expovariate(1.0)
    while total < mean:
        count += 1
        total += rng.expovariate(1.0)
    return count


def inject_faults(rng: random.Random, rigs: list[Rig], count: int, first: int, last: int) -> None:
    chosen = rng.sample(rigs, count)
    for n, rig in enumerate(chosen):
        kind = KINDS[n % len(KINDS)]
        onset = rng.randrange(first, last)
        end = min(onset + rng.randrange(4 * HOUR, 30 * HOUR), last + DAY)
        size = {
            "thermal_throttling": rng.uniform(2.5, 3.2),
            "fan_failure": rng.uniform(0, 15),
            "gpu_lost": 0.0,
            "power_limit_lowered": rng.uniform(0.6, 0.8),
            "under_delivery": rng.uniform(0.55, 0.8),
        }[kind]
        rig.fault = Fault(kind, onset, end, rng.randrange(len(rig.gpus)), size, rng.random() < 0.3)


@dataclass(frozen=True)
class Difficulty:
    times: list[int]
    values: list[int]
    changes: list[tuple[int, int]]  # (start, end) of each change that is not a wander

    def at(self, t: float) -> int:
        return self.values[bisect.bisect_right(self.times, t) - 1]


def difficulty_schedule(rng: random.Random, warmup_days: int, days: int) -> Difficulty:
    """A wander of ±1000 every 2-4 hours, and seven changes in the measured days."""
    changes = [  # (day, target, step, seconds per step); step None: at once
        (0.55, 60_000, 1_000, 240),
        (1.40, 34_000, -2_000, 300),
        (2.30, 24_000, None, 0),
        (2.90, 45_000, 1_000, 180),
        (4.05, 70_000, 1_000, 300),
        (5.50, 40_000, -2_000, 120),
        (6.30, 52_000, 1_000, 300),
    ]
    planned = [c for c in changes if c[0] < days]
    times, values, spans = [START - DAY], [BASE_DIFFICULTY], []
    t, d = START, BASE_DIFFICULTY
    for day, target, step, every in [*planned, (float(days), 0, 0, 0)]:
        begin = START + int((warmup_days + day) * DAY)
        while True:  # the wander up to the change
            t += rng.randrange(2 * HOUR, 4 * HOUR)
            if t >= begin:
                break
            d = max(100, d + rng.choice((1_000, -1_000)))
            times.append(t)
            values.append(d)
        if target == 0:
            break
        t = begin
        if step is None:
            d = target
            times.append(t)
            values.append(d)
        else:
            while d != target:
                d = target if abs(target - d) < abs(step) else d + step
                times.append(t)
                values.append(d)
                t += every
        spans.append((begin, t))
    return Difficulty(times, values, spans)


# -- what a rig reports -----------------------------------------------------------------------


def _thermal(
    gpu: Gpu, room: float, power: float, theta: float, fan_cap: float | None
) -> tuple[float, float, float]:
    """Steady temperature, fan and power. The temperature rises over the room by
    theta × power / (0.35 + 0.65 × airflow); the fan follows its curve (clipped to
    [fan_min, 100]) or is stuck at ``fan_cap``; above its limit the GPU pulls its power
    until it holds there."""
    k = 0.0065
    # On the curve's slope: rise × (a + b × rise) = theta × power, a quadratic.
    a = 0.35 + k * (gpu.fan_min + gpu.fan_slope * (room - gpu.fan_t0))
    b = k * gpu.fan_slope
    rise = (-a + math.sqrt(a * a + 4 * b * theta * power)) / (2 * b)
    fan = gpu.fan_min + gpu.fan_slope * rise + gpu.fan_slope * (room - gpu.fan_t0)
    if fan < gpu.fan_min:
        fan = gpu.fan_min
    elif fan > 100.0:
        fan = 100.0
    if fan_cap is not None and fan > fan_cap:
        fan = fan_cap
    rise = theta * power / (0.35 + k * fan)
    if room + rise > gpu.limit_c:
        held = gpu.limit_c + 0.5
        power = min(power, (held - room) * (0.35 + k * fan) / theta)
        rise = theta * power / (0.35 + k * fan)
    return room + rise, fan, power


def reading(rig: Rig, t: int, difficulty: Difficulty, rng: random.Random) -> dict[str, float]:
    """A heartbeat's figures at ``t``, named as ingest names a history point's values."""
    day = (t - START) / DAY
    k = min(int(day), len(rig.drift) - 2)
    room = (
        rig.ambient
        + rig.swing * math.sin(2 * math.pi * (t % DAY) / DAY + rig.phase)
        + rig.drift[k]
        + (rig.drift[k + 1] - rig.drift[k]) * (day - k)
    )
    mined = difficulty.at(t - rig.lag)
    before = difficulty.at(t - rig.lag - 60)
    fault = rig.fault
    ramp = 0.0
    if fault is not None and fault.onset <= t < fault.end:
        ramp = 1 - math.exp(-(t - fault.onset) / FAULT_RAMP_SECONDS)
    glitch = next((g for g in rig.glitches if g[0] <= t < g[1]), None)
    values: dict[str, float] = {"difficulty": float(mined)}
    total = 0.0
    active = 0
    for gpu in rig.gpus:
        power, theta, fan_cap, work = gpu.power, gpu.theta, None, gpu.work
        kind = fault.kind if ramp > 0 and fault is not None else None
        hit = fault is not None and gpu.index == fault.gpu
        if kind == "gpu_lost" and hit and ramp > 0.5:
            if fault is not None and fault.lost_as_zero:
                values |= {
                    f"gpu{gpu.index}.hashrate": 0.0,
                    f"gpu{gpu.index}.temperature_c": round(room + 8 + rng.gauss(0, 0.6), 1),
                    f"gpu{gpu.index}.fan_pct": round(gpu.fan_min, 1),
                    f"gpu{gpu.index}.power_w": round(22 + rng.gauss(0, 1), 1),
                }
            continue
        if kind == "thermal_throttling" and hit and fault is not None:
            theta *= 1 + ramp * (fault.size - 1)
        elif kind == "fan_failure" and hit and fault is not None:
            fan_cap = 100 - ramp * (100 - fault.size)
        elif kind == "power_limit_lowered" and fault is not None:
            capped = power * (1 - ramp * (1 - fault.size))
            work *= (capped / power) ** 0.5
            power = capped
        elif kind == "under_delivery" and fault is not None:
            share = 1 - ramp * (1 - fault.size)
            work *= share
            power *= 1 - 0.35 * (1 - share)
        temperature, fan, drawn = _thermal(gpu, room, power, theta, fan_cap)
        if drawn < power:
            work *= (drawn / power) ** 0.6
        work *= (mined / BASE_DIFFICULTY) ** -0.03
        hashrate = work * 0.5 * (1 / mined + 1 / before) * rng.gauss(1.0, 0.015)
        temperature += rng.gauss(0, 0.6)
        fan = min(100.0, max(0.0, fan + rng.gauss(0, 1.0)))
        drawn *= rng.gauss(1.0, 0.02)
        if glitch is not None:
            _, _, what, index, x = glitch
            if what == "dip":
                hashrate *= 0.2 + 0.5 * x
            elif what == "gpu_zero" and index == gpu.index:
                hashrate = 0.0
            elif what == "hot" and index == gpu.index:
                temperature += 8 + 7 * x
            elif what == "fan_zero" and index == gpu.index:
                fan = 0.0
        values |= {
            f"gpu{gpu.index}.hashrate": round(hashrate, 2),
            f"gpu{gpu.index}.temperature_c": round(temperature, 1),
            f"gpu{gpu.index}.fan_pct": round(fan, 1),
            f"gpu{gpu.index}.power_w": round(drawn, 1),
        }
        total += hashrate
        active += 1
    values |= {"hashrate": round(total, 2), "active_gpus": float(active)}
    return values


@dataclass
class Trace:
    history: list[tuple[int, RigSample]]  # (written at, the point as read back)
    summaries: list[tuple[int, dict[str, float]]]


def simulate(rig: Rig, difficulty: Difficulty, history_s: int, end: int, seed: int) -> Trace:
    schedule = HeartbeatSchedule(30, 600, history_s, 300)
    offset = schedule.offset(rig.worker_id)
    rng = random.Random(f"{seed}:{rig.worker_id}:{history_s}")
    writes: list[tuple[int, str]] = []
    for every, what in ((history_s, "history"), (600, "summary")):
        t = START - (START + offset) % every
        while t < end:
            if t >= START:
                writes.append((t, what))
            t += every
    writes.sort()
    trace = Trace([], [])
    for slot, what in writes:
        beat = slot + rig.beat_phase  # the slot's first heartbeat
        values = reading(rig, beat, difficulty, rng)
        if what == "history":
            trace.history.append((beat, sample_from_values(slot, values)))
        else:
            trace.summaries.append((beat, values))
    return trace


# -- the two detectors ------------------------------------------------------------------------


def _next_minute(t: int) -> int:
    return t - t % 60 + 60


def threshold_alerts(
    rig: Rig, trace: Trace, since: int, args: argparse.Namespace, history_s: int
) -> list[tuple[int, str]]:
    """``AlertJob``'s two rules on this rig: after each write, the next minute's run."""
    events: list[tuple[int, str]] = []
    last_fired: dict[str, int] = {}
    history = trace.history
    stamps = [p.ts for _, p in history]
    runs = sorted({_next_minute(t) for t, _ in trace.summaries if t >= since})
    runs = sorted(set(runs) | {_next_minute(t) for t, _ in history if t >= since})
    s = 0
    summaries = trace.summaries
    for run in runs:
        while s + 1 < len(summaries) and summaries[s + 1][0] <= run:
            s += 1
        written, values = summaries[s]
        if written > run:
            continue
        worker = _worker(rig, values, written)
        window = max(HOUR, 3 * history_s)  # as AlertJob reads it (at least 3 points)
        lo, hi = bisect.bisect_left(stamps, run - window), bisect.bisect_right(stamps, run)
        rates = [p.hashrate for t, p in history[lo:hi] if t <= run]
        checks = {
            "hashrate_drop": check_hashrate_drop(
                worker, rates, args.hashrate_drop, window_seconds=window
            ),
            "temperature": check_temperature(worker, args.temperature),
        }
        for kind, finding in checks.items():
            if finding is None:
                continue
            if run - last_fired.get(kind, -(10**12)) < args.cooldown:
                continue
            last_fired[kind] = run
            events.append((run, kind))
    return events


def _worker(rig: Rig, values: dict[str, float], now: int) -> Worker:
    sample = sample_from_values(now, values)
    telemetry = [
        GpuTelemetry(
            index=g.index,
            hashrate=g.hashrate or 0.0,
            temperature_c=g.temperature_c,
            fan_pct=g.fan_pct,
            power_w=g.power_w,
        )
        for g in sample.gpus
    ]
    return Worker(
        worker_id=rig.worker_id,
        owner=OWNER,
        created_at=START,
        online=True,
        last_seen=now,
        gpu_model=rig.model.name,
        hashrate=sample.hashrate,
        active_gpus=sample.active_gpus or 0,
        difficulty=sample.difficulty,
        telemetry=telemetry,
    )


class Openings:
    """Findings starting and clearing per (rig, reason): an alert when one starts, again only
    after it cleared and the cooldown passed."""

    def __init__(self, cooldown: int) -> None:
        self.cooldown = cooldown
        self.events: list[tuple[str, int, str]] = []
        self._open: dict[str, set[str]] = {}
        self._closed_at: dict[tuple[str, str], int] = {}

    def update(self, worker_id: str, firing: set[str], seen: int) -> None:
        was = self._open.setdefault(worker_id, set())
        for reason in firing - was:
            if seen - self._closed_at.get((worker_id, reason), -(10**12)) >= self.cooldown:
                self.events.append((worker_id, seen, reason))
        for reason in was - firing:
            self._closed_at[(worker_id, reason)] = seen
        self._open[worker_id] = set(firing)


def daily_baselines(
    rigs: list[Rig], traces: dict[str, Trace], day: int, policy: Policy
) -> tuple[dict[str, RigBaseline], dict[str, PeerBaseline]]:
    """What the insights job stores: each rig's baseline from its history before ``day``."""
    baselines: dict[str, RigBaseline] = {}
    for rig in rigs:
        points = [p for t, p in traces[rig.worker_id].history if t < day]
        baseline = build_baseline(points, now=day, gpu_model=rig.model.name, policy=policy)
        if baseline is not None:
            baselines[rig.worker_id] = baseline
    return baselines, peer_baselines(baselines.values(), policy=policy)


class Detector:
    """Scores points against the day's baselines and keeps each rig's recent scores, the
    openings and the time spent (the two detections differ only in what they score)."""

    def __init__(self, policy: Policy, cooldown: int, *, guard: bool = False) -> None:
        self.policy = policy
        # The watch's step guard per rig (``functions/logic/anomaly_watch.StepGuard``).
        self.guards: dict[str, StepGuard] | None = {} if guard else None
        self.openings = Openings(cooldown)
        self.recent: dict[str, deque[tuple[int, list[Signal]]]] = {}
        self.timing = {"baselines_s": 0.0, "assess_s": 0.0, "baselines": 0.0, "points": 0.0}
        self.baselines: dict[str, RigBaseline] = {}
        self.peers: dict[str, PeerBaseline] = {}

    def new_day(self, rigs: list[Rig], traces: dict[str, Trace], day: int) -> None:
        started = time.perf_counter()
        self.baselines, self.peers = daily_baselines(rigs, traces, day, self.policy)
        self.timing["baselines_s"] += time.perf_counter() - started
        self.timing["baselines"] += len(self.baselines)

    def score(self, rig: Rig, point: RigSample, seen: int) -> None:
        if self.guards is not None:
            point = self.guards.setdefault(rig.worker_id, StepGuard()).apply(point)
        baseline = self.baselines[rig.worker_id]
        peers = self.peers.get(rig.model.name)
        window = self.recent.setdefault(rig.worker_id, deque(maxlen=self.policy.window))
        window.append((point.ts, assess(point, baseline, peers=peers, policy=self.policy)))
        self.timing["points"] += 1
        firing = {f.reason.value for f in persistent(list(window), policy=self.policy)}
        self.openings.update(rig.worker_id, firing, seen)


def new_detection(
    rigs: list[Rig], traces: dict[str, Trace], since: int, end: int, args: argparse.Namespace
) -> tuple[list[tuple[str, int, str]], dict[str, float]]:
    """Daily baselines and peers; each history point assessed; findings seen by the next
    job run."""
    detector = Detector(Policy(window=args.window, persist=args.persist), args.cooldown)
    cursor = {r.worker_id: 0 for r in rigs}
    for day in range(since, end, DAY):
        detector.new_day(rigs, traces, day)
        started = time.perf_counter()
        for rig in rigs:
            history = traces[rig.worker_id].history
            i = cursor[rig.worker_id]
            while i < len(history) and history[i][0] < day + DAY:
                written, point = history[i]
                i += 1
                if written >= since and rig.worker_id in detector.baselines:
                    seen = written - written % args.job_seconds + args.job_seconds
                    detector.score(rig, point, seen)
            cursor[rig.worker_id] = i
        detector.timing["assess_s"] += time.perf_counter() - started
    return detector.openings.events, detector.timing


def watch_detection(
    rigs: list[Rig],
    traces: dict[str, Trace],
    difficulty: Difficulty,
    since: int,
    end: int,
    args: argparse.Namespace,
) -> tuple[list[tuple[str, int, str]], dict[str, float]]:
    """What the platform runs (``functions/logic/anomaly_watch.py``): the insights job's
    daily baselines from the history points; every heartbeat scored by ingest against them
    (``WATCH_POLICY``: 7 of the last 10 over at least 4 minutes), a finding stored at once
    and alerted by the next minute's alerts job."""
    detector = Detector(WATCH_POLICY, args.cooldown, guard=True)
    step = args.heartbeat_seconds
    for day in range(since, end, DAY):
        detector.new_day(rigs, traces, day)
        started = time.perf_counter()
        for rig in rigs:
            if rig.worker_id not in detector.baselines:
                continue
            rng = random.Random(f"{args.seed}:{rig.worker_id}:beats:{day}")
            for t in range(day + rig.beat_phase % step, day + DAY, step):
                point = sample_from_values(t, reading(rig, t, difficulty, rng))
                detector.score(rig, point, _next_minute(t))
        detector.timing["assess_s"] += time.perf_counter() - started
    return detector.openings.events, detector.timing


# -- scoring ----------------------------------------------------------------------------------


@dataclass
class Score:
    alerts: int = 0
    true: int = 0
    difficulty_false: int = 0
    detected: int = 0
    faults: int = 0
    delays: list[float] = field(default_factory=list)
    delays_by_kind: dict[str, list[float]] = field(default_factory=dict)
    by_kind: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    reason_right: int = 0
    false_by_reason: Counter[str] = field(default_factory=Counter)

    @property
    def precision(self) -> float:
        return self.true / self.alerts if self.alerts else float("nan")

    @property
    def recall(self) -> float:
        return self.detected / self.faults if self.faults else float("nan")

    @property
    def median_minutes(self) -> float:
        return statistics.median(self.delays) / 60 if self.delays else float("nan")


def score(alerts: list[tuple[str, int, str]], rigs: list[Rig], difficulty: Difficulty) -> Score:
    result = Score()
    by_rig = {r.worker_id: r for r in rigs}
    first: dict[str, tuple[int, str]] = {}
    for worker_id, t, reason in sorted(alerts, key=lambda a: a[1]):
        result.alerts += 1
        fault = by_rig[worker_id].fault
        if fault is not None and fault.onset <= t <= fault.end + HOUR:
            result.true += 1
            first.setdefault(worker_id, (t, reason))
            continue
        result.false_by_reason[reason] += 1
        if any(start <= t <= stop + 2 * HOUR for start, stop in difficulty.changes):
            result.difficulty_false += 1
    for rig in rigs:
        if rig.fault is None:
            continue
        result.faults += 1
        result.kinds[rig.fault.kind] += 1
        if rig.worker_id in first:
            t, reason = first[rig.worker_id]
            result.detected += 1
            result.by_kind[rig.fault.kind] += 1
            result.delays.append(t - rig.fault.onset)
            result.delays_by_kind.setdefault(rig.fault.kind, []).append(t - rig.fault.onset)
            result.reason_right += int(reason == rig.fault.kind)
    return result


# -- the run ----------------------------------------------------------------------------------


def run(args: argparse.Namespace, history_s: int) -> dict[str, object]:
    rng = random.Random(args.seed)
    total_days = args.warmup_days + args.days
    rigs = build_fleet(rng, args.rigs, total_days)
    measured = START + args.warmup_days * DAY
    end = measured + args.days * DAY
    inject_faults(rng, rigs, args.faults, measured + 6 * HOUR, end - 12 * HOUR)
    difficulty = difficulty_schedule(rng, args.warmup_days, args.days)

    started = time.perf_counter()
    traces = {r.worker_id: simulate(r, difficulty, history_s, end, args.seed) for r in rigs}
    simulated = time.perf_counter() - started

    started = time.perf_counter()
    old = [
        (rig.worker_id, t, kind)
        for rig in rigs
        for t, kind in threshold_alerts(rig, traces[rig.worker_id], measured, args, history_s)
    ]
    old_seconds = time.perf_counter() - started
    new, timing = new_detection(rigs, traces, measured, end, args)
    watch, watch_timing = watch_detection(rigs, traces, difficulty, measured, end, args)

    points = sum(len(t.history) for t in traces.values())
    return {
        "watch": score(watch, rigs, difficulty),
        "watch_points": int(watch_timing["points"]),
        "watch_per_point_us": round(
            1e6 * watch_timing["assess_s"] / max(1, watch_timing["points"]), 1
        ),
        "history_seconds": history_s,
        "rigs": len(rigs),
        "gpus": sum(len(r.gpus) for r in rigs),
        "points": points,
        "difficulty_changes": len(difficulty.changes),
        "threshold": score(old, rigs, difficulty),
        "anomaly": score(new, rigs, difficulty),
        "seconds": {
            "simulate": round(simulated, 1),
            "threshold": round(old_seconds, 1),
            "baselines": round(timing["baselines_s"], 1),
            "assess": round(timing["assess_s"], 1),
            "watch": round(watch_timing["assess_s"], 1),
        },
        "per_baseline_ms": round(1000 * timing["baselines_s"] / max(1, timing["baselines"]), 2),
        "per_point_us": round(1e6 * timing["assess_s"] / max(1, timing["points"]), 1),
    }


def report(result: dict[str, object], args: argparse.Namespace) -> None:
    columns = [
        ("threshold alerts", result["threshold"]),
        (f"anomaly, {result['history_seconds']} s points", result["anomaly"]),
        (f"anomaly watch, {args.heartbeat_seconds} s beats", result["watch"]),
    ]
    scores = [c for _, c in columns if isinstance(c, Score)]
    assert len(scores) == len(columns)
    print(
        f"\nhistory every {result['history_seconds']} s: {result['rigs']} rigs "
        f"({result['gpus']} GPUs) x {args.days} days after {args.warmup_days} of warm-up, "
        f"{result['points']:,} history points, {result['watch_points']:,} heartbeats scored, "
        f"{scores[0].faults} faults, {result['difficulty_changes']} difficulty changes"
    )

    def row(name: str, cell: Callable[[Score], str]) -> tuple[str, list[str]]:
        return name, [cell(c) for c in scores]

    rows = [
        row("precision", lambda c: f"{c.precision:.3f}"),
        row("recall", lambda c: f"{c.recall:.3f}"),
        row("median time to detect", lambda c: f"{c.median_minutes:.1f} min"),
        row("alerts (true / false)", lambda c: f"{c.true} / {c.alerts - c.true}"),
        row("false alerts in a difficulty change", lambda c: str(c.difficulty_false)),
    ]
    for kind in KINDS:
        rows.append(row(f"{kind}: found, median delay", partial(_found, kind=kind)))
    named = [f"{c.reason_right}/{c.detected}" for c in scores[1:]]
    rows.append(("first true alert names the fault", ["-", *named]))
    rows.append(row("false alerts by kind", lambda c: _counts(c.false_by_reason)))
    width = max(len(r[0]) for r in rows)
    cell = max(max(len(v) for v in values) for _, values in rows)
    cell = max(cell, *(len(label) for label, _ in columns))
    print(f"  {'':{width}}  " + "  ".join(f"{label:>{cell}}" for label, _ in columns))
    for name, values in rows:
        print(f"  {name:{width}}  " + "  ".join(f"{v:>{cell}}" for v in values))
    seconds = result["seconds"]
    print(
        f"  time: {seconds}; a baseline {result['per_baseline_ms']} ms, "
        f"a point {result['per_point_us']} µs, a heartbeat {result['watch_per_point_us']} µs"
    )
    print(
        json.dumps(
            {
                "history_seconds": result["history_seconds"],
                "heartbeat_seconds": args.heartbeat_seconds,
                "threshold": _summary(scores[0]),
                "anomaly": _summary(scores[1]),
                "watch": _summary(scores[2]),
            }
        )
    )


def _found(s: Score, *, kind: str) -> str:
    delays = s.delays_by_kind.get(kind)
    median = f", {statistics.median(delays) / 60:.0f} min" if delays else ""
    return f"{s.by_kind[kind]}/{s.kinds[kind]}{median}"


def _counts(counts: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def _summary(s: Score) -> dict[str, object]:
    return {
        "precision": round(s.precision, 3),
        "recall": round(s.recall, 3),
        "median_minutes": round(s.median_minutes, 1),
        "alerts": s.alerts,
        "false": s.alerts - s.true,
        "difficulty_false": s.difficulty_false,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rigs", type=int, default=200)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--warmup-days", type=int, default=3)
    parser.add_argument("--faults", type=int, default=60)
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument(
        "--history-seconds",
        default="900",
        help="history cadences to run, comma-separated (deployed: 900)",
    )
    parser.add_argument("--job-seconds", type=int, default=300)
    parser.add_argument(
        "--heartbeat-seconds",
        type=int,
        default=30,
        help="the watch scores every heartbeat (rigs send one every 30 s)",
    )
    parser.add_argument("--window", type=int, default=Policy.window, help="points")
    parser.add_argument("--persist", type=int, default=Policy.persist, help="of the window")
    parser.add_argument("--hashrate-drop", type=float, default=20.0)
    parser.add_argument("--temperature", type=float, default=80.0)
    parser.add_argument("--cooldown", type=int, default=3600)
    args = parser.parse_args()
    print(
        f"anomaly bench: seed {args.seed}, rules hashrate_drop {args.hashrate_drop:g}% "
        f"and temperature {args.temperature:g} °C, cooldown {args.cooldown} s; "
        f"findings on {args.persist} of {args.window} points, a job every {args.job_seconds} s; "
        f"{platform.python_implementation()} {platform.python_version()}"
    )
    started = time.perf_counter()
    for history_s in (int(s) for s in args.history_seconds.split(",")):
        report(run(args, history_s), args)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
