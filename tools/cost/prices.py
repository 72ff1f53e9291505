"""AWS list prices, us-east-1, written down once with the date they were read: nothing else
in ``tools.cost`` holds a dollar figure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Prices:
    """AWS list prices (USD, us-east-1, on-demand, no free tier) and when they were read."""

    as_of: str
    region: str
    # IoT Core (https://aws.amazon.com/iot-core/pricing/)
    iot_connection_minute: float  # per connection-minute
    iot_message: float  # per message (5 KB increments), first billion a month
    iot_rule_triggered: float  # per rule triggered
    iot_action_executed: float  # per action executed
    # Lambda, arm64 (https://aws.amazon.com/lambda/pricing/)
    lambda_request: float
    lambda_gb_second: float
    # DynamoDB on-demand (https://aws.amazon.com/dynamodb/pricing/on-demand/)
    dynamodb_write_unit: float
    dynamodb_read_unit: float
    dynamodb_storage_gb_month: float
    dynamodb_pitr_gb_month: float
    # API Gateway (https://aws.amazon.com/api-gateway/pricing/)
    http_api_request: float
    websocket_message: float  # 32 KB increments
    websocket_connection_minute: float
    # CloudFront (https://aws.amazon.com/cloudfront/pricing/), North America/Europe
    cloudfront_gb: float
    cloudfront_https_request: float
    # CloudWatch (https://aws.amazon.com/cloudwatch/pricing/)
    logs_ingested_gb: float
    logs_stored_gb_month: float
    custom_metric_month: float
    alarm_month: float
    dashboard_month: float
    # Secrets Manager (https://aws.amazon.com/secrets-manager/pricing/)
    secret_month: float
    # SQS (https://aws.amazon.com/sqs/pricing/)
    sqs_request: float
    # Kinesis Data Streams, provisioned (https://aws.amazon.com/kinesis/data-streams/pricing/)
    kinesis_shard_hour: float
    kinesis_put_unit: float  # per PUT payload unit (25 KB)


PRICES = Prices(
    as_of="2025-06-01",
    region="us-east-1",
    iot_connection_minute=0.08 / 1e6,
    iot_message=1.00 / 1e6,
    iot_rule_triggered=0.15 / 1e6,
    iot_action_executed=0.15 / 1e6,
    lambda_request=0.20 / 1e6,
    lambda_gb_second=0.0000133334,
    dynamodb_write_unit=0.625 / 1e6,
    dynamodb_read_unit=0.125 / 1e6,
    dynamodb_storage_gb_month=0.25,
    dynamodb_pitr_gb_month=0.20,
    http_api_request=1.00 / 1e6,
    websocket_message=1.00 / 1e6,
    websocket_connection_minute=0.25 / 1e6,
    cloudfront_gb=0.085,
    cloudfront_https_request=0.01 / 1e4,
    logs_ingested_gb=0.50,
    logs_stored_gb_month=0.03,
    custom_metric_month=0.30,
    alarm_month=0.10,
    dashboard_month=3.00,
    secret_month=0.40,
    sqs_request=0.40 / 1e6,
    kinesis_shard_hour=0.015,
    kinesis_put_unit=0.014 / 1e6,
)

# AWS bills a month as 730 hours.
MONTH_SECONDS = 730 * 3600
DAYS_PER_MONTH = MONTH_SECONDS / 86_400
