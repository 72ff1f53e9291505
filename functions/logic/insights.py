"""The baselines job: each online rig's usual figures, and its GPU model's public ones.

Hourly in AWS: each run rebuilds the baselines of the online rigs in this hour's slice
(a stable hash of the worker id picks one of ``settings.insights_slices``), so every rig's
baseline is about a day old at most and the work is spread across the day. A baseline is
``functions/logic/anomaly.build_baseline`` over the rig's last three days of history; a
rig with too little history (new, or mostly offline) gets none and is not scored yet.

The run of slice 0 also recomputes each GPU model's figures from every online rig's stored
baseline: the peers a rig is compared with (``peer_baselines``: per-GPU work, from at least
``Policy.min_peer_rigs`` rigs) and the public aggregate (median work, work per watt, power
and temperature per GPU).
"""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from functions.dal.insights import InsightsRepository
from functions.dal.tables import Tables
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.logic import baseline_codec
from functions.logic.anomaly import DEFAULT_POLICY, Policy, RigBaseline, build_baseline
from functions.logic.anomaly import peer_baselines as peers_of
from functions.logic.robust import Spread
from functions.logic.work import RigSample, sample_of
from functions.models.insights import GpuModelFigures, StoredBaseline
from functions.models.telemetry import worker_series
from functions.models.workers import Worker
from functions.observability import logger
from functions.settings import Settings

_PAGE = 100
_HOUR = 3600


def slice_of(worker_id: str, slices: int) -> int:
    """The slice a worker's baseline is rebuilt in (stable across runs and processes)."""
    digest = hashlib.sha256(worker_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") % slices


def current_slice(now: int, slices: int) -> int:
    return (now // _HOUR) % slices


@dataclass
class InsightsRun:
    slice: int
    baselines: int = 0
    too_little_history: int = 0
    failures: int = 0
    models: int = 0


class InsightsJob:
    def __init__(
        self, settings: Settings, tables: Tables, *, policy: Policy = DEFAULT_POLICY
    ) -> None:
        self._settings = settings
        self._workers = WorkerRepository(tables)
        self._telemetry = TelemetryRepository(tables)
        self._insights = InsightsRepository(tables)
        self._policy = policy

    def run(self, now: int) -> InsightsRun:
        slices = self._settings.insights_slices
        run = InsightsRun(slice=current_slice(now, slices))
        online: list[str] = []
        for ids in self._online_id_pages():
            online += ids
            # Only this hour's slice is read in full (the liveness index gives the ids).
            due = [i for i in ids if slice_of(i, slices) == run.slice]
            for worker in self._workers.get_many(due) if due else []:
                if worker.revoked:
                    continue
                try:
                    stored = self.rebuild(worker, now)
                except Exception:
                    # One rig's bad history must not stop every other rig's baseline.
                    logger.exception("baseline failed", extra={"worker_id": worker.worker_id})
                    run.failures += 1
                    continue
                if stored is None:
                    run.too_little_history += 1
                else:
                    run.baselines += 1
        if run.slice == 0:
            run.models = self.refresh_models(online, now)
        return run

    def rebuild(self, worker: Worker, now: int) -> StoredBaseline | None:
        """The worker's baseline from its history, stored; None with too little history."""
        baseline = build_baseline(
            self._history(worker.worker_id, now),
            now=now,
            gpu_model=worker.gpu_model,
            policy=self._policy,
        )
        if baseline is None:
            return None
        stored = StoredBaseline(
            worker_id=worker.worker_id,
            owner=worker.owner,
            gpu_model=worker.gpu_model,
            computed_at=now,
            points=baseline.points,
            baseline_json=baseline_codec.encode(baseline),
        )
        self._insights.put_baseline(stored)
        return stored

    def refresh_models(self, worker_ids: list[str], now: int) -> int:
        """Each GPU model's figures from the stored baselines of ``worker_ids``."""
        baselines = list(self._stored_baselines(worker_ids))
        figures = model_figures(baselines, now=now, policy=self._policy)
        for figure in figures:
            self._insights.put_model_figures(figure)
        return len(figures)

    def _history(self, worker_id: str, now: int) -> list[RigSample]:
        samples: list[RigSample] = []
        cursor: str | None = None
        start = now - self._policy.baseline_seconds
        while True:
            page = self._telemetry.history(
                worker_series(worker_id), start, now - 1, limit=_PAGE, cursor=cursor
            )
            samples += [sample_of(p) for p in page.items]
            cursor = page.cursor
            if cursor is None:
                return samples

    def _online_id_pages(self) -> Iterator[list[str]]:
        cursor: str | None = None
        while True:
            page = self._workers.online_ids(limit=_PAGE, cursor=cursor)
            yield page.items
            cursor = page.cursor
            if cursor is None:
                return

    def _stored_baselines(self, worker_ids: list[str]) -> Iterator[RigBaseline]:
        for stored in self._insights.baselines(worker_ids).values():
            baseline = readable(stored)
            if baseline is not None:
                yield baseline


def readable(stored: StoredBaseline) -> RigBaseline | None:
    """The baseline a stored one holds; None (logged) where it cannot be read back."""
    try:
        return baseline_codec.decode(stored.baseline_json)
    except ValueError:
        logger.warning("stored baseline unreadable", extra={"worker_id": stored.worker_id})
        return None


def model_figures(
    baselines: Iterable[RigBaseline], *, now: int, policy: Policy = DEFAULT_POLICY
) -> list[GpuModelFigures]:
    """The public figures of each GPU model run by at least ``policy.min_peer_rigs`` rigs."""
    baselines = list(baselines)
    peers = peers_of(baselines, policy=policy)
    figures: list[GpuModelFigures] = []
    for model, peer in peers.items():
        gpus = [g for b in baselines if b.gpu_model == model for g in b.gpus.values()]
        figures.append(
            GpuModelFigures(
                gpu_model=model,
                rigs=peer.rigs,
                gpus=peer.gpus,
                work_median=peer.work.center,
                work_spread=peer.work.scale,
                efficiency_median=_median(g.efficiency for g in gpus),
                power_median_w=_median(g.power for g in gpus),
                temperature_median_c=_median(g.temperature for g in gpus),
                computed_at=now,
            )
        )
    return figures


def _median(spreads: Iterable[Spread | None]) -> float | None:
    centers = [s.center for s in spreads if s is not None]
    return statistics.median(centers) if centers else None
