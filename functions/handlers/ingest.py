"""The IoT rules' Lambdas: messages rigs published, routed by ``functions.routing``.

- ``handler``: one rule event (register, status, block, share: the rule invokes it per
  message).
- ``batch_handler``: a Kinesis batch of rule events (heartbeats: the rule puts each into
  the stream and Lambda reads them in batches). Records are handled one by one in stream
  order; a record that fails for an infrastructure reason is reported as a partial batch
  failure, so Lambda retries from it (every write is idempotent). After the batch, the
  accepted heartbeats are pushed to the dashboards watching (``LiveService.
  publish_telemetry``), best effort: a failed push is logged and counted, never retried.

A malformed event or payload is refused here: a warning log line, a ``Malformed`` metric,
nothing written, and no exception (retrying cannot fix it). A message the logic refuses is
logged and counted as ``Rejected``. Infrastructure errors (DynamoDB throttling, a publish
that fails) propagate, so Lambda retries the event; every write is idempotent, so a retry
never counts anything twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import (
    KinesisStreamRecord,
)

from functions.dal.blocks import BlockRepository
from functions.dal.insights import InsightsRepository
from functions.dal.leases import LeaseRepository
from functions.dal.network import NetworkRepository
from functions.dal.shares import ShareRepository
from functions.dal.tables import Tables
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.logic.anomaly_watch import AnomalyWatch
from functions.logic.ingest import IngestService, Outcome
from functions.logic.report_limits import LIMIT_REASONS
from functions.observability import correlated, logger
from functions.ports.devices import DeviceCommands, DevicePublisher
from functions.routing import ROUTES, IngestEvent
from functions.settings import Settings, load_settings
from protocol.codec import parse_uplink
from protocol.errors import ProtocolError
from protocol.messages import Heartbeat, Status, UplinkMessage

if TYPE_CHECKING:  # imported when first needed: the per-message function never needs it
    from functions.logic.live_updates import LiveService

metrics = Metrics(namespace="XenBlocks", service="ingest")

_service: IngestService | None = None
_live: LiveService | None = None
_live_loaded = False
_ROUTE_NAMES = frozenset(route.name for route in ROUTES)


def build_service(settings: Settings, tables: Tables, publisher: DevicePublisher) -> IngestService:
    return IngestService(
        settings=settings,
        workers=WorkerRepository(tables),
        leases=LeaseRepository(tables),
        blocks=BlockRepository(tables),
        shares=ShareRepository(tables),
        telemetry=TelemetryRepository(tables),
        commands=DeviceCommands(publisher),
        network=NetworkRepository(tables),
        # Heartbeats only (the batch function): scored against each rig's baseline.
        watch=AnomalyWatch(
            InsightsRepository(tables),
            WorkerRepository(tables),
            cache_seconds=settings.insights_cache_seconds,
        ),
    )


def configure(service: IngestService | None, live: LiveService | None = None) -> None:
    """Use ``service`` (and ``live`` for the batches' live push) for the following events
    (the local stack and tests); None resets."""
    global _service, _live, _live_loaded
    _service = service
    _live = live
    _live_loaded = service is not None


def attach_live(live: LiveService | None) -> None:
    """Push the batches' heartbeats to ``live`` (the local stack, once its hub is up)."""
    global _live, _live_loaded
    _live = live
    _live_loaded = True


def _default_live() -> LiveService | None:
    """The live push of a deployed batch function: None where no WebSocket API is set."""
    global _live, _live_loaded
    if not _live_loaded:
        _live_loaded = True
        settings = load_settings()
        if settings.live_endpoint_url:
            from functions.logic.live_updates import LiveService
            from functions.ports.broadcast import ApiGatewayBroadcaster

            broadcaster = ApiGatewayBroadcaster.for_endpoint(
                settings.live_endpoint_url, settings.aws_region
            )
            _live = LiveService(settings, Tables(settings), broadcaster)
    return _live


def _default_service() -> IngestService:
    global _service
    if _service is None:  # first event of a cold start
        from functions.ports.aws_iot import IotDevicePublisher, iot_data_client

        settings = load_settings()
        data = iot_data_client(settings.aws_region, settings.mqtt_host)
        _service = build_service(settings, Tables(settings), IotDevicePublisher(data))
    return _service


@dataclass(frozen=True)
class Received:
    """What became of one event: its outcome and, once parsed, the message."""

    outcome: Outcome
    worker_id: str = ""
    message: UplinkMessage | None = None
    received_at: int = 0


def process(event: object, service: IngestService) -> Outcome:
    """Parse one rule event and hand it to the logic; log what happened."""
    return receive(event, service).outcome


def receive(event: object, service: IngestService) -> Received:
    """``process`` for an event (a dict) or a stream record's data (bytes)."""
    try:
        if isinstance(event, bytes | bytearray):
            ingest = IngestEvent.from_record_data(bytes(event))
        else:
            ingest = IngestEvent.from_event(event)
        message = parse_uplink(ingest.route.suffix, ingest.payload)
    except ProtocolError as error:
        route = event.get("route") if isinstance(event, dict) else None
        kind = route if isinstance(route, str) and len(route) <= 32 else "unknown"
        logger.warning(
            "malformed message refused",
            extra={"route": kind, "field": error.field, "error": error.reason},
        )
        return Received(Outcome(False, "malformed", kind))
    # A status answering a command carries the command's correlation id: every line about
    # it (and any command it leads to) carries it too.
    with correlated(message.correlation_id if isinstance(message, Status) else None):
        return _accept(ingest, message, service)


def _accept(ingest: IngestEvent, message: UplinkMessage, service: IngestService) -> Received:
    if message.worker_id != ingest.worker_id:
        # The topic is tied to the certificate; the payload's id is only the rig's say-so.
        logger.info(
            "payload worker_id differs from the topic's; the topic's is used",
            extra={"worker_id": ingest.worker_id, "payload_worker_id": message.worker_id},
        )
    received_at = ingest.received_at_ms // 1000
    outcome = service.accept(ingest.worker_id, message, received_at)
    log = logger.info if outcome.accepted else logger.warning
    log(
        "message accepted" if outcome.accepted else "message rejected",
        extra={"route": outcome.kind, "worker_id": ingest.worker_id, "reason": outcome.reason},
    )
    return Received(outcome, ingest.worker_id, message, received_at)


def _metric_name(outcome: Outcome) -> str:
    """E.g. AcceptedHeartbeat, RejectedBlock, MalformedShare, LimitedBlock (refused unheard
    by the per-rig limits): one metric per route and fate."""
    if outcome.reason == "malformed":
        fate = "Malformed"
    elif outcome.reason in LIMIT_REASONS:
        fate = "Limited"
    else:
        fate = "Accepted" if outcome.accepted else "Rejected"
    route = outcome.kind if outcome.kind in _ROUTE_NAMES else "Unknown"
    return f"{fate}{route.title()}"


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    outcome = process(event, _default_service())
    metrics.add_metric(name=_metric_name(outcome), unit=MetricUnit.Count, value=1)
    return {"accepted": outcome.accepted, "reason": outcome.reason}


class _Batch:
    """One Kinesis batch: each record through ``receive``, tallied for the metrics, and
    the accepted heartbeats kept for the live push."""

    def __init__(self, service: IngestService) -> None:
        self.service = service
        self.tally: Counter[str] = Counter()
        self.heartbeats: list[tuple[str, Heartbeat, int]] = []

    def record(self, record: KinesisStreamRecord) -> None:
        received = receive(record.kinesis.data_as_bytes(), self.service)
        self.tally[_metric_name(received.outcome)] += 1
        if received.outcome.accepted and isinstance(received.message, Heartbeat):
            self.heartbeats.append((received.worker_id, received.message, received.received_at))


def push_live(live: LiveService | None, heartbeats: list[tuple[str, Heartbeat, int]]) -> None:
    """Best effort: the heartbeats are already handled, so a failed push is only logged."""
    if live is None or not heartbeats:
        return
    try:
        report = live.publish_telemetry(heartbeats)
    except Exception:  # live updates must never fail (and so replay) a processed batch
        logger.exception("live push failed")
        metrics.add_metric(name="LivePushFailed", unit=MetricUnit.Count, value=1)
        return
    if report.frames:
        metrics.add_metric(name="LiveFrames", unit=MetricUnit.Count, value=report.frames)
    if report.failed:
        metrics.add_metric(name="LivePostsFailed", unit=MetricUnit.Count, value=report.failed)


@metrics.log_metrics
@logger.inject_lambda_context
def batch_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    batch = _Batch(_default_service())
    processor = BatchProcessor(event_type=EventType.KinesisDataStreams)
    response = process_partial_response(
        event=event, record_handler=batch.record, processor=processor, context=context
    )
    for name, count in sorted(batch.tally.items()):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
    failed = len(response.get("batchItemFailures", []))
    if failed:
        metrics.add_metric(name="RecordsRetried", unit=MetricUnit.Count, value=failed)
        logger.warning("records failed: Lambda retries from the first", extra={"failed": failed})
    push_live(_default_live(), batch.heartbeats)
    return dict(response)
