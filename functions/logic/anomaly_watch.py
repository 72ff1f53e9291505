"""Anomaly detection on every heartbeat, in ingest's warm process, at no write cost.

Each heartbeat (every 30 s) is scored against the rig's stored baseline and its GPU
model's peers (``functions/logic/anomaly.assess``); the rig's last ``WATCH_POLICY.window``
scores stay in this process's memory (Kinesis sends a rig's records to one shard, so to
one process at a time). A reason persisting in ``persist`` of them, spread over at least
``min_span_seconds``, opens a finding (one write); one absent from a whole window closes
it (one write). A normal rig costs no write at all, and one read of its partition (its
baseline and findings) every ``insights_cache_seconds``.

A process that starts cold (or takes over a shard) has no scores yet: it needs a window of
heartbeats (5 minutes) before it can open a finding, and finds the open ones in the table.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

from functions.dal.insights import InsightsRepository
from functions.dal.workers import WorkerRepository
from functions.errors import AlreadyExists, Conflict
from functions.logic.anomaly import (
    Finding,
    PeerBaseline,
    Policy,
    Reason,
    RigBaseline,
    Signal,
    assess,
    describe,
    persistent,
)
from functions.logic.insights import readable
from functions.logic.robust import Spread
from functions.logic.work import RigSample
from functions.models.insights import AnomalyFinding, GpuModelFigures
from functions.observability import logger

# At a heartbeat every 30 s: 7 of the last 10 (5 minutes), the first and last of them at
# least 4 minutes apart (``bench/anomaly.py --heartbeat-seconds 30`` measures it).
WATCH_POLICY = Policy(window=10, persist=7, min_span_seconds=240)
# Rigs (ours and XenblocksMiner) report the hashrate of about their last minute.
HASHRATE_AVERAGE_SECONDS = 60
# A rig without a baseline (new, or too little history) is looked up again this often.
_MISSING_REFRESH_SECONDS = 3600
# Rigs whose baseline and last scores a process keeps: an 8-GPU rig's baseline takes about
# 11 KB, so at most ~250 MB of the batch function's 512 (a shard carries up to ~30,000 rigs
# at a heartbeat every 30 s; past this bound, forgetting costs a read and a window).
_REMEMBERED_RIGS = 20_000

Key = tuple[Reason, int | None]


@dataclass
class StepGuard:
    """A rig reports its hashrate averaged over about the last minute, and the difficulty
    it mines at now: for a minute after the difficulty moves, that hashrate mixes two
    difficulties and is work at neither (after an abrupt 43% fall it reads as 43% less
    work). Such a heartbeat's work is unknown: it is judged on its other figures only."""

    settle_seconds: int = HASHRATE_AVERAGE_SECONDS + 30
    difficulty: int | None = None
    changed_at: int | None = None

    def apply(self, sample: RigSample) -> RigSample:
        if sample.difficulty is not None and sample.difficulty != self.difficulty:
            if self.difficulty is not None:
                self.changed_at = sample.ts
            self.difficulty = sample.difficulty
        if self.changed_at is not None and sample.ts - self.changed_at < self.settle_seconds:
            return replace(sample, difficulty=None)
        return sample


@dataclass
class _Rig:
    loaded_at: int
    owner: str | None = None
    baseline: RigBaseline | None = None
    open: dict[Key, AnomalyFinding] = field(default_factory=dict)
    scores: deque[tuple[int, list[Signal]]] = field(default_factory=deque)
    guard: StepGuard = field(default_factory=StepGuard)


@dataclass(frozen=True)
class WatchResult:
    opened: tuple[AnomalyFinding, ...] = ()
    closed: tuple[AnomalyFinding, ...] = ()


def peers_from(figures: GpuModelFigures) -> PeerBaseline:
    return PeerBaseline(
        figures.gpu_model,
        Spread(figures.work_median, figures.work_spread),
        figures.rigs,
        figures.gpus,
    )


