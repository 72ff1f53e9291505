"""What the platform does with each message a rig publishes.

The handler has already parsed the payload (and refused malformed ones); here each message
is checked against what we know and stored. Every call returns an ``Outcome`` whose
``reason`` the handler logs and counts. Everything is safe to run twice: the same message
delivered again changes nothing more (blocks and shares are keyed by hash, the rest are
upserts), so a failed invocation can simply be retried.
"""

from __future__ import annotations

from dataclasses import dataclass

from functions.dal.blocks import BlockRepository
from functions.dal.leases import LeaseRepository
from functions.dal.network import NetworkRepository
from functions.dal.shares import ShareRepository
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.errors import Conflict, DuplicateEntry, LeaseNotActive, NotFound
from functions.logic.anomaly_watch import AnomalyWatch
from functions.logic.heartbeat_schedule import schedule_for
from functions.logic.network import DifficultyRule, NetworkView
from functions.logic.proofs import block_counts_as_share, measured_by
from functions.logic.report_counts import ReportTally, counter_for
from functions.logic.report_limits import ReportLimiter
from functions.logic.verification import Clock, verify_block, verify_share
from functions.logic.work import DIFFICULTY, sample_from_values
from functions.models.blocks import Block, NetworkStatus
from functions.models.blocks import Share as ShareRecord
from functions.models.market import Lease
from functions.models.network import Verdict
from functions.models.telemetry import TelemetryPoint, worker_series
from functions.models.workers import MiningSettings, Worker
from functions.observability import logger
from functions.ports.devices import DeviceCommands
from functions.settings import Settings
from protocol.messages import (
    AssignTask,
    BlockFound,
    Heartbeat,
    NetworkVerdict,
    Register,
    RegisterAck,
    Share,
    Status,
    UplinkMessage,
    WorkerState,
)
from protocol.shares import SharePattern

SHARE_RETENTION_SECONDS = 90 * 86_400
_DAY = 86_400

# The protocol's state machine: which states a rig may report after which.
_ANY = frozenset(WorkerState)
ALLOWED_FROM: dict[WorkerState, frozenset[WorkerState]] = {
    WorkerState.IDLE: _ANY,
    WorkerState.AVAILABLE: frozenset(
        {
            WorkerState.IDLE,
            WorkerState.AVAILABLE,
            WorkerState.MINING,  # self-mining rigs report MINING, then AVAILABLE when paused
            WorkerState.COMPLETED,
            WorkerState.ERROR,
            WorkerState.OFFLINE,
        }
    ),
    WorkerState.LEASED: frozenset(
        {WorkerState.IDLE, WorkerState.AVAILABLE, WorkerState.LEASED, WorkerState.OFFLINE}
    ),
    WorkerState.MINING: frozenset(
        {
            WorkerState.IDLE,
            WorkerState.AVAILABLE,
            WorkerState.LEASED,
            WorkerState.MINING,
            WorkerState.OFFLINE,
        }
    ),
    WorkerState.COMPLETED: frozenset(
        {WorkerState.LEASED, WorkerState.MINING, WorkerState.COMPLETED}
    ),
    WorkerState.ERROR: _ANY,
    WorkerState.OFFLINE: _ANY,
}
_LEASE_STATES = frozenset({WorkerState.LEASED, WorkerState.MINING, WorkerState.COMPLETED})

# The reports that cost the platform work, limited per rig (``ReportLimiter``).
_LIMITED_KINDS: dict[type[UplinkMessage], str] = {
    Register: "register",
    BlockFound: "block",
    Share: "share",
    NetworkVerdict: "verdict",
}
# A verdict follows each block a rig submits to the node: it draws on the block budget.
_BUCKET_OF = {"verdict": "block"}

# Workers whose last summary write a process remembers (about 100 bytes each).
_REMEMBERED_WORKERS = 200_000


@dataclass(frozen=True)
class Outcome:
    accepted: bool
    reason: str  # "ok", "verified", "duplicate", "unknown_worker", "hash_mismatch", …
    kind: str = ""  # the message kind, for logs and metric dimensions


