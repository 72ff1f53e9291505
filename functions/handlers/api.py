"""The HTTP API's Lambda: the FastAPI app behind API Gateway (HTTP API), through Mangum.

Built on the first request of a cold start: settings from the environment, the JWT signing
secret from Secrets Manager (``XENBLOCKS_JWT_SECRET_ARN``), certificates from IoT Core and
commands through the account's IoT data endpoint.
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from mangum import Mangum

from functions.api.app import create_app
from functions.api.context import ApiContext
from functions.dal.tables import Tables
from functions.handlers.secrets import with_jwt_secret
from functions.observability import logger
from functions.ports.aws_iot import IotCertificateAuthority, IotDevicePublisher, iot_data_client
from functions.settings import Settings, load_settings

metrics = Metrics(namespace="XenBlocks", service="api")
tracer = Tracer(service="api")
_handler: Mangum | None = None


def build_context(settings: Settings) -> ApiContext:
    settings = with_jwt_secret(settings)
    iot = boto3.client("iot", region_name=settings.aws_region)
    data = iot_data_client(settings.aws_region, settings.mqtt_host)
    return ApiContext(
        settings=settings,
        tables=Tables(settings),
        ca=IotCertificateAuthority(iot, data_client=data, policy_name=settings.iot_policy_name),
        publisher=IotDevicePublisher(data),
    )


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _handler
    if _handler is None:  # cold start
        _handler = Mangum(create_app(build_context(load_settings())), lifespan="off")
    response: dict[str, Any] = _handler(event, context)
    # Api2xx / Api4xx / Api5xx: alarms watch the 5xx count.
    status = int(response.get("statusCode", 500))
    metrics.add_metric(name=f"Api{status // 100}xx", unit=MetricUnit.Count, value=1)
    return response
