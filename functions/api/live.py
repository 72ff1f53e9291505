"""The WebSocket API: who is connected, what each may see, and the frames they get.

The same service runs behind API Gateway (``functions/handlers/live.py``) and behind the
local hub (``functions/local/live_hub.py``):

- ``connect``: a connection signs in with the API's session token or an API key with the
  ``read`` scope (``?token=``, checked as the HTTP API checks it: signed-out tokens and
  revoked keys are refused) or stays anonymous; it is stored (with a TTL) under its
  subject and a broadcast shard.
- ``request``: ``{"action": "snapshot"}`` answers everything the connection may see now;
  ``{"action": "ping"}`` answers ``pong``.
- ``publish_records``: DynamoDB stream records of the workers, leases, blocks and alerts
  tables become ``worker``/``lease``/``block``/``alert`` messages, addressed as the data
  rules say (a provider sees its workers, a renter its leases and the workers it leases,
  everyone verified blocks and the fleet figures), coalesced to one frame per connection.
- ``publish_telemetry``: heartbeats, straight from ingest's batches, as ``telemetry``
  messages to the same audience as ``worker`` (heartbeats are written only once per
  summary slot, so the stream alone would show a rig's figures minutes late).

Messages carry the same shapes as the HTTP API (``FleetWorker``, ``LeaseOut``,
``RecentBlock``, ``EventOut``), so a dashboard renders both with the same code.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from functions.api.market_schemas import LeaseOut
from functions.dal import codec
from functions.dal.alerts import EVENT_PREFIX
from functions.dal.api_keys import ApiKeyRepository
from functions.dal.blocks import BlockRepository
from functions.dal.connections import ConnectionRepository, shard_for, shard_names
from functions.dal.leases import LeaseRepository
from functions.dal.pagination import Page
from functions.dal.sessions import SessionRepository
from functions.dal.specs import ALERTS, BLOCKS, LEASES, WORKERS, TableSpec
from functions.dal.tables import Tables
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.errors import Unauthorized
from functions.logic import live
from functions.logic.heartbeat_schedule import silence_allowance
from functions.logic.sessions import Authenticator
from functions.models.alerts import AlertEvent
from functions.models.auth import Scope
from functions.models.blocks import Block
from functions.models.live import (
    ANONYMOUS,
    Connection,
    LiveMessage,
    MessageType,
    WorkerTelemetry,
)
from functions.models.market import Lease
from functions.models.telemetry import FLEET_SERIES
from functions.models.workers import Worker
from functions.ports.broadcast import Broadcaster, BroadcastError
from functions.settings import Settings
from protocol.messages import Heartbeat

logger = logging.getLogger(__name__)

# What a snapshot holds at most (a dashboard pages the HTTP API for more).
SNAPSHOT_WORKERS = 500
SNAPSHOT_LEASES = 100
SNAPSHOT_BLOCKS = 20
# Fleet figures older than this are not "live" any more.
FLEET_MAX_AGE = 3600
_PAGE = 100
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


def fleet_message(values: Mapping[str, float], as_of: int, now: float) -> LiveMessage:
    figures: dict[str, Any] = {"as_of": as_of}
    for name in FLEET_FIELDS:
        value = float(values.get(name, 0.0))
        figures[name] = value if name == "hashrate" else int(value)
    return LiveMessage(type=MessageType.FLEET, data=figures, ts=now)


def _table_name(record: Mapping[str, Any]) -> str:
    # arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>
    arn = str(record.get("eventSourceARN", ""))
    parts = arn.split(":", 5)
    resource = parts[5] if len(parts) == 6 else ""
    pieces = resource.split("/")
    return pieces[1] if len(pieces) >= 2 and pieces[0] == "table" else ""


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
        self.broadcaster = broadcaster
        self.clock = clock
        self.connections = ConnectionRepository(tables)
        self.workers = WorkerRepository(tables)
        self.leases = LeaseRepository(tables)
        self.blocks = BlockRepository(tables)
        self.telemetry = TelemetryRepository(tables)
        self._owners = OwnerCache()
        self._specs: dict[str, TableSpec] = {
            tables.name(spec): spec for spec in (WORKERS, LEASES, BLOCKS, ALERTS)
        }

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
        connection = Connection(
            connection_id=connection_id,
            subject=subject,
            shard=shard_for(connection_id),
            connected_at=now,
            expires_at=now + self.settings.live_connection_ttl_seconds,
        )
        self.connections.put(connection)
        return connection

    def disconnect(self, connection_id: str) -> None:
        self.connections.delete(connection_id)

    def request(self, connection_id: str, text: str | bytes) -> LiveMessage:
        """The answer to one client frame; ``InvalidInput`` when it is not a request."""
        request = live.parse_request(text)
        if request.action is live.Action.PING:
            return LiveMessage(type=MessageType.PONG, data={}, ts=self.clock())
        connection = self.connections.get(connection_id)
        subject = connection.subject if connection is not None else ANONYMOUS
        return self.snapshot(None if subject == ANONYMOUS else subject)

    # --- snapshot --------------------------------------------------------------------

    def snapshot(self, subject: str | None) -> LiveMessage:
        """Everything ``subject`` (None: anonymous) may see now, in one message."""
        # The HTTP API's views live in its routers, which import FastAPI: imported where
        # a view is built, so the functions that only connect, disconnect or broadcast
        # the fleet figures (the fleet job) never load the web framework.
        from functions.api.routers.monitoring import RecentBlock

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
        recent = self.blocks.recent(now=int(now), limit=SNAPSHOT_BLOCKS).items
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
        from functions.api.routers.monitoring import fleet_worker  # see snapshot

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
            for connection in self._every_connection():
                inbox[connection.connection_id].extend(public)
        private: dict[str, list[LiveMessage]] = defaultdict(list)
        for event in events:
            for subject in event.audience.subjects:
                private[subject].append(event.message)
        for subject, messages in private.items():
            for connection in self._connections_of(subject):
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
            for connection in self._every_connection():
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
        report.connections = len(inbox)
        now = self.clock()
        for connection_id, messages in inbox.items():
            ordered = sorted(messages, key=lambda message: message.ts)
            self._send(connection_id, live.frame(live.coalesce(ordered), now), report)

    def _send(self, connection_id: str, frame: str, report: PublishReport) -> None:
        try:
            delivered = self.broadcaster.send(connection_id, frame)
        except BroadcastError as error:
            report.failed += 1
            logger.warning("live post failed", extra={"connection": connection_id, "error": error})
            return
        if delivered:
            report.frames += 1
            return
        report.gone += 1
        self.connections.delete(connection_id)

    def _every_connection(self) -> Iterator[Connection]:
        for shard in shard_names():
            yield from self._all_pages(self.connections.by_shard, shard)

    def _connections_of(self, subject: str) -> Iterator[Connection]:
        return self._all_pages(self.connections.by_subject, subject)

    @staticmethod
    def _all_pages(query: Callable[..., Page[Connection]], value: str) -> Iterator[Connection]:
        cursor: str | None = None
        while True:
            page = query(value, limit=_PAGE, cursor=cursor)
            yield from page.items
            cursor = page.cursor
            if cursor is None:
                return

    # --- stream records → addressed messages ---------------------------------------------

    def _events(
        self, records: Iterable[Mapping[str, Any]], report: PublishReport
    ) -> Iterator[Addressed]:
        latest_workers: dict[str, tuple[Worker, float]] = {}
        for record in records:
            report.records += 1
            spec = self._specs.get(_table_name(record))
            image = record.get("dynamodb", {}).get("NewImage")
            if spec is None or record.get("eventName") == "REMOVE" or not image:
                report.skipped += 1
                continue
            ts = float(record.get("dynamodb", {}).get("ApproximateCreationDateTime") or 0)
            ts = ts or self.clock()
            try:
                item = codec.from_item(image)
                if spec is WORKERS:
                    # Sent after the batch, once per worker, with its latest state.
                    worker = Worker.model_validate(item)
                    latest_workers.pop(worker.worker_id, None)
                    latest_workers[worker.worker_id] = (worker, ts)
                    continue
                event = self._event(spec, record, item, ts)
            except (ValidationError, ValueError, TypeError, KeyError) as error:
                report.malformed += 1
                logger.warning(
                    "unreadable stream record skipped",
                    extra={"table": spec.name, "error": str(error)[:200]},
                )
                continue
            if event is None:
                report.skipped += 1
            else:
                yield event
        # Workers last: many heartbeats of one worker cost one lease lookup.
        now = int(self.clock())
        for worker, ts in latest_workers.values():
            yield self._worker_event(worker, ts, now)

    def _event(
        self,
        spec: TableSpec,
        record: Mapping[str, Any],
        item: dict[str, Any],
        ts: float,
    ) -> Addressed | None:
        from functions.api.routers.alerts import EventOut  # see snapshot
        from functions.api.routers.monitoring import RecentBlock

        if spec is LEASES:
            lease = Lease.model_validate(item)
            data = LeaseOut.of(lease, now=int(self.clock())).model_dump(mode="json")
            message = LiveMessage(type=MessageType.LEASE, data=data, ts=ts)
            return Addressed(message, Audience(subjects=frozenset({lease.renter, lease.provider})))
        if spec is BLOCKS:
            block = Block.model_validate(item)
            old = record.get("dynamodb", {}).get("OldImage")
            was_verified = bool(old) and codec.from_item(old).get("verified") is True
            if not block.verified or was_verified:
                return None  # only news: a block becoming verified
            message = LiveMessage(
                type=MessageType.BLOCK, data=RecentBlock.of(block).model_dump(mode="json"), ts=ts
            )
            return Addressed(message, Audience(public=True))
        if spec is ALERTS:
            if record.get("eventName") != "INSERT" or not str(item.get("sk", "")).startswith(
                EVENT_PREFIX
            ):
                return None  # rules, counters and cooldowns are not news
            alert = AlertEvent.model_validate(item)
            data = EventOut.of(alert).model_dump(mode="json")
            message = LiveMessage(type=MessageType.ALERT, data=data, ts=ts)
            return Addressed(message, Audience(subjects=frozenset({alert.owner})))
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
