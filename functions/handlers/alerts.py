"""The scheduled alerts job's Lambda: EventBridge invokes it every minute.

It evaluates every enabled rule, fires the events cooldowns allow, delivers them to their
webhooks, Telegram chats, Discord channels and e-mail addresses, and reports what it did as
metrics and one log line. An infrastructure error that stops the whole run (the rules
cannot be read) propagates; the next minute runs again, and cooldowns make a repeated run
harmless.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from functions.dal.alerts import AlertRepository
from functions.dal.insights import InsightsRepository
from functions.dal.tables import Tables
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.handlers.schedule import correlated_run, scheduled_time
from functions.handlers.secrets import with_jwt_secret
from functions.logic.alert_channels import ChannelSenders
from functions.logic.alerts import AlertJob, AlertRunSummary
from functions.observability import logger
from functions.ports.chat import HttpDiscordSender, HttpTelegramSender
from functions.ports.devices import DeviceCommands, DevicePublisher
from functions.ports.email import email_sender
from functions.ports.webhooks import UrllibWebhookSender, WebhookSender
from functions.settings import Settings, load_settings

metrics = Metrics(namespace="XenBlocks", service="alerts")

# Built on the first event of a cold start, reused by the following ones.
_deps: tuple[Settings, Tables, WebhookSender, ChannelSenders, DevicePublisher] | None = None

# Summary field → metric name.
_METRICS = {
    "rules_evaluated": "AlertRulesEvaluated",
    "events_fired": "AlertEventsFired",
    "suppressed": "AlertEventsSuppressed",
    "quiet": "AlertEventsQuiet",
    "rate_limited": "AlertEventsRateLimited",
    "deliveries_ok": "AlertDeliveriesOk",
    "deliveries_failed": "AlertDeliveriesFailed",
    "channel_failures": "AlertChannelDeliveriesFailed",
    "rule_errors": "AlertRuleErrors",
    "actions_sent": "AlertActionsSent",
}
# Deliveries refused because the webhook's host resolved to a non-public address.
BLOCKED_METRIC = "AlertWebhooksBlocked"


def run_alerts(
    settings: Settings,
    tables: Tables,
    sender: WebhookSender,
    now: int,
    channels: ChannelSenders | None = None,
    publisher: DevicePublisher | None = None,
) -> AlertRunSummary:
    """One run of the job (the Lambda below, the local stack's scheduler, tests);
    ``publisher`` reaches the rigs' control topics for the rules' automatic actions."""
    job = AlertJob(
        settings,
        AlertRepository(tables),
        WorkerRepository(tables),
        TelemetryRepository(tables),
        sender,
        channels,
        insights=InsightsRepository(tables),
        commands=DeviceCommands(publisher) if publisher is not None else None,
    )
    return job.run(now)


def channel_senders(settings: Settings) -> ChannelSenders:
    """Telegram, Discord and e-mail as the settings say (SES in AWS, SMTP locally)."""
    return ChannelSenders(
        telegram=HttpTelegramSender.from_settings(settings),
        discord=HttpDiscordSender.from_settings(settings),
        email=email_sender(settings),
    )


def _dependencies() -> tuple[Settings, Tables, WebhookSender, ChannelSenders, DevicePublisher]:
    global _deps
    if _deps is None:
        from functions.ports.aws_iot import IotDevicePublisher, iot_data_client

        # The JWT secret keys the sealed channel secrets (functions.logic.secret_box).
        settings = with_jwt_secret(load_settings())
        sender = UrllibWebhookSender.from_settings(settings, on_blocked=_count_blocked)
        # Automatic actions go to the rigs' control topics.
        publisher = IotDevicePublisher(iot_data_client(settings.aws_region, settings.mqtt_host))
        _deps = (settings, Tables(settings), sender, channel_senders(settings), publisher)
    return _deps


def _count_blocked() -> None:
    metrics.add_metric(name=BLOCKED_METRIC, unit=MetricUnit.Count, value=1)


@metrics.log_metrics
@logger.inject_lambda_context
@correlated_run
def handler(event: dict[str, Any], context: object) -> dict[str, int]:
    settings, tables, sender, channels, publisher = _dependencies()
    now = scheduled_time(event)
    summary = run_alerts(settings, tables, sender, now, channels, publisher).as_dict()
    for field, metric in _METRICS.items():
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=summary[field])
    logger.info("alerts run", extra=summary)
    return summary
