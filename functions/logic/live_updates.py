"""Live updates: who may see what, and when they are told.

The same service runs behind API Gateway (``functions/handlers/live.py``) and behind the
local hub (``functions/local/live_hub.py``); it reaches the dashboards only through the
``Fanout`` port (``functions/ports/fanout.py``) and reads table changes decoded by
``functions/dal/streams.py``.

- ``connect``: a connection signs in with the API's session token or an API key with the
  ``read`` scope (``?token=``, checked as the HTTP API checks it: signed-out tokens and
  revoked keys are refused) or stays anonymous; it is stored (with a TTL).
- ``request``: ``{"action": "snapshot"}`` answers everything the connection may see now;
  ``{"action": "ping"}`` answers ``pong``.
- ``publish_records``: changes to workers, leases, blocks and alert events become
  ``worker``/``lease``/``block``/``alert`` messages for their audience: a provider sees its
  workers, a renter its leases and the workers it leases, the owner its alerts, everyone
  verified blocks and the fleet figures; one frame per connection, coalesced.
- ``publish_telemetry``: heartbeats, straight from ingest's batches, as ``telemetry``
  messages to the same audience as ``worker`` (heartbeats are written only once per
  summary slot, so the stream alone would show a rig's figures minutes late).

Messages carry the same shapes as the HTTP API (``functions/models/views.py``, and
``LeaseOut``), so a dashboard renders both with the same code; none of them needs FastAPI.

No frame carries a correlation id (``functions.observability``): a ``worker`` frame is made
from the workers table's stream, not from the rig's status that changed the row, and its
documented shape (``{type, data, ts}``, ``data`` as the HTTP API's fleet row) has no room
for one. Ingest's log line about that status carries the id with the worker's.
"""

from __future__ import annotations

import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from functions.api.market_schemas import LeaseOut
from functions.dal.api_keys import ApiKeyRepository
from functions.dal.blocks import BlockRepository
from functions.dal.leases import LeaseRepository
from functions.dal.network import NetworkRepository
from functions.dal.sessions import SessionRepository
from functions.dal.streams import StreamChange, StreamDecoder, UnreadableRecord
from functions.dal.tables import Tables
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.errors import Unauthorized
from functions.logic import live
from functions.logic.fleet_stats import fleet_worker
from functions.logic.heartbeat_schedule import silence_allowance
from functions.logic.sessions import Authenticator
from functions.models.alerts import AlertEvent
from functions.models.auth import Scope
from functions.models.blocks import Block
from functions.models.live import ANONYMOUS, Connection, LiveMessage, MessageType, WorkerTelemetry
from functions.models.market import Lease
from functions.models.telemetry import FLEET_SERIES
from functions.models.views import EventOut, RecentBlock
from functions.models.workers import Worker
from functions.observability import logger
from functions.ports.broadcast import Broadcaster
from functions.ports.fanout import Delivery, Fanout
from functions.settings import Settings
from protocol.messages import Heartbeat

# What a snapshot holds at most (a dashboard pages the HTTP API for more).
SNAPSHOT_WORKERS = 500
SNAPSHOT_LEASES = 100
SNAPSHOT_BLOCKS = 20
# Fleet figures older than this are not "live" any more.
FLEET_MAX_AGE = 3600
# The public fleet figures, as the aggregation job writes them.
FLEET_FIELDS = ("online_workers", "hashrate", "gpus", "leased_workers", "owners")


@dataclass(frozen=True)
class Audience:
    """Who a message is for: everyone connected, and/or the connections of some subjects."""

    public: bool = False
    subjects: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Addressed:
    message: LiveMessage
    audience: Audience


@dataclass
class PublishReport:
    """What one fan-out did, for the handler's metrics and log line."""

    records: int = 0
    skipped: int = 0  # records that are not live news (a REMOVE, an unverified block…)
    malformed: int = 0  # records we could not read
    messages: int = 0
    frames: int = 0
    gone: int = 0  # connections found closed and forgotten
    failed: int = 0  # posts that failed otherwise (throttled, timed out)
    connections: int = 0
    by_type: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def delivered(self, delivery: Delivery) -> None:
        self.connections = delivery.connections
        self.frames += delivery.frames
        self.gone += delivery.gone
        self.failed += delivery.failed


