"""``xenblocks cost``: what the platform costs on AWS per worker-month, line by line.

Two halves, kept apart so each can be checked:

- **Prices** (``PRICES``): AWS list prices, us-east-1, written down once with the date they
  were read. Nothing else in this module holds a dollar figure.
- **Request counts**, *measured*: a sample fleet runs in-process on moto through the real
  Lambda handlers (``functions.handlers.ingest.handler`` for every rig message, the job
  handlers on their schedules) with the deployment's heartbeat schedule. A meter on the
  DynamoDB client counts every request and prices it the way on-demand DynamoDB bills it
  (write units per started KiB of the larger item image, plus index writes; read units per
  started 4 KiB), the device publisher counts downlink messages, stdout counts log and
  metric bytes, and a clock counts the handlers' own CPU time (DynamoDB time excluded).

What cannot be measured in-process is an assumption with a flag (DynamoDB latency, how
much the dashboards are used, blocks per rig per day...). Fixed monthly costs (dashboard,
alarms, custom metrics, the secret, job runs with an empty fleet) are divided by
``--workers``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import math
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from functions.settings import integer_default

# --- prices ------------------------------------------------------------------------------


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
# What the CDK app deploys (infra/): function memory, schedules, alarms. Kept here as plain
# numbers because the Lambda code cannot import the CDK app; infra tests read the template.
INGEST_MEMORY_MB = 256
BATCH_MEMORY_MB = 512  # the heartbeat batches (infra/device_plane.py)
BATCH_SIZE = 10_000
SHARD_RECORDS_PER_SECOND = 1000
VERIFY_MEMORY_MB = 1024
JOB_MEMORY_MB = 256
STREAM_MEMORY_MB = 512
JOB_EVERY_MINUTES = {
    "settle": 1,
    "fleet_stats": 5,
    "alerts": 1,
    "pricing": 5,
    "reputation": 60,
    "network": 1,
}
# Errors and throttles per function (14), DLQ depth, API 5xx, two stream consumers' age.
ALARMS = 2 * 14 + 2 + 2
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
    log_retention_months: float = 1.0


# --- the DynamoDB meter -------------------------------------------------------------------

_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
_READS = frozenset({"GetItem", "BatchGetItem", "Query", "TransactGetItems"})


def attribute_size(value: Mapping[str, Any]) -> int:
    """Bytes DynamoDB counts for one attribute value (DynamoDB JSON)."""
    ((kind, data),) = value.items()
    if kind == "S":
        return len(str(data).encode())
    if kind == "N":
        digits = str(data).lstrip("-").replace(".", "").lstrip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(data) if isinstance(data, bytes) else len(base64.b64decode(data))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in data)
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + attribute_size(v) for k, v in data.items())
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: v}) for v in data)
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Mapping[str, Any] | None) -> int:
    """An item's size as DynamoDB bills it: names plus values (DynamoDB JSON)."""
    if not item:
        return 0
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


