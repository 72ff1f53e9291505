"""The scheduled alerts job's Lambda: EventBridge invokes it every minute.

It evaluates every enabled rule, fires the events cooldowns allow, delivers them to their
webhooks and reports what it did as metrics and one log line. An infrastructure error that
stops the whole run (the rules cannot be read) propagates; the next minute runs again, and
cooldowns make a repeated run harmless.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from functions.dal.alerts import AlertRepository
from functions.dal.tables import Tables
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.handlers.schedule import correlated_run, scheduled_time
from functions.logic.alerts import AlertJob, AlertRunSummary
from functions.observability import logger
from functions.ports.webhooks import UrllibWebhookSender, WebhookSender
from functions.settings import Settings, load_settings

metrics = Metrics(namespace="XenBlocks", service="alerts")

# Built on the first event of a cold start, reused by the following ones.
_deps: tuple[Settings, Tables, WebhookSender] | None = None

# Summary field → metric name.
_METRICS = {
    "rules_evaluated": "AlertRulesEvaluated",
    "events_fired": "AlertEventsFired",
    "suppressed": "AlertEventsSuppressed",
    "deliveries_ok": "AlertDeliveriesOk",
    "deliveries_failed": "AlertDeliveriesFailed",
    "rule_errors": "AlertRuleErrors",
}
# Deliveries refused because the webhook's host resolved to a non-public address.
BLOCKED_METRIC = "AlertWebhooksBlocked"


def run_alerts(
    settings: Settings, tables: Tables, sender: WebhookSender, now: int
) -> AlertRunSummary:
    """One run of the job (the Lambda below, the local stack's scheduler, tests)."""
    job = AlertJob(
        settings,
        AlertRepository(tables),
        WorkerRepository(tables),
        TelemetryRepository(tables),
        sender,
    )
    return job.run(now)


def _dependencies() -> tuple[Settings, Tables, WebhookSender]:
    global _deps
    if _deps is None:
        settings = load_settings()
        sender = UrllibWebhookSender.from_settings(settings, on_blocked=_count_blocked)
        _deps = (settings, Tables(settings), sender)
    return _deps


def _count_blocked() -> None:
    metrics.add_metric(name=BLOCKED_METRIC, unit=MetricUnit.Count, value=1)


@metrics.log_metrics
@logger.inject_lambda_context
@correlated_run
def handler(event: dict[str, Any], context: object) -> dict[str, int]:
    settings, tables, sender = _dependencies()
    summary = run_alerts(settings, tables, sender, scheduled_time(event)).as_dict()
    for field, metric in _METRICS.items():
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=summary[field])
    logger.info("alerts run", extra=summary)
    return summary
