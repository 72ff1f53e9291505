"""The scheduled jobs' Lambdas (EventBridge schedules): settlement, prices, reputation, the
fleet sweep (silent workers offline, fleet figures), the network (the XenBlocks difficulty
followed, changes pushed to leased rigs, leased blocks confirmed with the node), insights
(rigs' baselines and GPU-model figures).

One entry point per job, so each Lambda gets only its own schedule and permissions. A job
that fails raises: the schedule runs it again next time, and every job is idempotent.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from functions.dal.tables import Tables
from functions.handlers import live
from functions.handlers.schedule import correlated_run, scheduled_time
from functions.logic.jobs import Jobs
from functions.observability import logger
from functions.settings import load_settings

metrics = Metrics(namespace="XenBlocks", service="jobs")

_jobs: Jobs | None = None


def configure(jobs: Jobs | None) -> None:
    """Use ``jobs`` for the following invocations (tests); None resets."""
    global _jobs
    _jobs = jobs


def _default_jobs() -> Jobs:
    global _jobs
    if _jobs is None:  # cold start
        from functions.ports.aws_iot import IotDevicePublisher, iot_data_client

        settings = load_settings()
        publisher = IotDevicePublisher(iot_data_client(settings.aws_region, settings.mqtt_host))
        _jobs = Jobs(settings, Tables(settings), publisher)
    return _jobs


def _count(name: str, value: int) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


@metrics.log_metrics
@logger.inject_lambda_context
@correlated_run
def settle_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    run = _default_jobs().settle(scheduled_time(event))
    _count("LeasesSettled", run.settled)
    _count("LeasesSettleRetry", run.retry_later)
    logger.info("settlement run", extra={"settled": run.settled, "retry": run.retry_later})
    return {"settled": run.settled, "already": run.already, "retry_later": run.retry_later}


@metrics.log_metrics
@logger.inject_lambda_context
@correlated_run
def pricing_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    index = _default_jobs().refresh_prices(scheduled_time(event))
    _count("PriceIndexModels", len(index.models))
    return {"models": sorted(index.models)}


@metrics.log_metrics
@logger.inject_lambda_context
@correlated_run
def reputation_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    refreshed = _default_jobs().refresh_reputation(scheduled_time(event))
    _count("ReputationsRefreshed", refreshed)
    return {"refreshed": refreshed}


@metrics.log_metrics
@logger.inject_lambda_context
@correlated_run
def fleet_stats_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    totals = _default_jobs().aggregate_fleet(scheduled_time(event))
    values = totals.fleet_values()
    _count("FleetOnlineWorkers", int(values.get("online_workers", 0)))
    _count("WorkersMarkedOffline", totals.marked_offline)
    logger.info("fleet sweep", extra={"checked": totals.checked, "offline": totals.marked_offline})
    live.broadcast_fleet(_default_jobs().settings, values, totals.ts)
    return {
        "ts": totals.ts,
        "online_workers": values.get("online_workers", 0),
        "checked": totals.checked,
        "marked_offline": totals.marked_offline,
    }


@metrics.log_metrics
@logger.inject_lambda_context
@correlated_run
def network_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    run = _default_jobs().follow_network(scheduled_time(event))
    if run.status == "failed":
        _count("NetworkReadFailed", 1)
    if run.status == "changed":
        _count("NetworkDifficultyChanged", 1)
    _count("NetworkPushes", run.pushed)
    if run.push_failures:
        _count("NetworkPushFailures", run.push_failures)
    if run.confirmed:
        _count("BlocksConfirmedByNode", run.confirmed)
    if run.confirm_failures:
        _count("NetworkConfirmFailed", run.confirm_failures)
    log = logger.warning if run.status in ("failed", "no_node") else logger.info
    log(
        "network run",
        extra={
            "status": run.status,
            "difficulty": run.difficulty,
            "previous": run.previous,
            "error": run.error,
            "pushed": run.pushed,
            "confirmed": run.confirmed,
            "missing": run.confirm_missing,
            "notes": run.notes,
        },
    )
    return {
        "status": run.status,
        "difficulty": run.difficulty,
        "previous": run.previous,
        "pushed": run.pushed,
        "confirmed": run.confirmed,
    }


@metrics.log_metrics
@logger.inject_lambda_context
@correlated_run
def insights_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    run = _default_jobs().refresh_insights(scheduled_time(event))
    _count("BaselinesBuilt", run.baselines)
    if run.failures:
        _count("BaselineFailures", run.failures)
    logger.info(
        "insights run",
        extra={
            "slice": run.slice,
            "baselines": run.baselines,
            "too_little_history": run.too_little_history,
            "failures": run.failures,
            "models": run.models,
        },
    )
    return {"slice": run.slice, "baselines": run.baselines, "models": run.models}