class IngestService:
    def __init__(
        self,
        *,
        settings: Settings,
        workers: WorkerRepository,
        leases: LeaseRepository,
        blocks: BlockRepository,
        shares: ShareRepository,
        telemetry: TelemetryRepository,
        commands: DeviceCommands,
        network: NetworkRepository,
        limiter: ReportLimiter | None = None,
        view: NetworkView | None = None,
        watch: AnomalyWatch | None = None,
    ) -> None:
        self._settings = settings
        self._workers = workers
        self._leases = leases
        self._blocks = blocks
        self._shares = shares
        self._telemetry = telemetry
        self._commands = commands
        self._network = network
        # The network's difficulty and its recent changes, re-read at most every
        # ``network_cache_seconds`` by this warm process.
        self.network = view or NetworkView(settings, network)
        self.limiter = limiter or ReportLimiter()
        self.schedule = schedule_for(settings)
        # When this process last wrote each worker's summary (a warm Lambda keeps it; the
        # heartbeat stream sends a worker's records to the same shard, so the same one).
        self._written: dict[str, int] = {}
        # Scores every heartbeat against the rig's baseline (functions/logic/anomaly_watch.py).
        self.watch = watch
        # Each rig's accepted and refused reports, written every 15 minutes at most.
        self.tally = ReportTally(workers)

    def accept(self, worker_id: str, message: UplinkMessage, received_at: int) -> Outcome:
        """Handle one parsed message from ``worker_id`` (the topic's, never the payload's)."""
        outcome = self._accept(worker_id, message, received_at)
        counter = counter_for(outcome.kind, outcome.accepted, outcome.reason)
        if counter is not None:
            self.tally.count(worker_id, counter, received_at)
        return outcome

    def _accept(self, worker_id: str, message: UplinkMessage, received_at: int) -> Outcome:
        kind = _LIMITED_KINDS.get(type(message))
        if kind is not None:
            bucket = _BUCKET_OF.get(kind, kind)
            if not self.limiter.allow(worker_id, bucket, received_at):
                return Outcome(False, "rate_limited", kind)
        match message:
            case Register():
                return self.register(worker_id, message, received_at)
            case Heartbeat():
                return self.heartbeat(worker_id, message, received_at)
            case Status():
                return self.status(worker_id, message, received_at)
            case BlockFound():
                return self.block(worker_id, message, received_at)
            case Share():
                return self.share(worker_id, message, received_at)
            case NetworkVerdict():
                return self.verdict(worker_id, message, received_at)

    # -- register -------------------------------------------------------------------

    def register(self, worker_id: str, message: Register, now: int) -> Outcome:
        worker = self._workers.get(worker_id)
        if worker is None or worker.revoked:
            return Outcome(False, "unknown_worker", "register")
        if message.eth_address != worker.owner:
            reason = f"eth_address must be the enrolling provider's address {worker.owner}"
            self._commands.task(worker_id, RegisterAck(accepted=False, reason=reason))
            return Outcome(False, "wrong_owner", "register")
        lease = self._leases.active_for_worker(worker_id)
        if lease is not None and not lease.is_running(now):
            lease = None  # stopped or ended, waiting for settlement: nothing left to mine
        # Back after a time offline: how long it was down (for the back_online alert).
        down = now - worker.last_seen if not worker.online and worker.last_seen else None
        self._workers.record_registration(
            worker_id,
            version=message.version,
            gpus=list(message.gpus),
            total_memory_gb=message.total_memory_gb,
            state=WorkerState.LEASED if lease else WorkerState.AVAILABLE,
            now=now,
            share_mode=message.share_mode,
            down_seconds=None if down is None else max(0, down),
        )
        self.remember_write(worker_id, now)
        difficulty = self.network.difficulty()  # what the network publishes now
        ack = RegisterAck(
            accepted=True, difficulty=difficulty, measured_by=measured_by(message.share_mode)
        )
        self._commands.task(worker_id, ack)
        if lease is not None:
            # A rig that restarts mid-lease picks its lease up again.
            self._commands.task(worker_id, assign_task_for(lease, difficulty, now))
        return Outcome(True, "ok", "register")

    # -- heartbeat ------------------------------------------------------------------

    def summary_due(self, worker_id: str, now: int) -> bool:
        """Whether this heartbeat's summary is written: the first of its slot (decided from
        the time alone, which spreads a fleet's writes), or a catch-up when this process
        wrote the worker more than a slot and a heartbeat ago (a drifting rig missed its
        slot's first ``heartbeat_seconds``), or when it has no record of the worker (a cold
        start): so a speaking rig is never silent in DynamoDB for longer than the
        schedule's ``silence_allowance`` allows for."""
        schedule = self.schedule
        if schedule.writes_summary(worker_id, now):
            return True
        last = self._written.get(worker_id)
        return last is None or now - last >= schedule.summary_seconds + schedule.heartbeat_seconds

    def remember_write(self, worker_id: str, now: int) -> None:
        if len(self._written) >= _REMEMBERED_WORKERS and worker_id not in self._written:
            self._written.clear()  # a bounded memory: forgetting costs one write per worker
        self._written[worker_id] = now

    def heartbeat(self, worker_id: str, message: Heartbeat, now: int) -> Outcome:
        if self.watch is not None:
            self._watch(worker_id, message, now)
        history = self.schedule.writes_history(worker_id, now)
        # A history point is only written for a worker proven enrolled, by a summary write
        # now or earlier in this process (one this process never wrote is always due).
        summary = self.summary_due(worker_id, now)
        if not summary and not history:
            return Outcome(True, "sampled_out", "heartbeat")
        if summary:
            try:
                self._record(worker_id, message, now)
            except NotFound:
                return Outcome(False, "unknown_worker", "heartbeat")
        if history:
            self._telemetry.put(self._history_point(worker_id, message, now))
        return Outcome(True, "ok", "heartbeat")

    def _record(self, worker_id: str, message: Heartbeat, now: int) -> None:
        self._workers.record_heartbeat(
            worker_id,
            hashrate=message.hashrate,
            active_gpus=message.active_gpus,
            accepted_blocks=message.accepted_blocks,
            difficulty=message.difficulty,
            uptime_sec=message.uptime_sec,
            telemetry=list(message.gpus) if message.gpus is not None else None,
            now=now,
            mining=_mining_settings(message),
        )
        self.remember_write(worker_id, now)

    def _watch(self, worker_id: str, message: Heartbeat, now: int) -> None:
        assert self.watch is not None
        try:
            if self.watch.scores(worker_id, now):
                sample = sample_from_values(now, history_values(message))
                self.watch.observe(worker_id, sample, now)
        except Exception:
            # Detection is a monitor's extra: its failure never costs the heartbeat.
            logger.exception("anomaly watch failed", extra={"worker_id": worker_id})

    def _history_point(self, worker_id: str, message: Heartbeat, now: int) -> TelemetryPoint:
        retention = self._settings.telemetry_retention_days * _DAY
        return TelemetryPoint(
            series=worker_series(worker_id),
            ts=self.schedule.history_ts(worker_id, now),
            values=history_values(message),
            expires_at=now + retention,
        )

    # -- status ---------------------------------------------------------------------

    def status(self, worker_id: str, message: Status, now: int) -> Outcome:
        state = message.state
        if state is WorkerState.OFFLINE:
            # The MQTT last will: the broker lost the rig.
            marked = self._workers.mark_offline(worker_id, silent_since=now + 1, now=now)
            return Outcome(True, "ok" if marked else "already_offline", "status")
        if state in _LEASE_STATES and message.lease_id:
            lease = self._leases.get(message.lease_id)
            if lease is None or lease.worker_id != worker_id:
                return Outcome(False, "unknown_lease", "status")
        try:
            self._workers.set_state(worker_id, state, now=now, allowed_from=ALLOWED_FROM[state])
        except NotFound:
            return Outcome(False, "unknown_worker", "status")
        except Conflict:
            return Outcome(False, "illegal_transition", "status")
        return Outcome(True, "ok", "status")

    # -- block ----------------------------------------------------------------------

    def block(self, worker_id: str, message: BlockFound, now: int) -> Outcome:
        found = self._worker_and_lease(worker_id, message.lease_id)
        if found is None:
            return Outcome(False, "unknown_worker", "block")
        worker, lease = found
        if _suspended(worker, now):
            return Outcome(False, "suspended", "block")
        network = self._difficulty_rule(message.difficulty, message.timestamp)
        verdict = verify_block(
            message,
            worker=worker,
            lease=lease,
            rules=self._settings.rules,
            clock=self._clock(now),
            network=network,
        )
        block = Block(
            hash=message.hash,
            worker_id=worker_id,
            owner=worker.owner,
            lease_id=lease.lease_id if lease is not None else None,
            account=verdict.account,
            key=message.key,
            difficulty=verdict.difficulty,
            attempts=message.attempts,
            reported_hashrate=message.hashrate_value,
            kind=verdict.kind,
            verified=verdict.verified,
            reason=verdict.reason,
            found_at=message.timestamp,
            recorded_at=now,
        )
        if not self._blocks.record(block):
            return Outcome(False, "duplicate", "block")
        if not verdict.verified:
            self._strike(worker_id, verdict.reason, now)
        elif lease is not None and lease.is_active and block_counts_as_share(lease, block.hash):
            # A rig without shares is measured by its blocks (logic/proofs.py).
            work = SharePattern.parse(lease.share_pattern).expected_hashes()
            self._record_share(lease, worker_id, message, verdict.difficulty, work, now)
        return Outcome(verdict.verified, verdict.reason, "block")

    # -- share ----------------------------------------------------------------------

    def share(self, worker_id: str, message: Share, now: int) -> Outcome:
        found = self._worker_and_lease(worker_id, message.lease_id)
        if found is None:
            return Outcome(False, "unknown_worker", "share")
        worker, lease = found
        if _suspended(worker, now):
            return Outcome(False, "suspended", "share")
        verdict = verify_share(
            message,
            worker=worker,
            lease=lease,
            rules=self._settings.rules,
            clock=self._clock(now),
            network=self._difficulty_rule(message.difficulty, message.timestamp),
        )
        if not verdict.verified:
            self._strike(worker_id, verdict.reason, now)
            return Outcome(False, verdict.reason, "share")
        assert lease is not None
        refused = self._record_share(
            lease, worker_id, message, message.difficulty, verdict.work, now
        )
        return Outcome(False, refused, "share") if refused else Outcome(True, "verified", "share")

    def _record_share(
        self,
        lease: Lease,
        worker_id: str,
        proof: Share | BlockFound,
        difficulty: int,
        work: float,
        now: int,
    ) -> str | None:
        """Count a verified proof on its lease; the reason when it cannot count."""
        record = ShareRecord(
            hash=proof.hash,
            lease_id=lease.lease_id,
            worker_id=worker_id,
            key=proof.key,
            difficulty=difficulty,
            work=work,
            found_at=proof.timestamp,
            recorded_at=now,
            expires_at=now + SHARE_RETENTION_SECONDS,
        )
        try:
            self._shares.record(record)
        except DuplicateEntry:
            return "duplicate"
        except LeaseNotActive:
            return "lease_not_active"
        return None

    # -- verdict --------------------------------------------------------------------

    def verdict(self, worker_id: str, message: NetworkVerdict, now: int) -> Outcome:
        """The node's answer to a block the rig submitted, recorded for that block.

        Only for a block this worker reported and we verified (the report that claimed the
        hash): a verdict for a hash nobody claimed (never reported, reported after its
        verdict, or refused by us) or for another worker's block is refused with a reason.
        A final answer (accepted, duplicate, refused) is kept; ``unreachable`` gives way
        to a later answer. A block the node accepted but we refused is worth a look: its
        verdict is refused as ``unknown_block`` and logged.
        """
        block = self._blocks.get(message.hash)
        if block is None:
            logger.warning(
                "network verdict for a block we hold no verified report of",
                extra={"worker_id": worker_id, "hash": message.hash, "status": message.status},
            )
            return Outcome(False, "unknown_block", "verdict")
        if block.worker_id != worker_id:
            return Outcome(False, "not_your_block", "verdict")
        if (message.lease_id or None) != block.lease_id:
            return Outcome(False, "wrong_lease", "verdict")
        status = NetworkStatus(message.status.value)
        record = Verdict(
            hash=block.hash,
            worker_id=worker_id,
            lease_id=block.lease_id,
            status=status,
            reason=message.message[:300] if message.message else None,
            http_status=message.http_status,
            difficulty=message.difficulty,
            network_difficulty=message.network_difficulty,
            source="rig",
            at=now,
        )
        if not self._network.record_verdict(record):
            return Outcome(False, "already_confirmed", "verdict")
        if status is NetworkStatus.REFUSED:
            logger.warning(
                "the network refused a block we verified",
                extra={"worker_id": worker_id, "hash": block.hash, "reason": record.reason},
            )
        return Outcome(True, status.value, "verdict")

    # -- helpers --------------------------------------------------------------------

    def _worker_and_lease(
        self, worker_id: str, lease_id: str
    ) -> tuple[Worker, Lease | None] | None:
        """The enrolled, unrevoked worker and the lease a report names; None if unknown."""
        worker = self._workers.get(worker_id)
        if worker is None or worker.revoked:
            return None
        return worker, self._leases.get(lease_id) if lease_id else None

    def _strike(self, worker_id: str, reason: str, now: int) -> None:
        """A forger's refusal counts; enough of them suspend the rig's reports everywhere."""
        if self.limiter.strike(worker_id, reason, now):
            until = now + self.limiter.policy.suspend_seconds
            self._workers.suspend_reports(worker_id, until=until)
            logger.warning(
                "reports suspended",
                extra={"worker_id": worker_id, "reason": reason, "until": until},
            )

    def _difficulty_rule(self, memory_cost: int | None, found_at: int) -> DifficultyRule:
        """The network's recent difficulty as this process knows it; read afresh when a
        cost below it may only mean the cache missed a drop (a refusal is then final)."""
        rule = self.network.rule()
        if memory_cost is not None and memory_cost < rule.required(found_at):
            age = self.network.age()
            if age is not None and age >= 1:
                rule = self.network.rule(fresh=True)
        return rule

    def _clock(self, now: int) -> Clock:
        max_age, skew = self._settings.block_max_age_seconds, self._settings.clock_skew_seconds
        return Clock(received_at=now, max_age=max_age, skew=skew)