def index_write_units(
    spec: Any, index: Any, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> int:
    """Write units one item write costs on one global secondary index: a put when the item
    enters the (sparse) index, a delete when it leaves, both when its index key changes,
    a put when projected attributes change."""
    keys = [index.partition_key.name] + ([index.sort_key.name] if index.sort_key else [])
    projected = (*spec.key_names, *keys)
    everything = index.projection.value == "ALL"

    def size(item: dict[str, Any]) -> int:
        if everything:
            return item_size(item)
        return item_size({k: v for k, v in item.items() if k in projected})

    was_in = before is not None and all(k in before for k in keys)
    now_in = after is not None and all(k in after for k in keys)
    if after is not None and now_in and not was_in:
        return write_units(size(after))
    if was_in and not now_in:
        return 1
    if before is None or after is None or not (was_in and now_in):
        return 0
    if any(before.get(k) != after.get(k) for k in keys):
        return 1 + write_units(size(after))
    if size(before) != size(after) or (everything and before != after):
        return write_units(size(after))
    return 0


@dataclass
class Usage:
    """What one category of work (a route, a job...) did in the measured run."""

    invocations: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    write_units: float = 0.0
    read_units: float = 0.0
    dynamodb_calls: int = 0
    cpu_seconds: float = 0.0
    log_bytes: int = 0
    log_events: int = 0
    publishes: int = 0
    stream_records: int = 0
    records: int = 0  # messages handled (a batch invocation handles many)

    def per_invocation(self, value: float) -> float:
        return value / self.invocations if self.invocations else 0.0

    def per_record(self, value: float) -> float:
        return value / self.records if self.records else 0.0


class DynamoMeter:
    """Counts and prices every DynamoDB request of a client (boto3 event hooks)."""

    def __init__(self, client: Any, shadow: Any, specs: Mapping[str, Any]) -> None:
        self._shadow = shadow  # an unhooked client on the same backend, to read images
        self._specs = specs  # physical table name → TableSpec
        self.usage = Usage()
        self._pending: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
        self._started = 0.0
        self.dynamodb_seconds = 0.0  # inside DynamoDB (moto): not the handler's CPU
        self.overhead_seconds = 0.0  # the meter's own work: not the handler's CPU either
        # The latest image of every item written while metered: what the tables hold.
        self.images: dict[tuple[str, str], dict[str, Any]] = {}
        client.meta.events.register("before-parameter-build.dynamodb", self._before)
        client.meta.events.register("before-call.dynamodb", self._start)
        client.meta.events.register("after-call.dynamodb", self._after)

    # -- hooks --

    def _before(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        entered = time.perf_counter()
        operation = model.name
        self._pending = []
        if operation in _WRITES:
            for table, key in self._write_keys(operation, params):
                self._pending.append((table, key, self._image(table, key)))
        self.overhead_seconds += time.perf_counter() - entered

    def _start(self, **_: Any) -> None:
        self._started = time.perf_counter()

    def _after(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        entered = time.perf_counter()
        self.dynamodb_seconds += entered - self._started
        try:
            self._account(model, parsed)
        finally:
            self.overhead_seconds += time.perf_counter() - entered

    def _account(self, model: Any, parsed: dict[str, Any]) -> None:
        operation = model.name
        usage = self.usage
        usage.requests[operation] += 1
        usage.dynamodb_calls += 1
        failed = "Error" in parsed
        if operation in _WRITES:
            factor = 2 if operation == "TransactWriteItems" else 1
            for table, key, before in self._pending:
                after = None if failed else self._image(table, key)
                usage.write_units += factor * self._write_cost(table, before, after, failed)
                identity = (table, json.dumps(key, sort_keys=True))
                if after is not None:
                    self.images[identity] = after
                elif not failed:
                    self.images.pop(identity, None)
                if not failed and before != after and self._specs[table].stream is not None:
                    usage.stream_records += 1
        elif operation in _READS and not failed:
            usage.read_units += self._read_cost(operation, parsed)
        self._pending = []

    # -- helpers --

    def _write_keys(self, operation: str, params: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            table = params["TableName"]
            yield table, self._key(table, params.get("Key") or params["Item"])
        elif operation == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    body = request.get("PutRequest", {}).get("Item") or request.get(
                        "DeleteRequest", {}
                    ).get("Key")
                    yield table, self._key(table, body)
        else:  # TransactWriteItems
            for item in params["TransactItems"]:
                ((kind, body),) = item.items()
                if kind == "ConditionCheck":
                    continue
                table = body["TableName"]
                yield table, self._key(table, body.get("Key") or body["Item"])

    def spec(self, table: str) -> Any:
        return self._specs[table]

    def _key(self, table: str, item: Mapping[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self._specs[table].key_names}

    def _image(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        found = self._shadow.get_item(TableName=table, Key=key, ConsistentRead=True)
        item: dict[str, Any] | None = found.get("Item")
        return item

    def _write_cost(
        self,
        table: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        failed: bool,
    ) -> float:
        units = write_units(max(item_size(before), item_size(after)))
        if failed:
            return units
        spec = self._specs[table]
        return units + sum(index_write_units(spec, index, before, after) for index in spec.indexes)

    def _read_cost(self, operation: str, parsed: dict[str, Any]) -> float:
        if operation == "GetItem":
            return read_units(item_size(parsed.get("Item")), consistent=True)
        if operation == "Query":
            total = sum(item_size(item) for item in parsed.get("Items", []))
            return read_units(total, consistent=False)
        if operation == "BatchGetItem":
            return sum(
                read_units(item_size(item), consistent=False)
                for items in parsed.get("Responses", {}).values()
                for item in items
            )
        return sum(
            read_units(item_size(entry.get("Item")), consistent=True)
            for entry in parsed.get("Responses", [])
        )


# --- the measured run ---------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """The deployment's heartbeat settings (``xenblocks:heartbeat*`` in cdk.json)."""

    heartbeat_seconds: int = integer_default("heartbeat_seconds")
    write_seconds: int = integer_default("heartbeat_write_seconds")
    history_seconds: int = integer_default("heartbeat_history_seconds")
    batch_seconds: int = 30  # the heartbeat stream's batching window (cdk.json)
    shards: int = 1  # the heartbeat stream's shards (more are added when the fleet needs)


@dataclass
class Measurement:
    schedule: Schedule
    sample_workers: int
    minutes: int
    usage: dict[str, Usage]
    empty_jobs: dict[str, Usage]
    wall_seconds: float
    storage_bytes_per_worker: dict[str, float]
    warmup_minutes: int = 0  # run before ``minutes``: its items are stored, not its requests


class _CountingPublisher:
    def __init__(self) -> None:
        self.sent = 0

    def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> None:
        self.sent += 1


@dataclass(frozen=True)
class _Context:
    function_name: str
    memory_limit_in_mb: int = 256
    aws_request_id: str = "cost-model"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:cost"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


START = 1_767_225_600  # 2026-01-01T00:00:00Z, the sample's simulated start


def measure(
    schedule: Schedule,
    *,
    sample_workers: int = 20,
    minutes: int = 60,
    warmup_minutes: int = 30,
    workers_per_owner: int = 5,
    seed: int = 7,
) -> Measurement:
    """Run a sample fleet through the real handlers on moto and meter what it costs.

    The fleet first runs ``warmup_minutes`` unmeasured, so the measured ``minutes`` are a
    steady state: a month is billed from their rates, and the writes every rig makes once
    after it (re)connects are billed per reconnect (``registers_per_day``), not per minute.
    """
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "cost-model")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "cost-model")
    import boto3
    from moto import mock_aws

    from functions.dal.specs import ALL_TABLES
    from functions.dal.tables import Tables, create_tables
    from functions.settings import Settings
    from protocol.xenblocks import BlockRules

    settings = Settings(
        stage="cost",
        heartbeat_seconds=schedule.heartbeat_seconds,
        heartbeat_write_seconds=schedule.write_seconds,
        heartbeat_history_seconds=schedule.history_seconds,
        # The tiny test difficulty, so the sample can mine real blocks quickly; the rules'
        # requests are the same at any difficulty.
        rules=BlockRules(difficulty=8, block_pattern="XEN"),
    )
    started = time.perf_counter()
    with mock_aws():
        client = boto3.client("dynamodb", region_name=settings.aws_region)
        shadow = boto3.client("dynamodb", region_name=settings.aws_region)
        tables = Tables(settings, client=client)
        create_tables(tables)
        specs = {tables.name(spec): spec for spec in ALL_TABLES}
        meter = DynamoMeter(client, shadow, specs)
        # The same tables through a client the meter does not watch (the sample's past).
        unmetered = Tables(settings, client=shadow)
        run = _Run(settings, tables, unmetered, meter, random.Random(seed), schedule.batch_seconds)
        empty_jobs = run.jobs_once(START - 3600)
        run.enrol(sample_workers, workers_per_owner, history_until=START)
        usage = run.fleet(sample_workers, minutes, warmup_minutes)
        storage = run.storage_per_worker(sample_workers)
    return Measurement(
        schedule=schedule,
        sample_workers=sample_workers,
        minutes=minutes,
        usage=usage,
        empty_jobs=empty_jobs,
        wall_seconds=time.perf_counter() - started,
        storage_bytes_per_worker=storage,
        warmup_minutes=warmup_minutes,
    )


class _Run:
    def __init__(
        self,
        settings: Any,
        tables: Any,
        unmetered: Any,
        meter: DynamoMeter,
        rng: random.Random,
        batch_seconds: int,
    ) -> None:
        self.batch_seconds = batch_seconds
        self.unmetered = unmetered
        from functions.handlers import ingest, jobs
        from functions.logic.jobs import Jobs

        self.settings = settings
        self.tables = tables
        self.meter = meter
        self.rng = rng
        self.publisher = _CountingPublisher()
        self.ingest_service = ingest.build_service(settings, tables, self.publisher)
        from functions.api.live import LiveService
        from functions.ports.broadcast import RecordingBroadcaster

        # The batches' live push, with nobody connected: what it reads to find that out.
        self.live = LiveService(settings, tables, RecordingBroadcaster())
        from functions.ports.xenblocks_node import FakeXenBlocksNode

        # The network job reads a node that answers at once (what a read costs the job is
        # its DynamoDB work and a round trip, counted like an IoT publish).
        self.jobs = Jobs(settings, tables, self.publisher, node=FakeXenBlocksNode(value=8))
        self.workers: list[tuple[str, str]] = []  # (worker id, owner)
        self._ingest = ingest
        self._jobs = jobs

    # -- measuring one invocation --

    @contextlib.contextmanager
    def _measured(self, usage: Usage) -> Iterator[None]:
        meter = self.meter
        meter.usage = Usage()
        excluded_before = meter.dynamodb_seconds + meter.overhead_seconds
        published = self.publisher.sent
        stdout = io.StringIO()
        started = time.perf_counter()
        with contextlib.redirect_stdout(stdout), _logs_to(stdout):
            yield
        elapsed = time.perf_counter() - started
        measured = meter.usage
        usage.invocations += 1
        usage.requests.update(measured.requests)
        usage.write_units += measured.write_units
        usage.read_units += measured.read_units
        usage.dynamodb_calls += measured.dynamodb_calls
        usage.stream_records += measured.stream_records
        excluded = meter.dynamodb_seconds + meter.overhead_seconds - excluded_before
        usage.cpu_seconds += max(0.0, elapsed - excluded)
        usage.publishes += self.publisher.sent - published
        lines = [line for line in stdout.getvalue().splitlines() if line.strip()]
        usage.log_events += len(lines)
        usage.log_bytes += sum(len(line.encode()) for line in lines)

    def _invoke_ingest(
        self, usage: Usage, route: str, worker_id: str, body: dict[str, Any], at: float
    ) -> None:
        from functions.routing import IngestEvent, route_named

        event = IngestEvent(
            route_named(route), worker_id, json.dumps(body).encode(), int(at * 1000)
        ).to_event()
        self._ingest.configure(self.ingest_service)
        # The deployed ingest function logs at WARNING (infra/device_plane.py).
        previous = self._ingest.logger.log_level
        self._ingest.logger.setLevel("WARNING")
        try:
            with self._measured(usage):
                result = self._ingest.handler(event, _Context("ingest"))
        finally:
            self._ingest.logger.setLevel(previous)
            self._ingest.configure(None)
        if not result["accepted"]:
            raise RuntimeError(f"the sample's {route} was refused: {result['reason']}")

    def _invoke_batch(self, usage: Usage, datas: list[bytes]) -> None:
        from functions.local.rule_bridge import kinesis_event

        self._ingest.configure(self.ingest_service, self.live)
        previous = self._ingest.logger.log_level
        self._ingest.logger.setLevel("WARNING")  # as deployed (infra/device_plane.py)
        try:
            with self._measured(usage):
                result = self._ingest.batch_handler(kinesis_event(datas), _Context("ingest"))
        finally:
            self._ingest.logger.setLevel(previous)
            self._ingest.configure(None)
        usage.records += len(datas)
        if result["batchItemFailures"]:
            raise RuntimeError(f"the sample's heartbeat batch failed: {result}")

    # -- the fleet --

    def enrol(self, count: int, per_owner: int, *, history_until: int) -> None:
        """Enrol the sample (the API's work, not measured) as rigs in their steady state:
        enrolled over 30 days ago and online the day before, so their reputation has a
        day of history points behind it (written unmetered, up to ``history_until``)."""
        from functions.dal.telemetry import TelemetryRepository
        from functions.dal.workers import WorkerRepository
        from functions.models.telemetry import TelemetryPoint, worker_series
        from functions.models.workers import Worker
        from protocol.addresses import to_checksum

        repository = WorkerRepository(self.tables)
        history = TelemetryRepository(self.unmetered)
        step = self.settings.heartbeat_history_seconds
        self.meter.usage = Usage()
        for n in range(count):
            owner = "0x" + f"{n // max(1, per_owner) + 1:040x}"
            owner = to_checksum(owner)
            worker_id = f"rig-{n:05d}"
            repository.create(
                Worker(worker_id=worker_id, owner=owner, created_at=START - 31 * 86_400)
            )
            history.put_many(
                [
                    TelemetryPoint(
                        series=worker_series(worker_id),
                        ts=ts,
                        values={"hashrate": 3000.0, "active_gpus": 2.0},
                        expires_at=ts + 30 * 86_400,
                    )
                    for ts in range(START - 86_400, history_until, step)
                ]
            )
            self.workers.append((worker_id, owner))

    def fleet(self, count: int, minutes: int, warmup: int = 0) -> dict[str, Usage]:
        """Rigs register ``warmup`` minutes before START and heartbeat until the end; jobs
        run on their schedules throughout. Only what happens from START on is counted,
        except each rig's register (billed per reconnect) and the warm-up's reputation
        runs (``warmup:reputation``: the first write of every worker's reputation, which
        the job repeats once a day even when nothing moved)."""
        usage: dict[str, Usage] = {}
        discarded = Usage()
        begin = START - warmup * 60
        end = START + minutes * 60
        events: list[tuple[float, int, str, str, str]] = []
        interval = self.settings.heartbeat_seconds
        for index, (worker_id, owner) in enumerate(self.workers[:count]):
            registered = begin + self.rng.uniform(0, interval)
            events.append((registered, index, "register", worker_id, owner))
            # The miner heartbeats on a fixed cadence from its start (miner/rig.py: tick),
            # each up to a second late (its tick) and delayed on the way.
            beat = 0
            while (t := registered + beat * interval + self.rng.uniform(0, 1.5)) < end:
                events.append((t, index, "heartbeat", worker_id, owner))
                beat += 1
            found = START + self.rng.uniform(60, minutes * 60 - 10)
            events.append((found, index, "block", worker_id, owner))
            # The rig relays the node's answer a few seconds later.
            events.append((found + 3, index, "verdict", worker_id, owner))
        # Jobs keep their cadence from a minute into the warm-up (the rigs are online by
        # then); one that would not run in the measured minutes runs once at their end.
        for job, every in JOB_EVERY_MINUTES.items():
            runs = [begin + 60 + k * every * 60 for k in range((warmup + minutes) // every + 1)]
            runs = [at for at in runs if at < end]
            if not any(at >= START for at in runs):
                runs.append(end - 30)
            events += [(at, -1, f"job:{job}", "", "") for at in runs]
        events.sort()
        from functions.routing import IngestEvent, route_named

        def bucket(kind: str, at: float) -> Usage:
            if kind == "register" or at >= START:
                return usage.setdefault(kind, Usage())
            if kind == "job:reputation":
                return usage.setdefault("warmup:reputation", Usage())
            return discarded

        found_hashes: dict[str, str] = {}
        # Heartbeats gather in the stream for a batching window, then go in one batch
        # (counted when the batch starts inside the measured minutes).
        stream: list[bytes] = []
        window_start = window_end = 0.0

        def flush() -> None:
            if stream:
                self._invoke_batch(bucket("heartbeat", window_start), stream[:])
                stream.clear()

        for at, _, kind, worker_id, owner in events:
            if stream and at >= window_end:
                flush()
            if kind == "heartbeat":
                if not stream:
                    window_start, window_end = at, at + max(1, self.batch_seconds)
                raw = json.dumps(_heartbeat(worker_id, at, begin)).encode()
                record = IngestEvent(route_named("heartbeat"), worker_id, raw, int(at * 1000))
                stream.append(json.dumps(record.to_event()).encode())
            elif kind == "register":
                self._invoke_ingest(
                    bucket(kind, at), "register", worker_id, _register(worker_id, owner, at), at
                )
            elif kind == "block":
                body = _block(worker_id, owner, at, self.settings.rules)
                self._invoke_ingest(bucket(kind, at), "block", worker_id, body, at)
                found_hashes[worker_id] = body["hash"]
            elif kind == "verdict":
                body = _verdict(worker_id, found_hashes[worker_id], at)
                self._invoke_ingest(bucket(kind, at), "verdict", worker_id, body, at)
            else:
                self._run_job(bucket(kind, at), kind.removeprefix("job:"), at)
        flush()
        return usage

    def jobs_once(self, at: float) -> dict[str, Usage]:
        """Every job once against empty tables: what a run costs before any worker."""
        usage: dict[str, Usage] = {}
        for job in JOB_EVERY_MINUTES:
            self._run_job(usage.setdefault(f"job:{job}", Usage()), job, at)
        return usage

    def _run_job(self, usage: Usage, job: str, at: float) -> None:
        when = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {"time": when, "source": "aws.events"}
        if job == "alerts":
            from functions.handlers.alerts import run_alerts
            from functions.ports.webhooks import UrllibWebhookSender

            sender = UrllibWebhookSender.from_settings(self.settings)
            with self._measured(usage):
                run_alerts(self.settings, self.tables, sender, int(at))
            return
        handlers: dict[str, Callable[[dict[str, Any], object], dict[str, Any]]] = {
            "settle": self._jobs.settle_handler,
            "pricing": self._jobs.pricing_handler,
            "reputation": self._jobs.reputation_handler,
            "fleet_stats": self._jobs.fleet_stats_handler,
            "network": self._jobs.network_handler,
        }
        self._jobs.configure(self.jobs)
        try:
            with self._measured(usage):
                handlers[job](event, _Context(job))
        finally:
            self._jobs.configure(None)

    def storage_per_worker(self, count: int) -> dict[str, float]:
        """Bytes each table holds per worker at the end of the run (DynamoDB's item sizes
        plus its 100 bytes of overhead per item), from the items the run wrote."""
        sizes: dict[str, float] = {}
        for (table, _), item in self.meter.images.items():
            name = self.meter.spec(table).name
            sizes[name] = sizes.get(name, 0.0) + (item_size(item) + 100) / max(1, count)
        return sizes


@contextlib.contextmanager
def _logs_to(stream: io.StringIO) -> Iterator[None]:
    """Point the Powertools loggers' handlers at ``stream`` while measuring."""
    import logging

    handlers = [
        handler
        for logger in (logging.getLogger(name) for name in ("ingest", "jobs", "alerts", "live"))
        for handler in logger.handlers
        if isinstance(handler, logging.StreamHandler)
    ]
    previous = [handler.setStream(stream) for handler in handlers]
    try:
        yield
    finally:
        for handler, old in zip(handlers, previous, strict=True):
            if old is not None:
                handler.setStream(old)


def _register(worker_id: str, owner: str, at: float) -> dict[str, Any]:
    return {
        "worker_id": worker_id,
        "eth_address": owner,
        "gpu_count": 2,
        "total_memory_gb": 48,
        "gpus": [
            {"index": i, "name": "NVIDIA GeForce RTX 4090", "memory_gb": 24, "bus_id": i + 1}
            for i in range(2)
        ],
        "version": "xenblocks-miner 0.1.0",
        "timestamp": int(at),
    }


def _heartbeat(worker_id: str, at: float, started: float) -> dict[str, Any]:
    return {
        "worker_id": worker_id,
        "hashrate": 3000.0,
        "active_gpus": 2,
        "accepted_blocks": 1,
        "difficulty": 1727,
        "uptime_sec": int(at - started),
        "timestamp": int(at),
        "gpus": [
            {
                "index": i,
                "hashrate": 1500.0,
                "temperature_c": 64.0,
                "fan_pct": 55.0,
                "power_w": 300.0,
            }
            for i in range(2)
        ],
    }


def _block(worker_id: str, owner: str, at: float, rules: Any) -> dict[str, Any]:
    """A real block for ``owner`` at the sample's tiny difficulty (found by brute force)."""
    from protocol.xenblocks import BlockKind, classify, compute_hash, generate_key

    found_at = datetime.fromtimestamp(at, UTC)
    for _ in range(500_000):
        key = generate_key()
        hashed = compute_hash(key, owner, rules.difficulty)
        if classify(hashed, found_at, rules).kind is BlockKind.NORMAL:
            return {
                "worker_id": worker_id,
                "lease_id": "",
                "hash": hashed,
                "key": key,
                "account": owner,
                "attempts": 1000,
                "hashrate": "3000.00",
                "timestamp": int(at),
                "difficulty": rules.difficulty,
            }
    raise RuntimeError("no block found for the cost sample")


def _verdict(worker_id: str, hash_b64: str, at: float) -> dict[str, Any]:
    """The node's answer to a block, as the rig relays it."""
    return {
        "worker_id": worker_id,
        "lease_id": "",
        "hash": hash_b64,
        "status": "accepted",
        "http_status": 200,
        "difficulty": 8,
        "network_difficulty": 8,
        "timestamp": int(at),
    }


# --- the monthly bill ---------------------------------------------------------------------


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
    push_gbs = pushes * a.iot_publish_latency_ms / 1000 * JOB_MEMORY_MB / 1024
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
    hb_seconds = hb.per_record(hb.cpu_seconds) * max(1.0, FULL_CPU_MB / BATCH_MEMORY_MB) + (
        hb.per_record(hb.dynamodb_calls - hb_queries) * a.dynamodb_latency_ms / 1000
    )
    batch_seconds = hb.per_invocation(hb_queries) * a.dynamodb_latency_ms / 1000
    ingest_gbs = (
        (heartbeats * hb_seconds + batches * batch_seconds) * BATCH_MEMORY_MB / 1024
        + (registers + statuses)
        * _billed_seconds(reg, INGEST_MEMORY_MB, a, publishes=True)
        * INGEST_MEMORY_MB
        / 1024
        + blocks
        * _billed_seconds(blk, VERIFY_MEMORY_MB, a, publishes=False)
        * VERIFY_MEMORY_MB
        / 1024
        + verdicts
        * _billed_seconds(vrd, INGEST_MEMORY_MB, a, publishes=False)
        * INGEST_MEMORY_MB
        / 1024
    )
    job_runs = {job: MONTH_SECONDS / 60 / every for job, every in JOB_EVERY_MINUTES.items()}
    job_requests = sum(job_runs.values())
    job_gbs = 0.0
    job_wru = job_rru = 0.0
    job_log = 0.0
    for job, runs in job_runs.items():
        full = usage[f"job:{job}"]
        empty = measurement.empty_jobs[f"job:{job}"]
        per_worker = {
            "wru": max(
                0.0, full.per_invocation(full.write_units) - empty.per_invocation(empty.write_units)
            )
            / sample,
            "rru": max(
                0.0, full.per_invocation(full.read_units) - empty.per_invocation(empty.read_units)
            )
            / sample,
        }
        job_wru += runs * (empty.per_invocation(empty.write_units) + per_worker["wru"] * workers)
        job_rru += runs * (empty.per_invocation(empty.read_units) + per_worker["rru"] * workers)
        seconds_sample = _billed_seconds(full, JOB_MEMORY_MB, a, publishes=True)
        seconds_empty = _billed_seconds(empty, JOB_MEMORY_MB, a, publishes=True)
        seconds = seconds_empty + max(0.0, seconds_sample - seconds_empty) * workers / sample
        job_gbs += runs * seconds * JOB_MEMORY_MB / 1024
        job_log += runs * (
            full.per_invocation(full.log_bytes)
            + LOG_EVENT_OVERHEAD * full.per_invocation(full.log_events)
        )
    # Reputation is rewritten once a day even when nothing moved: the warm-up's runs wrote
    # every worker's first reputation, which is what such a rewrite costs.
    first_reputation = usage.get("warmup:reputation", Usage())
    job_wru += first_reputation.write_units / sample * workers * DAYS_PER_MONTH

    # Live updates: every changed item on a streamed table is one stream record; the
    # broadcaster runs once per batch (a second's records per shard) and looks up the
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
    stream_invocations = min(records, MONTH_SECONDS * a.stream_shards)
    stream_gbs = stream_invocations * (a.dynamodb_latency_ms / 1000) * 2 * STREAM_MEMORY_MB / 1024
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
    ingest_gbs += telemetry_frames * a.iot_publish_latency_ms / 1000 * BATCH_MEMORY_MB / 1024
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
    lines.append(
        Line(
            "CloudWatch",
            "logs and embedded metrics",
            log_gb * (p.logs_ingested_gb + p.logs_stored_gb_month * a.log_retention_months),
            f"{log_gb:,.2f} GB ({hb.per_invocation(hb.log_bytes):.0f} B per heartbeat batch, "
            "measured)",
        )
    )
    fixed = (
        p.dashboard_month
        + ALARMS * p.alarm_month
        + a.custom_metrics * p.custom_metric_month
        + p.secret_month
    )
    lines.append(
        Line(
            "Fixed",
            "dashboard, alarms, custom metrics, secret",
            fixed,
            f"1 dashboard, {ALARMS} alarms, {a.custom_metrics} custom metrics, 1 secret",
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


# --- the command --------------------------------------------------------------------------


def add_cost_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``xenblocks cost`` options (the CLI wires them to ``run_cost``)."""
    parser.add_argument("--workers", type=_positive_int, required=True, help="fleet size")
    parser.add_argument(
        "--heartbeat-seconds", type=_positive_int, default=30, help="rig heartbeat interval"
    )
    deployed = Schedule()
    parser.add_argument(
        "--write-seconds",
        type=_positive_int,
        default=deployed.write_seconds,
        help=f"summary write slot (deployed: {deployed.write_seconds})",
    )
    parser.add_argument(
        "--history-seconds",
        type=_positive_int,
        default=deployed.history_seconds,
        help=f"history point slot ({deployed.history_seconds})",
    )
    parser.add_argument(
        "--batch-seconds",
        type=int,
        choices=range(301),
        metavar="0..300",
        default=deployed.batch_seconds,
        help=f"heartbeat stream batching window ({deployed.batch_seconds})",
    )
    parser.add_argument(
        "--blocks-per-day",
        type=float,
        default=Assumptions.blocks_per_day,
        help="blocks a rig reports a day (each is verified with Argon2id)",
    )
    parser.add_argument(
        "--difficulty-rises-per-day",
        type=float,
        default=Assumptions.difficulty_rises_per_day,
        help="how often the network's difficulty rises (each is pushed to leased rigs)",
    )
    parser.add_argument(
        "--leased-share",
        type=float,
        default=Assumptions.leased_share,
        help="share of the rigs under a lease (0..1)",
    )
    parser.add_argument(
        "--dashboard-share",
        type=float,
        default=Assumptions.dashboard_share,
        help="share of the time an owner watches a dashboard (0..1)",
    )
    parser.add_argument(
        "--workers-per-owner",
        type=_positive_int,
        default=Assumptions.workers_per_owner,
        help="rigs per provider (the fleet job writes one series point per owner a minute)",
    )
    parser.add_argument(
        "--sample-workers", type=_positive_int, default=20, help="rigs in the measured run"
    )
    parser.add_argument(
        "--sample-minutes",
        type=_sample_minutes,
        default=60,
        help="simulated minutes measured (at least 5: every job runs)",
    )
    parser.add_argument("--json", action="store_true", help="print the lines as JSON")


def run_cost(args: argparse.Namespace) -> int:
    """``xenblocks cost``: measure, price, print. Returns the exit status."""
    schedule = Schedule(
        heartbeat_seconds=args.heartbeat_seconds,
        write_seconds=args.write_seconds,
        history_seconds=args.history_seconds,
        batch_seconds=args.batch_seconds,
    )
    assumptions = replace(
        Assumptions(),
        blocks_per_day=args.blocks_per_day,
        difficulty_rises_per_day=args.difficulty_rises_per_day,
        leased_share=args.leased_share,
        dashboard_share=args.dashboard_share,
        workers_per_owner=args.workers_per_owner,
    )
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "XenBlocks")
    try:
        import moto  # noqa: F401 (the measured run needs it)
    except ImportError:
        print(
            "xenblocks cost measures on moto: pip install 'xenblocks-platform[local]'",
            file=sys.stderr,
        )
        return 2
    measurement = measure(schedule, sample_workers=args.sample_workers, minutes=args.sample_minutes)
    lines = bill(measurement, args.workers, assumptions=assumptions)
    if args.json:
        print(json.dumps(report(measurement, lines, args.workers), indent=2))
    else:
        print(render(measurement, lines, args.workers))
    return 0


def report(measurement: Measurement, lines: list[Line], workers: int) -> dict[str, Any]:
    total = sum(line.monthly for line in lines)
    return {
        "prices_as_of": PRICES.as_of,
        "region": PRICES.region,
        "workers": workers,
        "heartbeat_seconds": measurement.schedule.heartbeat_seconds,
        "per_worker_month": round(total / workers, 5),
        "fleet_month": round(total, 2),
        "lines": [
            {
                "service": line.service,
                "item": line.item,
                "fleet_month": round(line.monthly, 4),
                "per_worker_month": round(line.per_worker(workers), 6),
                "basis": line.basis,
            }
            for line in lines
        ],
        "measured": {
            kind: {
                "invocations": u.invocations,
                "requests": dict(u.requests),
                "write_units_per_invocation": round(u.per_invocation(u.write_units), 4),
                "read_units_per_invocation": round(u.per_invocation(u.read_units), 4),
                "log_bytes_per_invocation": round(u.per_invocation(u.log_bytes), 1),
                "cpu_ms_per_invocation": round(1000 * u.per_invocation(u.cpu_seconds), 3),
            }
            for kind, u in sorted(measurement.usage.items())
        },
    }


def render(measurement: Measurement, lines: list[Line], workers: int) -> str:
    total = sum(line.monthly for line in lines)
    schedule = measurement.schedule
    out = [
        f"Monthly AWS cost for {workers:,} workers, heartbeats every "
        f"{schedule.heartbeat_seconds} s (summary {schedule.write_seconds} s, history "
        f"{schedule.history_seconds} s)",
        f"List prices: {PRICES.region}, as of {PRICES.as_of}. "
        f"Measured: {measurement.sample_workers} "
        f"rigs x {measurement.minutes} simulated minutes through the real handlers on moto "
        f"({measurement.wall_seconds:.0f} s).",
        "",
        f"{'service':<12} {'item':<42} {'fleet $/month':>14} {'$/worker-month':>15}",
    ]
    for line in lines:
        out.append(
            f"{line.service:<12} {line.item:<42} {line.monthly:>14,.2f} "
            f"{line.per_worker(workers):>15.5f}"
        )
    out.append(f"{'':<12} {'total':<42} {total:>14,.2f} {total / workers:>15.5f}")
    out.append("")
    out.append("basis:")
    out += [f"  {line.service} {line.item}: {line.basis}" for line in lines]
    return "\n".join(out)


def _sample_minutes(text: str) -> int:
    value = int(text)
    if value < 5:
        raise argparse.ArgumentTypeError("measure at least 5 simulated minutes")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: list[str] | None = None) -> int:  # pragma: no cover (the CLI wires run_cost)
    parser = argparse.ArgumentParser(prog="xenblocks cost", description=__doc__)
    add_cost_arguments(parser)
    return run_cost(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