def fleet_message(values: Mapping[str, float], as_of: int, now: float) -> LiveMessage:
    figures: dict[str, Any] = {"as_of": as_of}
    for name in FLEET_FIELDS:
        value = float(values.get(name, 0.0))
        figures[name] = value if name == "hashrate" else int(value)
    return LiveMessage(type=MessageType.FLEET, data=figures, ts=now)


class OwnerCache:
    """Worker id → owner, kept for the life of a warm Lambda (a worker's owner is fixed at
    enrolment). Bounded: the oldest entries go first."""

    def __init__(self, size: int = 100_000) -> None:
        self._size = size
        self._owners: OrderedDict[str, str] = OrderedDict()

    def lookup(self, worker_ids: Iterable[str], workers: WorkerRepository) -> dict[str, str]:
        """The owners of ``worker_ids`` that are enrolled (one batch read for the misses)."""
        wanted = list(dict.fromkeys(worker_ids))
        missing = [worker_id for worker_id in wanted if worker_id not in self._owners]
        if missing:
            for worker in workers.get_many(missing):
                self._owners[worker.worker_id] = worker.owner
            while len(self._owners) > self._size:
                self._owners.popitem(last=False)
        return {w: self._owners[w] for w in wanted if w in self._owners}


class LiveService:
    def __init__(
        self,
        settings: Settings,
        tables: Tables,
        broadcaster: Broadcaster,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.tables = tables
        self.fanout = Fanout.over(tables, broadcaster)
        self.clock = clock
        self.workers = WorkerRepository(tables)
        self.leases = LeaseRepository(tables)
        self.blocks = BlockRepository(tables)
        self.network = NetworkRepository(tables)
        self.telemetry = TelemetryRepository(tables)
        self._owners = OwnerCache()
        self._decoder = StreamDecoder(tables)

    # --- connections -----------------------------------------------------------------

    def connect(self, connection_id: str, token: str | None) -> Connection:
        """Store a new connection: signed in with ``token``, or anonymous without one.

        A token that is present but bad raises ``Unauthorized``: the handshake is refused
        rather than quietly downgraded, so a dashboard knows to sign in again."""
        now = int(self.clock())
        subject = ANONYMOUS
        if token:
            # The HTTP API's check: a signed-out token or a revoked key is refused here too.
            principal = Authenticator(
                self.settings, SessionRepository(self.tables), ApiKeyRepository(self.tables)
            ).authenticate(token, now)
            if not principal.allows(Scope.READ):
                raise Unauthorized("this API key lacks the read scope")
            subject = principal.address
        return self.fanout.open(
            connection_id, subject, now=now, ttl=self.settings.live_connection_ttl_seconds
        )

    def disconnect(self, connection_id: str) -> None:
        self.fanout.forget(connection_id)

    def request(self, connection_id: str, text: str | bytes) -> LiveMessage:
        """The answer to one client frame; ``InvalidInput`` when it is not a request."""
        request = live.parse_request(text)
        if request.action is live.Action.PING:
            return LiveMessage(type=MessageType.PONG, data={}, ts=self.clock())
        connection = self.fanout.get(connection_id)
        subject = connection.subject if connection is not None else ANONYMOUS
        return self.snapshot(None if subject == ANONYMOUS else subject)

    # --- snapshot --------------------------------------------------------------------

    def snapshot(self, subject: str | None) -> LiveMessage:
        """Everything ``subject`` (None: anonymous) may see now, in one message: its own
        workers and those it leases, its leases (as renter or provider), and what everyone
        sees (the latest verified blocks, the fleet figures)."""
        now = self.clock()
        workers: list[dict[str, Any]] = []
        leases: list[dict[str, Any]] = []
        if subject is not None:
            active = self._active_leases(subject)
            leases = [LeaseOut.of(lease, now=int(now)).model_dump(mode="json") for lease in active]
            lease_of = {lease.worker_id: lease.lease_id for lease in active}
            own = self.workers.list_by_owner(subject, limit=SNAPSHOT_WORKERS).items
            rented = [
                worker
                for lease in active
                if lease.renter == subject
                and (worker := self.workers.get(lease.worker_id)) is not None
            ]
            for worker in [*own, *rented]:
                if not worker.revoked:
                    view = self._worker_view(worker, lease_of.get(worker.worker_id), int(now))
                    workers.append(view)
        # With the network's answers, as the REST listings show them (a block's own frame
        # goes out when it is verified, before the node has answered).
        recent = self.network.attach(self.blocks.recent(now=int(now), limit=SNAPSHOT_BLOCKS).items)
        data = {
            "subject": subject,
            "workers": workers,
            "leases": leases,
            "blocks": [RecentBlock.of(block).model_dump(mode="json") for block in recent],
            "fleet": self._fleet_figures(int(now)),
        }
        return LiveMessage(type=MessageType.SNAPSHOT, data=data, ts=now)

    def _active_leases(self, subject: str) -> list[Lease]:
        found: dict[str, Lease] = {}
        for page in (
            self.leases.list_by_renter(subject, limit=SNAPSHOT_LEASES),
            self.leases.list_by_provider(subject, limit=SNAPSHOT_LEASES),
        ):
            found.update((lease.lease_id, lease) for lease in page.items if lease.is_active)
        return list(found.values())

    def _fleet_figures(self, now: int) -> dict[str, Any]:
        latest = self.telemetry.latest(FLEET_SERIES, since=now - FLEET_MAX_AGE)
        if latest is None:  # no aggregation yet: zeros, and no time they were true at
            figures: dict[str, Any] = dict(fleet_message({}, as_of=0, now=now).data)
            figures["as_of"] = None
            return figures
        return dict(fleet_message(latest.values, as_of=latest.ts, now=now).data)

    def _worker_view(self, worker: Worker, lease_id: str | None, now: int) -> dict[str, Any]:
        view = fleet_worker(
            worker, now=now, offline_after=silence_allowance(self.settings), lease_id=lease_id
        )
        return view.model_dump(mode="json")

    # --- fan-out ---------------------------------------------------------------------

    def publish_records(self, records: Iterable[Mapping[str, Any]]) -> PublishReport:
        """Turn one batch of stream records into frames and send them."""
        report = PublishReport()
        events = list(self._events(records, report))
        self.publish(events, report)
        return report

    def broadcast_fleet(self, values: Mapping[str, float], as_of: int) -> PublishReport:
        """The public fleet figures, to every connection (the aggregation job calls this)."""
        report = PublishReport()
        message = fleet_message(values, as_of=as_of, now=self.clock())
        self.publish([Addressed(message, Audience(public=True))], report)
        return report

    def publish(self, events: list[Addressed], report: PublishReport) -> None:
        if not events:
            return
        report.messages += len(events)
        for event in events:
            report.by_type[event.message.type.value] += 1
        inbox: dict[str, list[LiveMessage]] = defaultdict(list)
        public = [event.message for event in events if event.audience.public]
        if public:
            for connection in self.fanout.everyone():
                inbox[connection.connection_id].extend(public)
        private: dict[str, list[LiveMessage]] = defaultdict(list)
        for event in events:
            for subject in event.audience.subjects:
                private[subject].append(event.message)
        for subject, messages in private.items():
            for connection in self.fanout.of_subject(subject):
                inbox[connection.connection_id].extend(messages)
        self._deliver(inbox, report)

    def publish_telemetry(self, heartbeats: Sequence[tuple[str, Heartbeat, int]]) -> PublishReport:
        """Heartbeats ingest accepted, ``(worker id, heartbeat, received at)``, to the
        signed-in dashboards of each worker's owner and of the renter leasing it.

        Heartbeats are written to DynamoDB only once per summary slot, so they do not reach
        the stream broadcaster; ingest pushes them here instead, one frame per connection
        per batch. Nothing is read unless someone signed in is connected: then the
        connections (one query per shard), each connected subject's leases, and the owners
        of workers not seen before (owners never change, so they are kept for good)."""
        report = PublishReport(records=len(heartbeats))
        latest: dict[str, tuple[Heartbeat, int]] = {}
        for worker_id, heartbeat, received_at in heartbeats:
            if worker_id not in latest or latest[worker_id][1] <= received_at:
                latest[worker_id] = (heartbeat, received_at)
        watching: dict[str, list[str]] = defaultdict(list)
        if latest:
            for connection in self.fanout.everyone():
                if connection.subject != ANONYMOUS:
                    watching[connection.subject].append(connection.connection_id)
        if not watching:
            report.skipped = len(latest)
            return report
        owners = self._owners.lookup(latest, self.workers)
        renters = self._renters(watching)
        inbox: dict[str, list[LiveMessage]] = defaultdict(list)
        for worker_id, (heartbeat, received_at) in latest.items():
            audience = {owners.get(worker_id), *renters.get(worker_id, ())}
            connections = [c for subject in audience if subject for c in watching.get(subject, ())]
            if not connections:
                report.skipped += 1
                continue
            data = WorkerTelemetry.of(worker_id, heartbeat, received_at)
            message = LiveMessage(
                type=MessageType.TELEMETRY, data=data.model_dump(mode="json"), ts=received_at
            )
            report.messages += 1
            report.by_type[message.type.value] += 1
            for connection_id in connections:
                inbox[connection_id].append(message)
        self._deliver(inbox, report)
        return report

    def _renters(self, watching: Mapping[str, list[str]]) -> dict[str, set[str]]:
        """Worker id → the connected subjects renting it now."""
        renters: dict[str, set[str]] = defaultdict(set)
        for subject in watching:
            for lease in self.leases.list_by_renter(subject, limit=SNAPSHOT_LEASES).items:
                if lease.is_active:
                    renters[lease.worker_id].add(subject)
        return renters

    def _deliver(self, inbox: Mapping[str, list[LiveMessage]], report: PublishReport) -> None:
        """One frame per connection: its messages in time order, coalesced."""
        now = self.clock()
        frames = {
            connection_id: live.frame(live.coalesce(sorted(messages, key=_by_time)), now)
            for connection_id, messages in inbox.items()
        }
        report.delivered(self.fanout.deliver(frames))

    # --- table changes → addressed messages ----------------------------------------------

    def _events(
        self, records: Iterable[Mapping[str, Any]], report: PublishReport
    ) -> Iterable[Addressed]:
        latest_workers: dict[str, tuple[Worker, float]] = {}
        for record in records:
            report.records += 1
            try:
                change = self._decoder.decode(record)
            except UnreadableRecord as error:
                report.malformed += 1
                logger.warning(
                    "unreadable stream record skipped",
                    extra={"table": error.table.name, "error": str(error)[:200]},
                )
                continue
            if change is None or change.event == "REMOVE" or change.new is None:
                report.skipped += 1
                continue
            ts = change.ts or self.clock()
            if isinstance(change.new, Worker):
                # Sent after the batch, once per worker, with its latest state.
                latest_workers.pop(change.new.worker_id, None)
                latest_workers[change.new.worker_id] = (change.new, ts)
                continue
            event = self._event(change, ts)
            if event is None:
                report.skipped += 1
            else:
                yield event
        # Workers last: many heartbeats of one worker cost one lease lookup.
        now = int(self.clock())
        for worker, ts in latest_workers.values():
            yield self._worker_event(worker, ts, now)

    def _event(self, change: StreamChange, ts: float) -> Addressed | None:
        """Who is told of a lease, block or alert event, and what; None: not news."""
        item = change.new
        if isinstance(item, Lease):
            data = LeaseOut.of(item, now=int(self.clock())).model_dump(mode="json")
            message = LiveMessage(type=MessageType.LEASE, data=data, ts=ts)
            return Addressed(message, Audience(subjects=frozenset({item.renter, item.provider})))
        if isinstance(item, Block):
            was_verified = isinstance(change.old, Block) and change.old.verified
            if not item.verified or was_verified:
                return None  # only news: a block becoming verified
            message = LiveMessage(
                type=MessageType.BLOCK, data=RecentBlock.of(item).model_dump(mode="json"), ts=ts
            )
            return Addressed(message, Audience(public=True))
        if isinstance(item, AlertEvent):
            if change.event != "INSERT":
                return None  # a delivery's progress is not news
            data = EventOut.of(item).model_dump(mode="json")
            message = LiveMessage(type=MessageType.ALERT, data=data, ts=ts)
            return Addressed(message, Audience(subjects=frozenset({item.owner})))
        return None

    def _worker_event(self, worker: Worker, ts: float, now: int) -> Addressed:
        subjects = {worker.owner}
        lease_id = None
        if worker.listing_id is not None:  # only a listed worker can be leased
            lease = self.leases.active_for_worker(worker.worker_id)
            if lease is not None:
                lease_id = lease.lease_id
                subjects.add(lease.renter)
        message = LiveMessage(
            type=MessageType.WORKER, data=self._worker_view(worker, lease_id, now), ts=ts
        )
        return Addressed(message, Audience(subjects=frozenset(subjects)))


def _by_time(message: LiveMessage) -> float:
    return message.ts
