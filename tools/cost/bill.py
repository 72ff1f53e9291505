"""The fleet's monthly bill, line by line, from a measurement, the prices, the deployment's
figures (``infra.sizing``) and the assumptions the run cannot measure."""

from __future__ import annotations

import math
from dataclasses import dataclass

from functions.dal.specs import ALL_TABLES
from functions.settings import Settings
from infra.sizing import (
    BATCH_SIZE,
    INGEST,
    INGEST_BATCH,
    JOBS,
    LIVE,
    STREAM_BATCH_WINDOW_SECONDS,
    VERIFY,
    alarm_count,
)
from tools.cost.meter import Usage
from tools.cost.prices import DAYS_PER_MONTH, MONTH_SECONDS, PRICES, Prices
from tools.cost.sample import Measurement

# The insights job rebuilds one slice of the fleet per run (each rig once a day); the
# sample runs it over every rig (``insights_slices=1``), so a run's per-rig work is billed
# at that share.
WORKER_SHARE_PER_RUN = {"insights": 1 / Settings.model_fields["insights_slices"].default}

# What the deployment is comes from infra/ (infra.sizing): each function's memory, the
# jobs' schedules, the batches, the alarms. These are AWS's own figures.
# A Kinesis shard takes 1,000 records a second.
SHARD_RECORDS_PER_SECOND = 1000
JOBS_BY_KEY = {job.key: job for job in JOBS}
# Lambda gives a function one full vCPU at 1,769 MB and a share below it.
FULL_CPU_MB = 1769
# CloudWatch Logs meters about 26 bytes of metadata per event on top of the message.
LOG_EVENT_OVERHEAD = 26


@dataclass(frozen=True)
class Assumptions:
    """What the in-process run cannot measure. Each has a ``xenblocks cost`` flag."""

    dynamodb_latency_ms: float = 6.0  # one request, in-region, from Lambda
    iot_publish_latency_ms: float = 10.0
    registers_per_day: float = 1.0  # reconnects (a register and its ack each)
    status_per_day: float = 2.0
    blocks_per_day: float = 10.0  # each followed by the node's verdict (its own message)
    # The network job pushes set_config to every leased rig when the difficulty rises.
    difficulty_rises_per_day: float = 12.0
    leased_share: float = 0.5  # share of the rigs under a lease at any moment
    workers_per_owner: int = 5
    dashboard_share: float = 0.1  # share of the time an owner has a dashboard open
    api_requests_per_worker: float = 500.0  # HTTP API calls per worker-month
    dashboard_mb_per_worker: float = 10.0  # CloudFront bytes per worker-month
    stream_shards: int = 4  # DynamoDB stream shards feeding the broadcaster
    custom_metrics: int = 40  # distinct metric names x dimensions the functions emit


@dataclass(frozen=True)
class Line:
    service: str
    item: str
    monthly: float  # the whole fleet's monthly cost, USD
    basis: str  # how it was counted

    def per_worker(self, workers: int) -> float:
        return self.monthly / workers


def _billed_seconds(
    usage: Usage, memory_mb: int, assumptions: Assumptions, *, publishes: bool
) -> float:
    """Billed Lambda seconds per invocation: our CPU time at this memory's CPU share, plus
    the wait on DynamoDB (and IoT) round trips, rounded up to the millisecond."""
    cpu = usage.per_invocation(usage.cpu_seconds) * max(1.0, FULL_CPU_MB / memory_mb)
    wait = usage.per_invocation(usage.dynamodb_calls) * assumptions.dynamodb_latency_ms / 1000
    if publishes:
        wait += usage.per_invocation(usage.publishes) * assumptions.iot_publish_latency_ms / 1000
    return math.ceil((cpu + wait) * 1000) / 1000