class AnomalyWatch:
    def __init__(
        self,
        insights: InsightsRepository,
        workers: WorkerRepository,
        *,
        cache_seconds: int,
        policy: Policy = WATCH_POLICY,
    ) -> None:
        self._insights = insights
        self._workers = workers
        self._cache_seconds = cache_seconds
        self._policy = policy
        self._rigs: dict[str, _Rig] = {}
        self._peers: dict[str, PeerBaseline] = {}
        self._peers_at: int | None = None

    def scores(self, worker_id: str, now: int) -> bool:
        """Whether the rig has a baseline to be scored against (the heartbeat is turned
        into a sample only then)."""
        rig = self._rig(worker_id, now)
        return rig.baseline is not None and rig.owner is not None

    def observe(self, worker_id: str, sample: RigSample, now: int) -> WatchResult:
        """Score one heartbeat; open and close the rig's findings it settles."""
        rig = self._rig(worker_id, now)
        if rig.baseline is None or rig.owner is None:
            return WatchResult()
        peers = self._peers_of(rig.baseline.gpu_model, now)
        sample = rig.guard.apply(sample)
        signals = assess(sample, rig.baseline, peers=peers, policy=self._policy)
        rig.scores.append((sample.ts, signals))
        while len(rig.scores) > self._policy.window:
            rig.scores.popleft()
        current = {(f.reason, f.gpu): f for f in persistent(list(rig.scores), policy=self._policy)}
        opened = [
            self._open(worker_id, rig, finding, now)
            for key, finding in current.items()
            if key not in rig.open
        ]
        seen = {s.key for _, signals in rig.scores for s in signals}
        closed = [
            self._close(rig, key, now)
            for key in list(rig.open)
            if key not in seen and len(rig.scores) >= self._policy.window
        ]
        return WatchResult(
            tuple(f for f in opened if f is not None), tuple(f for f in closed if f is not None)
        )

    def _open(self, worker_id: str, rig: _Rig, finding: Finding, now: int) -> AnomalyFinding | None:
        assert rig.owner is not None
        key = (finding.reason, finding.gpu)
        opened_at = min(ts for ts, signals in rig.scores if any(s.key == key for s in signals))
        stored = AnomalyFinding(
            worker_id=worker_id,
            owner=rig.owner,
            reason=finding.reason.value,
            gpu=finding.gpu,
            basis=finding.basis,
            opened_at=opened_at,
            last_seen=finding.ts,
            score=finding.score,
            message=describe(finding),
            evidence=finding.evidence,
        )
        try:
            self._insights.open_finding(stored)
            # Counted on the worker, so the alerts job reads findings of rigs with some.
            self._workers.count_anomalies(worker_id, +1)
        except AlreadyExists:
            pass  # another process stored this very opening (and counted it)
        logger.info(
            "anomaly found",
            extra={
                "worker_id": worker_id,
                "reason": stored.reason,
                "gpu": stored.gpu,
                "score": stored.score,
                "basis": stored.basis,
            },
        )
        rig.open[key] = stored
        return stored

    def _close(self, rig: _Rig, key: Key, now: int) -> AnomalyFinding | None:
        finding = rig.open.pop(key)
        try:
            closed = self._insights.close_finding(finding, now=now)
        except Conflict:
            return None  # another process closed it (and counted it out)
        self._workers.count_anomalies(finding.worker_id, -1)
        logger.info(
            "anomaly over",
            extra={"worker_id": finding.worker_id, "reason": finding.reason, "gpu": finding.gpu},
        )
        return closed

    def _rig(self, worker_id: str, now: int) -> _Rig:
        rig = self._rigs.get(worker_id)
        if rig is not None:
            age = now - rig.loaded_at
            limit = self._cache_seconds if rig.baseline else _MISSING_REFRESH_SECONDS
            if age < min(limit, self._cache_seconds):
                return rig
        if len(self._rigs) >= _REMEMBERED_RIGS and worker_id not in self._rigs:
            self._rigs.clear()  # a bounded memory: forgetting costs a read and a window
        stored = self._insights.rig(worker_id)
        baseline = readable(stored.baseline) if stored.baseline is not None else None
        fresh = _Rig(
            loaded_at=now,
            owner=stored.baseline.owner if stored.baseline else None,
            baseline=baseline,
            open={_key(f): f for f in stored.open_findings},
            scores=rig.scores if rig is not None else deque(),
            guard=rig.guard if rig is not None else StepGuard(),
        )
        self._rigs[worker_id] = fresh
        return fresh

    def _peers_of(self, model: str | None, now: int) -> PeerBaseline | None:
        if self._peers_at is None or now - self._peers_at >= self._cache_seconds:
            self._peers = {m: peers_from(f) for m, f in self._insights.model_figures().items()}
            self._peers_at = now
        return None if model is None else self._peers.get(model)


def _key(finding: AnomalyFinding) -> Key:
    return Reason(finding.reason), finding.gpu
