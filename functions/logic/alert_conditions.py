"""What each alert kind checks on one worker (pure: the alerts job gathers the inputs).

- ``offline``: down (not online, or silent longer than the platform's allowance for
  heartbeat write slots) for at least ``threshold`` minutes, counted from the last time
  it was heard;
- ``hashrate_drop``: an up worker's hashrate more than ``threshold`` percent below the
  median of its history points of the last hour, or of the last three history slots when
  points come more sparsely (at least 3 points, else no verdict);
- ``temperature``: an up worker's hottest GPU above ``threshold`` °C;
- ``anomaly``: an open anomaly finding (``functions/logic/anomaly_watch.py``) of any
  reason scoring at least ``threshold`` (robust spreads from normal);
- ``gpu_lost`` and ``fan_failure``: an open finding of that reason scoring at least
  ``threshold``; ``gpu_lost`` also when an up rig reports fewer active GPUs than it
  registered (a rig too new for a baseline is still told);
- ``back_online``: the rig came back (registered again) within the last
  ``BACK_ONLINE_WINDOW_SECONDS`` after at least ``threshold`` minutes down.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from functions.models.insights import AnomalyFinding
from functions.models.workers import Worker

MIN_HISTORY_POINTS = 3
# A return is news for this long: a few runs of the every-minute job (the cooldown keeps
# it to one event).
BACK_ONLINE_WINDOW_SECONDS = 300


@dataclass(frozen=True)
class Finding:
    value: float  # in the rule's threshold unit
    message: str


def silent_seconds(worker: Worker, now: int) -> int | None:
    """How long since the worker was last heard; None if it never was."""
    return None if worker.last_seen is None else max(0, now - worker.last_seen)


def is_up(worker: Worker, now: int, *, silence_allowance: int) -> bool:
    """Online, and heard within the allowance (heartbeats are written once per slot)."""
    silent = silent_seconds(worker, now)
    return worker.online and silent is not None and silent <= silence_allowance


def check_offline(
    worker: Worker, minutes: float, now: int, *, silence_allowance: int
) -> Finding | None:
    silent = silent_seconds(worker, now)
    if silent is None or is_up(worker, now, silence_allowance=silence_allowance):
        return None
    if silent < minutes * 60:
        return None
    down = silent / 60
    return Finding(round(down, 1), f"{_label(worker)} has been offline for {down:.0f} minutes")


def check_hashrate_drop(
    worker: Worker, history: list[float], percent: float, *, window_seconds: int = 3600
) -> Finding | None:
    """More than ``percent`` below the median of ``history``, the points of the last
    ``window_seconds`` (needs MIN_HISTORY_POINTS)."""
    if len(history) < MIN_HISTORY_POINTS:
        return None
    median = statistics.median(history)
    if median <= 0:
        return None
    drop = (median - worker.hashrate) * 100 / median
    if drop <= percent:
        return None
    return Finding(
        round(drop, 2),
        f"{_label(worker)} hashrate {worker.hashrate:g} H/s is {drop:.1f}% below "
        f"its {window_seconds / 3600:g}-hour median {median:g} H/s",
    )


def check_temperature(worker: Worker, celsius: float) -> Finding | None:
    readings = [(g.temperature_c, g.index) for g in worker.telemetry if g.temperature_c is not None]
    if not readings:
        return None
    hottest, index = max(readings)
    if hottest <= celsius:
        return None
    return Finding(hottest, f"{_label(worker)} GPU {index} is at {hottest:g} °C")


def _label(worker: Worker) -> str:
    if worker.name and worker.name != worker.worker_id:
        return f"worker {worker.name} ({worker.worker_id})"
    return f"worker {worker.worker_id}"


def check_findings(
    worker: Worker, findings: Sequence[AnomalyFinding], score: float, *, reason: str | None
) -> Finding | None:
    """The strongest open finding (of ``reason``, or any) scoring at least ``score``."""
    matching = [f for f in findings if f.open and f.score >= score and reason in (None, f.reason)]
    if not matching:
        return None
    strongest = max(matching, key=lambda f: f.score)
    return Finding(strongest.score, f"{_label(worker)}: {strongest.message}")


def check_gpu_count(worker: Worker) -> Finding | None:
    """Fewer GPUs at work than the rig registered."""
    registered = len(worker.gpus)
    if registered == 0 or worker.active_gpus >= registered:
        return None
    return Finding(
        float(registered - worker.active_gpus),
        f"{_label(worker)}: {worker.active_gpus} of its {registered} GPUs at work",
    )


def check_back_online(worker: Worker, minutes: float, now: int) -> Finding | None:
    back, down = worker.back_online_at, worker.down_seconds
    if back is None or down is None or not worker.online:
        return None
    if now - back > BACK_ONLINE_WINDOW_SECONDS or down < minutes * 60:
        return None
    return Finding(
        round(down / 60, 1), f"{_label(worker)} is back online after {down / 60:.0f} minutes"
    )