def bill(
    measurement: Measurement,
    workers: int,
    *,
    prices: Prices = PRICES,
    assumptions: Assumptions = Assumptions(),
) -> list[Line]:
    """The fleet's monthly cost, line by line, from the measurement and the prices."""
    p, a = prices, assumptions
    usage = measurement.usage
    sample = measurement.sample_workers
    hb = usage["heartbeat"]
    reg = usage["register"]
    blk = usage["block"]
    vrd = usage["verdict"]
    heartbeats = workers * MONTH_SECONDS / measurement.schedule.heartbeat_seconds
    registers = workers * a.registers_per_day * DAYS_PER_MONTH
    statuses = workers * a.status_per_day * DAYS_PER_MONTH
    blocks = workers * a.blocks_per_day * DAYS_PER_MONTH
    verdicts = blocks  # one relayed answer per block
    # Status messages cost like a register's write without the ack (not measured apart).
    # Messages invoking ingest one by one; heartbeats come in batches (below).
    messages = {"register": (reg, registers), "block": (blk, blocks), "verdict": (vrd, verdicts)}
    uplink = heartbeats + registers + statuses + blocks + verdicts
    brokered = registers + statuses + blocks + verdicts  # heartbeats skip the broker
    downlink = sum(u.per_invocation(u.publishes) * n for u, n in messages.values())
    schedule = measurement.schedule
    # The heartbeat stream: enough shards for the fleet's rate, batches of up to
    # BATCH_SIZE records or one batching window per shard.
    per_second = heartbeats / MONTH_SECONDS
    shards = max(schedule.shards, math.ceil(per_second / SHARD_RECORDS_PER_SECOND))
    batches = max(shards * MONTH_SECONDS / max(1, schedule.batch_seconds), heartbeats / BATCH_SIZE)
    minutes = workers * MONTH_SECONDS / 60
    lines = [
        Line(
            "IoT Core",
            "connectivity",
            minutes * p.iot_connection_minute,
            f"{minutes:,.0f} connection-minutes",
        ),
        Line(
            "IoT Core",
            "messages",
            (brokered + downlink + workers * a.registers_per_day * DAYS_PER_MONTH) * p.iot_message,
            f"{brokered:,.0f} uplink via the broker (heartbeats use Basic Ingest: none), "
            f"{downlink:,.0f} downlink (measured per message), one CONNECT per reconnect",
        ),
        Line(
            "IoT Core",
            "rules and actions",
            uplink * (p.iot_rule_triggered + p.iot_action_executed),
            f"{uplink:,.0f} messages x (1 rule + 1 action: Kinesis for heartbeats, Lambda "
            "for the rest)",
        ),
        Line(
            "Kinesis",
            "heartbeat stream",
            shards * 730 * p.kinesis_shard_hour + heartbeats * p.kinesis_put_unit,
            f"{shards} shard(s) x 730 h, {heartbeats:,.0f} PUT units (a heartbeat is < 25 KB)",
        ),
    ]
    # The network job's set_config to each leased rig when the difficulty rises (never to
    # idle rigs, never on a drop: rigs read the node themselves): a publish, its wait in
    # the job, and the lease read that found the rig (0.5 unit of a BatchGetItem).
    pushes = workers * a.leased_share * a.difficulty_rises_per_day * DAYS_PER_MONTH
    push_gbs = pushes * a.iot_publish_latency_ms / 1000 * JOBS_BY_KEY["network"].memory_mb / 1024
    lines.append(
        Line(
            "IoT Core",
            "difficulty pushes to leased rigs",
            pushes * p.iot_message
            + push_gbs * p.lambda_gb_second
            + pushes * 0.5 * p.dynamodb_read_unit,
            f"{pushes:,.0f} set_config ({a.difficulty_rises_per_day:g} rises a day x "
            f"{a.leased_share:.0%} of rigs leased; assumed), with their job time and lease reads",
        )
    )

    # Lambda: ingest (per message), jobs (per run; the per-worker part scales), live.
    ingest_requests = registers + statuses + blocks + verdicts + batches
    # A batch: our CPU per heartbeat at the function's CPU share and its writes' round
    # trips (one by one), plus the batch's own reads (who is connected) and posts.
    hb_queries = hb.requests["Query"]
    hb_seconds = hb.per_record(hb.cpu_seconds) * max(1.0, FULL_CPU_MB / INGEST_BATCH.memory_mb) + (
        hb.per_record(hb.dynamodb_calls - hb_queries) * a.dynamodb_latency_ms / 1000
    )
    batch_seconds = hb.per_invocation(hb_queries) * a.dynamodb_latency_ms / 1000
    ingest_gbs = (
        (heartbeats * hb_seconds + batches * batch_seconds) * INGEST_BATCH.memory_mb / 1024
        + (registers + statuses)
        * _billed_seconds(reg, INGEST.memory_mb, a, publishes=True)
        * INGEST.memory_mb
        / 1024
        + blocks
        * _billed_seconds(blk, VERIFY.memory_mb, a, publishes=False)
        * VERIFY.memory_mb
        / 1024
        + verdicts
        * _billed_seconds(vrd, INGEST.memory_mb, a, publishes=False)
        * INGEST.memory_mb
        / 1024
    )
    job_runs = {job.key: MONTH_SECONDS / 60 / job.every_minutes for job in JOBS}
    job_requests = sum(job_runs.values())
    job_gbs = 0.0
    job_wru = job_rru = 0.0
    job_log = 0.0
    for job, runs in job_runs.items():
        full = usage[f"job:{job}"]
        empty = measurement.empty_jobs[f"job:{job}"]
        share = WORKER_SHARE_PER_RUN.get(job, 1.0)
        per_worker = {
            "wru": max(
                0.0, full.per_invocation(full.write_units) - empty.per_invocation(empty.write_units)
            )
            * share
            / sample,
            "rru": max(
                0.0, full.per_invocation(full.read_units) - empty.per_invocation(empty.read_units)
            )
            * share
            / sample,
        }
        job_wru += runs * (empty.per_invocation(empty.write_units) + per_worker["wru"] * workers)
        job_rru += runs * (empty.per_invocation(empty.read_units) + per_worker["rru"] * workers)
        memory_mb = JOBS_BY_KEY[job].memory_mb
        seconds_sample = _billed_seconds(full, memory_mb, a, publishes=True)
        seconds_empty = _billed_seconds(empty, memory_mb, a, publishes=True)
        extra = max(0.0, seconds_sample - seconds_empty) * share
        seconds = seconds_empty + extra * workers / sample
        job_gbs += runs * seconds * memory_mb / 1024
        job_log += runs * (
            full.per_invocation(full.log_bytes)
            + LOG_EVENT_OVERHEAD * full.per_invocation(full.log_events)
        )
    # Reputation is rewritten once a day even when nothing moved: the warm-up's runs wrote
    # every worker's first reputation, which is what such a rewrite costs.
    first_reputation = usage.get("warmup:reputation", Usage())
    job_wru += first_reputation.write_units / sample * workers * DAYS_PER_MONTH

    # Live updates: every changed item on a streamed table is one stream record; the
    # broadcaster runs once per batch (a window's records per shard) and looks up the
    # owner's connections (one Query, 0.5 unit) per record; an open dashboard gets a frame.
    records = sum(u.per_invocation(u.stream_records) * n for u, n in messages.values())
    records += heartbeats * hb.per_record(hb.stream_records)
    records += sum(
        runs
        * usage[f"job:{job}"].per_invocation(usage[f"job:{job}"].stream_records)
        * workers
        / sample
        for job, runs in job_runs.items()
    )
    windows = MONTH_SECONDS / STREAM_BATCH_WINDOW_SECONDS * a.stream_shards
    stream_invocations = min(records, windows)
    stream_memory_mb = LIVE["stream"].memory_mb
    stream_gbs = stream_invocations * (a.dynamodb_latency_ms / 1000) * 2 * stream_memory_mb / 1024
    live_rru = records * 0.5
    frames = records * a.dashboard_share
    # Heartbeats reach dashboards from the batches: each batch finds who is connected
    # (measured), reads each signed-in viewer's leases (one Query, 0.5 unit) and posts one
    # frame per viewer with a heartbeat in it (IoT publish-like latency each).
    viewers = workers / a.workers_per_owner * a.dashboard_share
    # A batch is one shard's records over its window (or fewer seconds, when 10,000 records
    # come sooner); a viewer's rigs are spread over the shards by worker id. The chance a
    # batch holds at least one of them (Poisson, from the rigs' expected heartbeats in it):
    span = min(max(1, schedule.batch_seconds), BATCH_SIZE / (per_second / shards))
    expected = a.workers_per_owner / shards * span / schedule.heartbeat_seconds
    with_news = 1 - math.exp(-expected)
    telemetry_frames = viewers * batches * with_news
    batch_rru = batches * (hb.per_invocation(hb.read_units) + viewers * 0.5)
    ingest_gbs += telemetry_frames * a.iot_publish_latency_ms / 1000 * INGEST_BATCH.memory_mb / 1024
    lines += [
        Line(
            "Lambda",
            "ingest requests",
            ingest_requests * p.lambda_request,
            f"{ingest_requests:,.0f} invocations (one per message; heartbeats: {batches:,.0f} "
            f"batches)",
        ),
        Line(
            "Lambda",
            "ingest GB-seconds",
            ingest_gbs * p.lambda_gb_second,
            f"{ingest_gbs:,.0f} GB-s (arm64: measured CPU at the memory's CPU share, plus "
            f"{a.dynamodb_latency_ms:g} ms per DynamoDB call)",
        ),
        Line(
            "Lambda",
            "scheduled jobs",
            job_requests * p.lambda_request + job_gbs * p.lambda_gb_second,
            f"{job_requests:,.0f} runs, {job_gbs:,.0f} GB-s",
        ),
        Line(
            "Lambda",
            "live broadcaster",
            stream_invocations * p.lambda_request + stream_gbs * p.lambda_gb_second,
            f"{stream_invocations:,.0f} stream batches",
        ),
    ]

    hb_wru = hb.per_record(hb.write_units)
    ingest_wru = sum(u.per_invocation(u.write_units) * n for u, n in messages.values())
    ingest_wru += statuses * reg.per_invocation(reg.write_units) + heartbeats * hb_wru
    ingest_rru = sum(u.per_invocation(u.read_units) * n for u, n in messages.values())
    ingest_rru += statuses * reg.per_invocation(reg.read_units) + batch_rru
    lines += [
        Line(
            "DynamoDB",
            "writes: ingest",
            ingest_wru * p.dynamodb_write_unit,
            f"{ingest_wru:,.0f} WRU ({hb_wru:.3f} per heartbeat, measured)",
        ),
        Line(
            "DynamoDB",
            "writes: jobs",
            job_wru * p.dynamodb_write_unit,
            f"{job_wru:,.0f} WRU (measured per run and per worker, and a reputation "
            "rewrite per worker a day)",
        ),
        Line(
            "DynamoDB",
            "reads",
            (ingest_rru + job_rru + live_rru) * p.dynamodb_read_unit,
            f"{ingest_rru + job_rru + live_rru:,.0f} RRU (ingest {ingest_rru:,.0f}, "
            f"jobs {job_rru:,.0f}, live {live_rru:,.0f})",
        ),
    ]
    stored_gb = _steady_storage_gb(measurement, workers, a)
    lines.append(
        Line(
            "DynamoDB",
            "storage + point-in-time recovery",
            stored_gb * (p.dynamodb_storage_gb_month + p.dynamodb_pitr_gb_month),
            f"{stored_gb:,.3f} GB (telemetry kept 30 days, a month of blocks)",
        )
    )

    http = workers * a.api_requests_per_worker
    connection_minutes = workers / a.workers_per_owner * a.dashboard_share * MONTH_SECONDS / 60
    lines += [
        Line(
            "API Gateway", "HTTP API", http * p.http_api_request, f"{http:,.0f} requests (assumed)"
        ),
        Line(
            "API Gateway",
            "WebSocket",
            (frames + telemetry_frames) * p.websocket_message
            + connection_minutes * p.websocket_connection_minute,
            f"{frames:,.0f} table-change and {telemetry_frames:,.0f} heartbeat frames, "
            f"{connection_minutes:,.0f} connection-minutes (assumed dashboard use)",
        ),
    ]
    cdn_gb = workers * a.dashboard_mb_per_worker / 1024
    cdn_requests = workers * a.dashboard_mb_per_worker * 20
    lines.append(
        Line(
            "CloudFront",
            "dashboard",
            cdn_gb * p.cloudfront_gb + cdn_requests * p.cloudfront_https_request,
            f"{cdn_gb:,.1f} GB, {cdn_requests:,.0f} requests (assumed)",
        )
    )

    log_bytes = (
        sum(
            (u.per_invocation(u.log_bytes) + LOG_EVENT_OVERHEAD * u.per_invocation(u.log_events))
            * n
            for u, n in messages.values()
        )
        + batches
        * (hb.per_invocation(hb.log_bytes) + LOG_EVENT_OVERHEAD * hb.per_invocation(hb.log_events))
        + job_log
    )
    log_gb = log_bytes / 1024**3
    retention_months = schedule.log_retention_days / DAYS_PER_MONTH
    lines.append(
        Line(
            "CloudWatch",
            "logs and embedded metrics",
            log_gb * (p.logs_ingested_gb + p.logs_stored_gb_month * retention_months),
            f"{log_gb:,.2f} GB ({hb.per_invocation(hb.log_bytes):.0f} B per heartbeat batch, "
            "measured)",
        )
    )
    alarms = alarm_count(tables=len(ALL_TABLES))
    fixed = (
        p.dashboard_month
        + alarms * p.alarm_month
        + a.custom_metrics * p.custom_metric_month
        + p.secret_month
    )
    lines.append(
        Line(
            "Fixed",
            "dashboard, alarms, custom metrics, secret",
            fixed,
            f"1 dashboard, {alarms} alarms, {a.custom_metrics} custom metrics, 1 secret",
        )
    )
    return lines


def _steady_storage_gb(measurement: Measurement, workers: int, a: Assumptions) -> float:
    """What the tables hold once a fleet has run for a while: telemetry for its 30-day
    retention, a month of blocks, the rest as measured."""
    sizes = measurement.storage_bytes_per_worker
    run_seconds = (measurement.minutes + measurement.warmup_minutes) * 60
    telemetry = sizes.get("telemetry", 0.0) * (30 * 86_400 / run_seconds)
    blocks_measured = sizes.get("blocks", 0.0)  # one block per worker in the sample
    blocks = blocks_measured * a.blocks_per_day * DAYS_PER_MONTH
    rest = sum(v for k, v in sizes.items() if k not in ("telemetry", "blocks"))
    return workers * (telemetry + blocks + rest) / 1024**3
