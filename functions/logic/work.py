"""Work-normalised telemetry: hashrate as work (H/s × difficulty), and work per watt.

Argon2id's time per hash grows with its memory cost, and the memory cost is the network's
difficulty (KiB): a GPU hashing 2,000 H/s at difficulty 40,000 does the same work as one
hashing 1,000 H/s at 80,000. So hashrates are compared as **work** = H/s × difficulty, in
KiB of Argon2id memory filled per second (KiB/s), and a GPU's **efficiency** is its work per
watt (KiB/J) where it reports ``power_w``. A network difficulty change moves a rig's H/s,
never its work.

Each history point records the difficulty its rig was mining at (``difficulty``, from the
heartbeat). Points written before that, or by a rig that did not know the difficulty yet
(its heartbeat says 0), have none: their work is unknown (None), never guessed.

A point's values are flat names (``functions/logic/ingest.py`` writes them): ``hashrate``,
``active_gpus``, ``accepted_blocks``, ``difficulty`` and ``gpu<i>.<figure>`` for each GPU's
``hashrate``, ``temperature_c``, ``fan_pct`` and ``power_w``. ``sample_of`` reads them back
as a typed sample; ``derived_values`` adds the derived figures under names of the same kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from functions.models.telemetry import TelemetryPoint

DIFFICULTY = "difficulty"
WORK = "work"
EFFICIENCY = "efficiency"
_GPU_FIGURES = ("hashrate", "temperature_c", "fan_pct", "power_w")


def work(hashrate: float, difficulty: int | float | None) -> float | None:
    """H/s × difficulty (KiB/s); None when the difficulty is unknown (absent or 0)."""
    if difficulty is None or difficulty <= 0:
        return None
    return hashrate * difficulty


def hashrate_at(hashrate: float, measured_at: int | None, difficulty: int) -> float:
    """The H/s a rig measured at difficulty ``measured_at`` does at ``difficulty``: the same
    work. Unchanged when ``measured_at`` is unknown (None or 0) or ``difficulty`` is not
    positive."""
    if measured_at is None or measured_at <= 0 or difficulty <= 0:
        return hashrate
    return hashrate * measured_at / difficulty


def efficiency(work_kib_s: float | None, power_w: float | None) -> float | None:
    """Work per watt (KiB/J); None without work or a positive power reading."""
    if work_kib_s is None or power_w is None or power_w <= 0:
        return None
    return work_kib_s / power_w


@dataclass(frozen=True, slots=True)
class GpuSample:
    index: int
    hashrate: float | None = None
    temperature_c: float | None = None
    fan_pct: float | None = None
    power_w: float | None = None


@dataclass(frozen=True, slots=True)
class RigSample:
    """One history point of a rig, typed."""

    ts: int
    hashrate: float
    active_gpus: int | None = None
    difficulty: int | None = None  # None: unknown (an old point, or a rig that knew none)
    gpus: tuple[GpuSample, ...] = ()

    @property
    def work(self) -> float | None:
        return work(self.hashrate, self.difficulty)

    def gpu_work(self, gpu: GpuSample) -> float | None:
        return None if gpu.hashrate is None else work(gpu.hashrate, self.difficulty)

    def gpu_efficiency(self, gpu: GpuSample) -> float | None:
        return efficiency(self.gpu_work(gpu), gpu.power_w)


def sample_of(point: TelemetryPoint) -> RigSample:
    """A worker series' point as a sample (figures it lacks are None)."""
    return sample_from_values(point.ts, point.values)


def sample_from_values(ts: int, values: Mapping[str, float]) -> RigSample:
    gpus: dict[int, dict[str, float]] = {}
    for name, value in values.items():
        if not name.startswith("gpu"):
            continue
        head, _, figure = name.partition(".")
        index = head[3:]
        if figure in _GPU_FIGURES and index.isdigit():
            gpus.setdefault(int(index), {})[figure] = value
    difficulty = values.get(DIFFICULTY)
    active = values.get("active_gpus")
    return RigSample(
        ts=ts,
        hashrate=values.get("hashrate", 0.0),
        active_gpus=None if active is None else int(active),
        difficulty=int(difficulty) if difficulty is not None and difficulty > 0 else None,
        gpus=tuple(GpuSample(index=i, **gpus[i]) for i in sorted(gpus)),
    )


def derived_values(values: Mapping[str, float]) -> dict[str, float]:
    """The work figures a point's values give: ``work`` and each GPU's ``gpu<i>.work`` when
    the difficulty is known, ``gpu<i>.efficiency`` where its power is known too."""
    sample = sample_from_values(0, values)
    derived: dict[str, float] = {}
    rig_work = sample.work
    if rig_work is None:
        return derived
    derived[WORK] = rig_work
    for gpu in sample.gpus:
        gpu_work = sample.gpu_work(gpu)
        if gpu_work is not None:
            derived[f"gpu{gpu.index}.{WORK}"] = gpu_work
        per_watt = sample.gpu_efficiency(gpu)
        if per_watt is not None:
            derived[f"gpu{gpu.index}.{EFFICIENCY}"] = per_watt
    return derived