def _mining_settings(message: Heartbeat) -> MiningSettings | None:
    """The XenblocksMiner extras of a heartbeat, when it has any."""
    if message.address is None and message.prefix is None and message.block_pattern is None:
        return None
    return MiningSettings(
        address=message.address, prefix=message.prefix, block_pattern=message.block_pattern
    )


def _suspended(worker: Worker, now: int) -> bool:
    until = worker.reports_suspended_until
    return until is not None and now < until


def assign_task_for(lease: Lease, difficulty: int, now: int) -> AssignTask:
    """The ``assign_task`` that sends a rig to work for ``lease`` for the time it has left."""
    return AssignTask(
        lease_id=lease.lease_id,
        consumer_id=lease.renter,
        consumer_address=lease.renter,
        prefix=lease.prefix,
        duration_sec=max(lease.ends_at - now, 1),
        difficulty=difficulty,
        share_pattern=str(SharePattern.parse(lease.share_pattern)),
    )


def history_values(message: Heartbeat) -> dict[str, float]:
    """A heartbeat's figures under a history point's names (``functions/logic/work.py``)."""
    values: dict[str, float] = {
        "hashrate": message.hashrate,
        "active_gpus": float(message.active_gpus),
        "accepted_blocks": float(message.accepted_blocks),
    }
    if message.difficulty > 0:  # 0: the rig does not know it yet (logic/work.py)
        values[DIFFICULTY] = float(message.difficulty)
    for gpu in message.gpus or ():
        figures = {
            "hashrate": gpu.hashrate,
            "temperature_c": gpu.temperature_c,
            "fan_pct": gpu.fan_pct,
            "power_w": gpu.power_w,
        }
        for name, value in figures.items():
            if value is not None:
                values[f"gpu{gpu.index}.{name}"] = value
    return values
