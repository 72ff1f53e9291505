"""The IoT rules' Lambda: one message a rig published, routed by ``functions.routing``.

A malformed event or payload is refused here: a warning log line, a ``Malformed`` metric,
nothing written, and no exception (retrying cannot fix it). A message the logic refuses is
logged and counted as ``Rejected``. Infrastructure errors (DynamoDB throttling, a publish
that fails) propagate, so Lambda retries the event; every write is idempotent, so a retry
never counts anything twice.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from functions.dal.blocks import BlockRepository
from functions.dal.leases import LeaseRepository
from functions.dal.shares import ShareRepository
from functions.dal.tables import Tables
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.logic.ingest import IngestService, Outcome
from functions.ports.devices import DeviceCommands, DevicePublisher
from functions.routing import ROUTES, IngestEvent
from functions.settings import Settings, load_settings
from protocol.codec import parse_uplink
from protocol.errors import ProtocolError

logger = Logger(service="ingest")
metrics = Metrics(namespace="XenBlocks", service="ingest")

_service: IngestService | None = None
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
    )


def configure(service: IngestService | None) -> None:
    """Use ``service`` for the following events (the local stack and tests); None resets."""
    global _service
    _service = service


def _default_service() -> IngestService:
    global _service
    if _service is None:  # first event of a cold start
        from functions.ports.aws_iot import IotDevicePublisher, iot_data_client

        settings = load_settings()
        data = iot_data_client(settings.aws_region, settings.mqtt_host)
        _service = build_service(settings, Tables(settings), IotDevicePublisher(data))
    return _service


def process(event: object, service: IngestService) -> Outcome:
    """Parse one rule event and hand it to the logic; log what happened."""
    try:
        ingest = IngestEvent.from_event(event)
        message = parse_uplink(ingest.route.suffix, ingest.payload)
    except ProtocolError as error:
        route = event.get("route") if isinstance(event, dict) else None
        kind = route if isinstance(route, str) and len(route) <= 32 else "unknown"
        logger.warning(
            "malformed message refused",
            extra={"route": kind, "field": error.field, "error": error.reason},
        )
        return Outcome(False, "malformed", kind)
    if message.worker_id != ingest.worker_id:
        # The topic is tied to the certificate; the payload's id is only the rig's say-so.
        logger.info(
            "payload worker_id differs from the topic's; the topic's is used",
            extra={"worker_id": ingest.worker_id, "payload_worker_id": message.worker_id},
        )
    outcome = service.accept(ingest.worker_id, message, ingest.received_at_ms // 1000)
    log = logger.info if outcome.accepted else logger.warning
    log(
        "message accepted" if outcome.accepted else "message rejected",
        extra={"route": outcome.kind, "worker_id": ingest.worker_id, "reason": outcome.reason},
    )
    return outcome


def _metric_name(outcome: Outcome) -> str:
    """E.g. AcceptedHeartbeat, RejectedBlock, MalformedShare: one metric per route and fate."""
    if outcome.reason == "malformed":
        fate = "Malformed"
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
