"""The live updates' Lambdas: the WebSocket API's routes and the stream-driven broadcaster.

- ``connect_handler`` (``$connect``): a session token in the query string (``?token=``)
  signs the connection in; none leaves it anonymous; a bad one refuses the handshake (401).
- ``disconnect_handler`` (``$disconnect``): forgets the connection.
- ``default_handler`` (``$default``): ``{"action": "snapshot"}`` or ``{"action": "ping"}``.
  API Gateway cannot push to a connection before ``$connect`` returns, so a dashboard asks
  for its snapshot as soon as the socket opens.
- ``stream_handler``: DynamoDB Streams of the workers, leases, blocks and alerts tables. Each
  batch becomes at most one frame per connection (the event source batches for a second).
  Live updates are best effort: a failed post is counted, never retried, so the batch is
  never reported as failed (a retry would send every other connection its frame again).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from functions.dal.tables import Tables
from functions.errors import InvalidInput, Unauthorized
from functions.handlers.secrets import with_jwt_secret
from functions.logic.live import error_reply
from functions.logic.live_updates import LiveService, PublishReport
from functions.observability import logger
from functions.ports.broadcast import ApiGatewayBroadcaster, BroadcastError
from functions.settings import Settings, load_settings

metrics = Metrics(namespace="XenBlocks", service="live")

_service: LiveService | None = None


def configure(service: LiveService | None) -> None:
    """Use ``service`` for the following invocations (tests); None resets."""
    global _service
    _service = service


def build_service(settings: Settings) -> LiveService:
    if not settings.live_endpoint_url:
        raise RuntimeError("XENBLOCKS_LIVE_ENDPOINT_URL is not set: no WebSocket API to post to")
    broadcaster = ApiGatewayBroadcaster.for_endpoint(
        settings.live_endpoint_url, settings.aws_region
    )
    return LiveService(with_jwt_secret(settings), Tables(settings), broadcaster)


def _default_service() -> LiveService:
    global _service
    if _service is None:  # cold start
        _service = build_service(load_settings())
    return _service


def _count(name: str, value: int = 1) -> None:
    if value:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def _connection_id(event: dict[str, Any]) -> str:
    connection_id = event.get("requestContext", {}).get("connectionId")
    if not isinstance(connection_id, str) or not connection_id:
        raise ValueError("not a WebSocket route event: requestContext.connectionId is missing")
    return connection_id


@metrics.log_metrics
@logger.inject_lambda_context
def connect_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    connection_id = _connection_id(event)
    token = (event.get("queryStringParameters") or {}).get("token")
    try:
        connection = _default_service().connect(connection_id, token)
    except Unauthorized as error:
        _count("LiveConnectRefused")
        logger.info("live connection refused", extra={"reason": str(error)})
        return {"statusCode": 401, "body": str(error)}
    _count("LiveConnect")
    logger.info("live connection", extra={"signed_in": connection.subject != "anonymous"})
    return {"statusCode": 200}


@metrics.log_metrics
@logger.inject_lambda_context
def disconnect_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    _default_service().disconnect(_connection_id(event))
    _count("LiveDisconnect")
    return {"statusCode": 200}


@metrics.log_metrics
@logger.inject_lambda_context
def default_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    service = _default_service()
    connection_id = _connection_id(event)
    body = event.get("body") or ""
    try:
        reply = service.request(connection_id, body)
    except InvalidInput as error:
        _count("LiveBadRequest")
        logger.info("live request refused", extra={"error": str(error)})
        reply = error_reply(error, service.clock())
    try:
        service.fanout.send(connection_id, reply.model_dump_json())  # forgets a gone one
    except BroadcastError as error:
        _count("LivePostFailed")
        logger.warning("live reply failed", extra={"error": str(error)})
    _count(f"LiveRequest{reply.type.value.title()}")
    return {"statusCode": 200}


def _report(report: PublishReport) -> dict[str, Any]:
    _count("LiveRecords", report.records)
    _count("LiveRecordsMalformed", report.malformed)
    _count("LiveFrames", report.frames)
    _count("LiveConnectionsGone", report.gone)
    _count("LivePostFailed", report.failed)
    summary = {
        "records": report.records,
        "skipped": report.skipped,
        "malformed": report.malformed,
        "messages": report.messages,
        "frames": report.frames,
        "connections": report.connections,
        "gone": report.gone,
        "failed": report.failed,
    }
    logger.info("live fan-out", extra=summary)
    return summary


@metrics.log_metrics
@logger.inject_lambda_context
def stream_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    records = event.get("Records")
    if not isinstance(records, list):
        raise ValueError("not a DynamoDB Streams event: Records is missing")
    _report(_default_service().publish_records(records))
    return {"batchItemFailures": []}


def broadcast_fleet(settings: Settings, values: dict[str, float], as_of: int) -> None:
    """The aggregation job's public fleet figures to every dashboard (when live is on).

    The figures are already stored, so a failure here is logged and counted, not raised."""
    if not settings.live_endpoint_url:
        return
    global _service
    try:
        if _service is None:
            _service = build_service(settings)
        _report(_service.broadcast_fleet(values, as_of))
    except Exception:
        _count("LiveFleetBroadcastFailed")
        logger.exception("fleet figures not broadcast")
