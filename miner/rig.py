"""The rig: the protocol state machine around the mining engine and the MQTT connection.

States follow the v2 protocol: IDLE until the platform accepts the registration,
AVAILABLE (self-mining for the owner, when enabled), LEASED when an ``assign_task``
arrives and MINING once the devices hash for the renter, COMPLETED when the lease ends
(its time is up, or a ``release``), then AVAILABLE again; ERROR when a device fails or
the platform refuses the rig. Every find goes into the on-disk outbox first and is
removed only once the broker acknowledged it (and, for blocks, once the XenBlocks network
answered), so neither an outage nor a crash loses a block.

The rig follows the network. It reads the node's difficulty at least once a minute
(``network_poll_seconds``, at most 60), during leases too, and mines at it; the platform's
difficulty (``register_ack``, ``assign_task``, ``set_config``) is only the fallback while the
node cannot be reached, or when the rig talks to no network at all (``--no-submit``). A
401 naming the memory cost the node wants (``'m=37000'``) re-reads it at once.

XUNI finds (a hash with ``XUNI[0-9]``, judged first as the node does) are submitted ahead
of queued blocks and dropped, counted and logged, once their window has closed on the
rig's clock: the node refuses a late XUNI. The node's answer to every submitted block goes
to the platform as a ``verdict`` through the same outbox, after the block's own report:
accepted, duplicate ("Block already exists", counted as accepted), refused, or unreachable
(sent once, when a submission first gives up after transient failures; the block stays
in the outbox and its final answer follows as another verdict).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from miner.engine import EngineFactory
from miner.network import SubmitResult
from miner.outbox import Entry, Outbox, OutboxFull
from miner.search import Find, FindKind, Job
from protocol.codec import encode, parse_control, parse_task
from protocol.downlink import AssignTask, Control, RegisterAck, Release
from protocol.errors import ProtocolError
from protocol.shares import SharePattern
from protocol.topics import Downlink, Uplink, topic
from protocol.uplink import (
    BlockFound,
    GpuInfo,
    GpuTelemetry,
    Heartbeat,
    NetworkStatus,
    NetworkVerdict,
    Register,
    Share,
    ShareMode,
    Status,
    WorkerState,
)
from protocol.xenblocks import BlockKind, BlockRules, b64_nopad

log = logging.getLogger(__name__)

PLATFORM = "platform"
NETWORK = "network"
NETWORK_XUNI = "network-xuni"  # XUNI submissions: ahead of NETWORK, dropped when late
MINER_VERSION = "xenblocks-miner/0.1.0"
DEFAULT_NETWORK_POLL_SECONDS = 60
MAX_NETWORK_POLL_SECONDS = 60  # the network's difficulty moves often: never poll less
# The keyword arguments of ``Network.submit_block``; a network entry's other fields
# (lease id, hash, XUNI deadline) are for the verdict and the rig.
_SUBMIT_FIELDS = (
    "hash_raw",
    "salt",
    "difficulty",
    "key",
    "account",
    "attempts",
    "hashes_per_second",
    "worker",
)
_MESSAGE_LENGTH = 512  # protocol LongText


class Connection(Protocol):
    """What the rig needs of its MQTT connection (``miner.client.PlatformClient``)."""

    state: str

    @property
    def connected(self) -> bool: ...

    def publish(self, topic_name: str, payload: bytes, *, qos: int = 1) -> Any: ...

    def deliver(self, topic_name: str, payload: bytes, *, timeout: float = 10.0) -> bool: ...


class Network(Protocol):
    """What the rig needs of the XenBlocks node (``miner.network.XenBlocksNetwork``).

    Both calls raise (``NetworkError``) when the node cannot be reached after their own
    retries.
    """

    def difficulty(self) -> int: ...

    def submit_block(
        self,
        *,
        hash_raw: bytes,
        salt: bytes,
        difficulty: int,
        key: str,
        account: str,
        attempts: int,
        hashes_per_second: float,
        worker: str,
    ) -> SubmitResult: ...


class Telemetry(Protocol):
    def gpus(self) -> list[GpuInfo]: ...

    def sample(self, hashrates: dict[int, float]) -> list[GpuTelemetry]: ...


@dataclass(frozen=True)
class RigSettings:
    worker_id: str
    owner: str  # self-mining address and the address the rig registers with
    publish_topics: dict[str, str] = field(default_factory=dict)  # uplink -> topic
    rules: BlockRules = field(default_factory=BlockRules)  # difficulty: the starting one
    heartbeat_seconds: int = 30
    self_mine: bool = True
    submit_to_network: bool = True
    network_poll_seconds: int = DEFAULT_NETWORK_POLL_SECONDS
    total_memory_gb: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.network_poll_seconds <= MAX_NETWORK_POLL_SECONDS:
            raise ValueError(
                f"network_poll_seconds must be 1..{MAX_NETWORK_POLL_SECONDS}: the network's "
                "difficulty moves often"
            )

    def topic_for(self, uplink: Uplink) -> str:
        return self.publish_topics.get(uplink.value) or topic(self.worker_id, uplink)


@dataclass
class Lease:
    lease_id: str
    address: str
    prefix: str
    share_pattern: SharePattern | None
    ends_at: float


@dataclass
class RigCounters:
    blocks: int = 0  # found (XUNI included)
    blocks_acknowledged: int = 0  # reports the platform's broker took
    shares: int = 0
    leases_completed: int = 0
    # The node's answers to submitted blocks:
    accepted: int = 0  # saved, duplicates included
    duplicates: int = 0  # "Block already exists": saved by an earlier attempt
    refused: int = 0  # 401 (or another final 4xx)
    unreachable: int = 0  # submissions that gave up after transient failures (retried)
    xuni_dropped: int = 0  # XUNI whose window closed before the node took them


class Rig:
    """Wires the engine, the connection, the outbox and the network together."""

    def __init__(
        self,
        settings: RigSettings,
        *,
        engine_factory: EngineFactory,
        outbox: Outbox,
        telemetry: Telemetry,
        network: Network | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.telemetry = telemetry
        self.network = network if settings.submit_to_network else None
        self.clock = clock
        self.engine = engine_factory(self._found, self._device_failed)
        self.connection: Connection | None = None
        self.state = WorkerState.IDLE
        # The difficulty mined at: the network's while it answers, else the platform's,
        # else the last network value, else the configured starting one.
        self.difficulty = settings.rules.difficulty
        self.difficulty_source = "configured"
        self.platform_difficulty: int | None = None
        self.network_difficulty: int | None = None
        self.network_reachable = False  # whether the last difficulty read succeeded
        self.heartbeat_seconds = settings.heartbeat_seconds
        self.lease: Lease | None = None
        self.paused = False
        self.counters = RigCounters()
        self.fatal: str | None = None  # set when the rig must stop (refused registration)
        self.started_at = clock()
        self.stop_requested = threading.Event()
        self._lock = threading.RLock()
        self._wake_courier = threading.Event()
        self._next_heartbeat = 0.0
        self._next_network_poll = 0.0
        self._poll_wanted = threading.Event()
        self._courier: threading.Thread | None = None
        self._poller: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, connection: Connection) -> None:
        self.connection = connection
        self.engine.start()
        self._post_job()
        self._courier = threading.Thread(target=self._deliver_forever, name="courier", daemon=True)
        self._courier.start()
        if self.network is not None:
            # Reads of the difficulty may wait out the node's retries: never on the tick.
            self._poller = threading.Thread(
                target=self._poll_forever, name="difficulty", daemon=True
            )
            self._poller.start()

    def stop(self) -> None:
        self.stop_requested.set()
        self._wake_courier.set()
        self._poll_wanted.set()
        self.engine.stop()  # finishes the batches in flight: their finds reach the outbox
        if self._courier is not None:
            self._courier.join(timeout=15)
        self._deliver_platform(limit=1000)  # one last try before disconnecting

    def tick(self) -> None:
        """Called about once a second: lease watchdog, heartbeats, difficulty polls."""
        now = self.clock()
        with self._lock:
            if self.lease is not None and now >= self.lease.ends_at:
                log.info("lease %s ran its time", self.lease.lease_id)
                self._finish_lease("lease time is up")
        if now >= self._next_heartbeat:
            # A fixed cadence (not "30 s after the last one", which drifts by the tick's
            # lag every time): the platform writes a rig's first heartbeat of each slot.
            following = self._next_heartbeat + self.heartbeat_seconds
            self._next_heartbeat = following if following > now else now + self.heartbeat_seconds
            self._send_heartbeat(now)
        if self.network is not None and now >= self._next_network_poll:
            self._next_network_poll = now + self.settings.network_poll_seconds
            self._request_network_poll()

    # -- connection events -------------------------------------------------------------

    def on_connect(self) -> None:
        """Runs on every (re)connection: register again, then flush the outbox."""
        if self.connection is None:
            return
        gpus = self.telemetry.gpus()
        register = Register(
            worker_id=self.settings.worker_id,
            eth_address=self.settings.owner,
            gpu_count=len(gpus),
            total_memory_gb=sum(gpu.memory_gb for gpu in gpus) or self.settings.total_memory_gb,
            gpus=gpus,
            version=MINER_VERSION,
            timestamp=int(self.clock()),
            share_mode=ShareMode.PATTERN,  # it finds and sends shares of any pattern
        )
        self.connection.publish(self.settings.topic_for(Uplink.REGISTER), encode(register))
        self._next_heartbeat = 0.0  # a fresh heartbeat right away
        self._wake_courier.set()

    def on_message(self, downlink: Downlink, payload: bytes) -> None:
        try:
            if downlink is Downlink.TASK:
                self._on_task(parse_task(payload))
            else:
                self._on_control(parse_control(payload))
        except ProtocolError as error:
            log.warning("ignoring a malformed %s message: %s", downlink.value, error)

    # -- task commands -----------------------------------------------------------------

    def _on_task(self, message: RegisterAck | AssignTask | Release) -> None:
        if isinstance(message, RegisterAck):
            self._on_register_ack(message)
        elif isinstance(message, AssignTask):
            self._on_assign(message)
        else:
            self._on_release(message)

    def _on_register_ack(self, ack: RegisterAck) -> None:
        with self._lock:
            if not ack.accepted:
                self.fatal = f"the platform refused this rig: {ack.reason}"
                log.error(self.fatal)
                self._set_state(
                    WorkerState.ERROR, detail=ack.reason, correlation_id=ack.correlation_id
                )
                self.stop_requested.set()
                return
            if ack.difficulty is not None:
                self._platform_says(ack.difficulty)
            if self.state in (WorkerState.IDLE, WorkerState.COMPLETED):
                self._set_state(WorkerState.AVAILABLE, correlation_id=ack.correlation_id)
            self._post_job()

    def _on_assign(self, task: AssignTask) -> None:
        with self._lock:
            if self.state is WorkerState.ERROR:
                log.warning("refusing lease %s: the rig is in error", task.lease_id)
                return
            if task.difficulty is not None:
                self._platform_says(task.difficulty)
            pattern = SharePattern.parse(task.share_pattern) if task.share_pattern else None
            renewing = self.lease is not None and self.lease.lease_id == task.lease_id
            self.lease = Lease(
                lease_id=task.lease_id,
                address=task.consumer_address,
                prefix=task.prefix,
                share_pattern=pattern,
                ends_at=self.clock() + task.duration_sec,
            )
            if not renewing:
                log.info("lease %s: mining for %s", task.lease_id, task.consumer_address)
                self._set_state(WorkerState.LEASED, correlation_id=task.correlation_id)
            self._post_job()
            if self.engine.job is not None:
                self._set_state(WorkerState.MINING, correlation_id=task.correlation_id)

    def _on_release(self, release: Release) -> None:
        with self._lock:
            if self.lease is None or release.lease_id != self.lease.lease_id:
                log.info("ignoring a release of lease %r: not ours", release.lease_id)
                return
            log.info("lease %s released by the platform", release.lease_id)
            self._finish_lease("released", correlation_id=release.correlation_id)

    def _finish_lease(self, why: str, *, correlation_id: str | None = None) -> None:
        """``correlation_id``: the release's, when the platform ended the lease."""
        assert self.lease is not None
        lease_id = self.lease.lease_id
        self.lease = None
        self.counters.leases_completed += 1
        self._set_state(
            WorkerState.COMPLETED, lease_id=lease_id, detail=why, correlation_id=correlation_id
        )
        self._set_state(WorkerState.AVAILABLE, correlation_id=correlation_id)
        self._post_job()

    # -- control commands --------------------------------------------------------------

    def _on_control(self, control: Control) -> None:
        with self._lock:
            if control.action == "pause":
                self.paused = True
                log.info("paused by the platform")
            elif control.action == "resume":
                self.paused = False
                log.info("resumed by the platform")
            elif control.action == "shutdown":
                log.info("shutdown requested by the platform")
                self.stop_requested.set()
                return
            elif control.config is not None:
                config = control.config
                if config.difficulty is not None:
                    self._platform_says(config.difficulty)
                if config.heartbeat_sec is not None:
                    self.heartbeat_seconds = config.heartbeat_sec
                    self._next_heartbeat = min(self._next_heartbeat, self.clock() + 1)
                if config.share_pattern is not None and self.lease is not None:
                    self.lease.share_pattern = SharePattern.parse(config.share_pattern)
            self._post_job()

    # -- the job -----------------------------------------------------------------------

    def current_job(self) -> Job | None:
        """What the devices should hash now, or None to stand still."""
        rules = self.settings.rules.model_copy(update={"difficulty": self.difficulty})
        if self.paused or self.state is WorkerState.ERROR:
            return None
        if self.lease is not None:
            return Job(
                address=self.lease.address,
                difficulty=self.difficulty,
                rules=rules,
                lease_id=self.lease.lease_id,
                prefix=self.lease.prefix,
                share_pattern=self.lease.share_pattern,
            )
        if self.settings.self_mine:
            return Job(address=self.settings.owner, difficulty=self.difficulty, rules=rules)
        return None

    def _post_job(self) -> None:
        job = self.current_job()
        previous = self.engine.job
        if job is not None and previous is not None and _same_work(job, previous):
            return  # keep the keys (and stem) the devices are on
        self.engine.post(job)

    # -- finds -------------------------------------------------------------------------

    def _found(self, find: Find) -> None:
        """From a device thread: persist first, then let the courier deliver."""
        timestamp = int(find.found_at.timestamp())
        job = find.job
        if find.kind is FindKind.BLOCK:
            attempts = self.engine.block_attempts()
            hashrate = self.engine.hashrate()
            block = BlockFound(
                worker_id=self.settings.worker_id,
                lease_id=job.lease_id,
                hash=find.hash_b64,
                key=find.key,
                account=job.address,
                attempts=attempts,
                hashrate=f"{hashrate:.2f}",
                timestamp=timestamp,
                difficulty=job.difficulty,
            )
            self.outbox.put(
                PLATFORM, self.settings.topic_for(Uplink.BLOCK), encode(block), kind="block"
            )
            if self.network is not None:
                submission: dict[str, Any] = {
                    "hash_raw": find.raw.hex(),
                    "salt": job.salt.hex(),
                    "difficulty": job.difficulty,
                    "key": find.key,
                    "account": job.address,
                    "attempts": attempts,
                    "hashes_per_second": round(hashrate, 2),
                    "worker": self.settings.worker_id,
                    # For the verdict, and for dropping a XUNI its window closed on:
                    "lease_id": job.lease_id,
                    "hash": find.hash_b64,
                }
                channel = NETWORK
                if find.block_kind is BlockKind.XUNI:
                    channel = NETWORK_XUNI
                    submission["xuni_until"] = xuni_window_closes(find.found_at, job.rules)
                self.outbox.put(channel, "verify", json.dumps(submission).encode(), kind="block")
            self.counters.blocks += 1
            log.info(
                "found a %s block %s (lease %s)",
                find.block_kind,
                find.hash_b64[:16],
                job.lease_id or "none",
            )
        else:
            share = Share(
                worker_id=self.settings.worker_id,
                lease_id=job.lease_id,
                hash=find.hash_b64,
                key=find.key,
                account=job.address,
                difficulty=job.difficulty,
                timestamp=timestamp,
            )
            try:
                self.outbox.put(
                    PLATFORM, self.settings.topic_for(Uplink.SHARE), encode(share), kind="share"
                )
            except OutboxFull:  # full of undelivered blocks: those matter more
                log.warning("the outbox is full of blocks; a share was dropped")
                return
            self.counters.shares += 1
        self._wake_courier.set()

    def _device_failed(self, index: int, message: str) -> None:
        log.error("device %d failed: %s", index, message)
        with self._lock:
            self._set_state(WorkerState.ERROR, detail=f"device {index}: {message}"[:500])

    # -- delivery ----------------------------------------------------------------------

    def _deliver_forever(self) -> None:
        while not self.stop_requested.is_set():
            self._wake_courier.wait(timeout=2.0)
            self._wake_courier.clear()
            try:
                self._deliver_platform()
                self._deliver_network()
            except Exception:
                log.exception("delivering the outbox failed; retrying")

    def _deliver_platform(self, limit: int = 100) -> None:
        connection = self.connection
        if connection is None or not connection.connected:
            return
        # Not due_only: a message is retried as soon as the connection is back.
        for entry in self.outbox.pending(PLATFORM, limit, due_only=False):
            if connection.deliver(entry.topic, entry.payload):
                self.outbox.remove(entry.id)
                if entry.kind == "block":
                    self.counters.blocks_acknowledged += 1
            else:
                self.outbox.mark_attempt(entry.id, "no PUBACK from the broker", retry_in=0)
                return  # the connection is down; the next connect wakes us

    def _deliver_network(self, limit: int = 10) -> None:
        """Submit up to ``limit`` due blocks, XUNI first; stop at the first that fails."""
        if self.network is None:
            return
        for _ in range(limit):
            if self.stop_requested.is_set():
                return  # stopping: what is left stays in the outbox for the next run
            entry = self._next_submission()
            if entry is None or not self._submit(entry):
                return

    def _next_submission(self) -> Entry | None:
        """The next block to submit: a XUNI still in its window, else the oldest block."""
        self._drop_late_xuni()
        for channel in (NETWORK_XUNI, NETWORK):
            due = self.outbox.pending(channel, 1)
            if due:
                return due[0]
        return None

    def _drop_late_xuni(self) -> None:
        """Forget the XUNI whose window has closed: the node would refuse them now."""
        now = self.clock()
        for entry in self.outbox.pending(NETWORK_XUNI, 1000, due_only=False):
            submission = json.loads(entry.payload)
            closes = submission.get("xuni_until")
            if closes is None or now < closes:
                continue
            self.counters.xuni_dropped += 1
            log.warning(
                "dropped XUNI %s: its window closed before the node took it (%d attempt(s)); "
                "a late XUNI is never submitted",
                str(submission.get("hash", ""))[:16],
                entry.attempts,
            )
            if entry.attempts == 0:  # else "unreachable" went when its first try failed
                self._publish_verdict(
                    submission,
                    NetworkStatus.UNREACHABLE,
                    message="its XUNI window closed before it could be submitted; not sent late",
                )
            self.outbox.remove(entry.id)

    def _submit(self, entry: Entry) -> bool:
        """Submit one block and publish the node's verdict; False when it gave up."""
        assert self.network is not None
        submission = json.loads(entry.payload)
        fields = {name: submission[name] for name in _SUBMIT_FIELDS}
        fields["hash_raw"] = bytes.fromhex(fields["hash_raw"])
        fields["salt"] = bytes.fromhex(fields["salt"])
        try:
            result = self.network.submit_block(**fields)
        except Exception as error:  # NetworkError after its own retries
            log.warning("the XenBlocks network did not take a block yet: %s", error)
            if entry.attempts == 0:  # once per block: it stays queued and is retried
                self.counters.unreachable += 1
                self._publish_verdict(submission, NetworkStatus.UNREACHABLE, message=str(error))
            self.outbox.mark_attempt(entry.id, str(error))
            return False
        if result.accepted:
            self.counters.accepted += 1
            if result.duplicate:
                self.counters.duplicates += 1
            log.info("the XenBlocks network took a block (HTTP %d)", result.status)
        else:
            self.counters.refused += 1
            log.warning(
                "the XenBlocks network refused a block (HTTP %d): %s",
                result.status,
                result.message,
            )
        wanted = result.network_difficulty
        if wanted is not None:  # read it before the verdict, which carries it
            self._node_wants(wanted)
        # The verdict first: a crash in between re-submits the block ("already exists")
        # rather than losing its verdict.
        self._publish_verdict(
            submission, result.verdict, http_status=result.status, message=result.message
        )
        self.outbox.remove(entry.id)
        return True

    def _publish_verdict(
        self,
        submission: dict[str, Any],
        status: NetworkStatus,
        *,
        http_status: int | None = None,
        message: str | None = None,
    ) -> None:
        """Queue the node's answer on a block for the platform, after the block's report."""
        hash_b64 = submission.get("hash") or b64_nopad(bytes.fromhex(submission["hash_raw"]))
        text = " ".join((message or "").split())
        if len(text) > _MESSAGE_LENGTH:
            text = text[: _MESSAGE_LENGTH - 1] + "…"
        verdict = NetworkVerdict(
            worker_id=self.settings.worker_id,
            lease_id=submission.get("lease_id", ""),
            hash=hash_b64,
            status=status,
            http_status=http_status,
            message=text or None,
            difficulty=submission["difficulty"],
            network_difficulty=self.network_difficulty,
            timestamp=int(self.clock()),
        )
        self.outbox.put(
            PLATFORM, self.settings.topic_for(Uplink.VERDICT), encode(verdict), kind="verdict"
        )
        self._wake_courier.set()

    # -- heartbeats, status ------------------------------------------------------------

    def _send_heartbeat(self, now: float) -> None:
        connection = self.connection
        if connection is None or not connection.connected:
            return
        rates = self.engine.rates()
        gpus = self.telemetry.sample(rates)
        heartbeat = Heartbeat(
            worker_id=self.settings.worker_id,
            hashrate=max(sum(rates.values()), 0.0),
            active_gpus=len(gpus),
            accepted_blocks=self.counters.blocks_acknowledged,
            difficulty=self.difficulty,
            uptime_sec=int(now - self.started_at),
            timestamp=int(now),
            gpus=gpus or None,
        )
        connection.publish(self.settings.topic_for(Uplink.HEARTBEAT), encode(heartbeat), qos=0)

    def _set_state(
        self,
        state: WorkerState,
        *,
        lease_id: str | None = None,
        detail: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        """Publish a status on a change. ``correlation_id``: the platform command's that
        caused it (``protocol.downlink``), echoed so the platform can tie the two."""
        if state is self.state and detail is None:
            return
        self.state = state
        current_lease = self.lease.lease_id if self.lease is not None else None
        status = Status(
            worker_id=self.settings.worker_id,
            state=state,
            lease_id=lease_id if lease_id is not None else current_lease,
            detail=detail,
            timestamp=int(self.clock()),
            correlation_id=correlation_id,
        )
        connection = self.connection
        if connection is not None and connection.connected:
            connection.publish(self.settings.topic_for(Uplink.STATUS), encode(status))

    # -- the difficulty ----------------------------------------------------------------

    def _request_network_poll(self) -> None:
        """Read the network's difficulty: on the poller thread when running, else now."""
        if self._poller is not None and self._poller.is_alive():
            self._poll_wanted.set()
        else:
            self._poll_network_difficulty()

    def _poll_forever(self) -> None:
        while not self.stop_requested.is_set():
            if not self._poll_wanted.wait(timeout=1.0):
                continue
            self._poll_wanted.clear()
            if self.stop_requested.is_set():
                return
            try:
                self._poll_network_difficulty()
            except Exception:
                log.exception("reading the network difficulty failed")

    def _poll_network_difficulty(self) -> bool:
        """Read the network's difficulty and mine at it; False when the node is away."""
        assert self.network is not None
        try:
            difficulty = self.network.difficulty()
        except Exception as error:
            with self._lock:
                was_reachable = self.network_reachable
                self.network_reachable = False
                self._settle_difficulty()
            if was_reachable or self.network_difficulty is None:
                log.warning(
                    "could not read the network difficulty (%s); mining at %d (%s)",
                    error,
                    self.difficulty,
                    self.difficulty_source,
                )
            else:
                log.debug("could not read the network difficulty: %s", error)
            return False
        with self._lock:
            self.network_difficulty = difficulty
            self.network_reachable = True
            self._settle_difficulty()
        return True

    def _node_wants(self, difficulty: int) -> None:
        """A 401 named the memory cost the node wants: re-read the difficulty at once."""
        log.warning("the node wants memory cost %d: reading the network difficulty", difficulty)
        if not self._poll_network_difficulty():
            with self._lock:  # the node's own word, a moment old
                self.network_difficulty = difficulty
                self.network_reachable = True
                self._settle_difficulty()
        with self._lock:
            self._next_network_poll = self.clock() + self.settings.network_poll_seconds

    def _platform_says(self, difficulty: int) -> None:
        """The platform's difficulty: followed only while the network is out of reach."""
        self.platform_difficulty = difficulty
        if self.network_reachable and difficulty != self.network_difficulty:
            log.info(
                "the platform says difficulty %d; following the network's %s",
                difficulty,
                self.network_difficulty,
            )
        self._settle_difficulty()

    def _settle_difficulty(self) -> None:
        """Mine at the difficulty that wins now (callers hold the lock)."""
        if self.network is not None and self.network_reachable:
            assert self.network_difficulty is not None
            difficulty, source = self.network_difficulty, NETWORK
        elif self.platform_difficulty is not None:
            difficulty, source = self.platform_difficulty, PLATFORM
        elif self.network_difficulty is not None:
            difficulty, source = self.network_difficulty, NETWORK
        else:
            difficulty, source = self.settings.rules.difficulty, "configured"
        self.difficulty_source = source
        if difficulty != self.difficulty:
            log.info("difficulty %d -> %d (%s)", self.difficulty, difficulty, source)
            self.difficulty = difficulty
            self._post_job()

    # -- the status line ---------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """What the status line and ``--json`` logs show."""
        now = self.clock()
        lease = self.lease
        connection = self.connection
        return {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "worker_id": self.settings.worker_id,
            "state": self.state.value,
            "paused": self.paused,
            "difficulty": self.difficulty,
            "difficulty_source": self.difficulty_source,
            "network_difficulty": self.network_difficulty,
            "hashrate": round(self.engine.hashrate(), 2),
            "devices": {
                f"{spec.backend}#{spec.index}": round(rate, 2)
                for spec, rate in zip(
                    self.engine.devices, self.engine.rates().values(), strict=True
                )
            },
            "blocks": self.counters.blocks,
            "network": self.network is not None,
            "accepted": self.counters.accepted,
            "duplicates": self.counters.duplicates,
            "refused": self.counters.refused,
            "unreachable": self.counters.unreachable,
            "xuni_dropped": self.counters.xuni_dropped,
            "shares": self.counters.shares,
            "lease": lease.lease_id if lease else None,
            "lease_seconds_left": max(int(lease.ends_at - now), 0) if lease else None,
            "connection": connection.state if connection is not None else "none",
            "outbox": self.outbox.count(),
        }


def xuni_window_closes(found_at: datetime, rules: BlockRules) -> float | None:
    """When the XUNI window holding ``found_at`` closes (Unix seconds, UTC minutes).

    Windows that meet across the hour (55-59 and 0-4) are one window. None when every
    minute is a window; ``found_at`` itself when it is in none.
    """
    minutes = {minute for first, last in rules.xuni_windows for minute in range(first, last + 1)}
    moment = found_at.astimezone(UTC).replace(second=0, microsecond=0)
    for _ in range(60):
        if moment.minute not in minutes:
            return moment.timestamp()
        moment += timedelta(minutes=1)
    return None


def _same_work(job: Job, other: Job) -> bool:
    return (
        job.address == other.address
        and job.difficulty == other.difficulty
        and job.lease_id == other.lease_id
        and job.prefix == other.prefix
        and job.share_pattern == other.share_pattern
        and job.rules == other.rules
    )
