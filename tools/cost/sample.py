"""The measured run: a sample fleet in-process on moto through the real Lambda handlers, with
the deployment's heartbeat schedule, the jobs on their schedules, each function logging at
its deployed level; the DynamoDB meter, a counting publisher and a clock record what each
kind of work did."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from infra.config import DeployConfig, deployed_config
from infra.sizing import INGEST, INGEST_BATCH, JOBS, VERIFY, VERIFY_ROUTES, Sizing
from tools.cost.meter import DynamoMeter, Usage, cpu_seconds, item_size

# The deployed jobs and their schedules (infra.sizing.JOBS), in minutes.
JOB_EVERY_MINUTES = {job.key: job.every_minutes for job in JOBS}


@dataclass(frozen=True)
class Schedule:
    """The deployment's figures the run and the bill follow: the heartbeat schedule, the
    heartbeat stream and log retention (``xenblocks:*`` in cdk.json, through infra.config)."""

    heartbeat_seconds: int
    write_seconds: int
    history_seconds: int
    batch_seconds: int  # the heartbeat stream's batching window
    shards: int  # the heartbeat stream's shards (more are added when the fleet needs)
    log_retention_days: int

    @classmethod
    def deployed(cls, config: DeployConfig | None = None) -> Schedule:
        """What ``cdk deploy`` deploys (cdk.json), or ``config``'s figures."""
        config = config or deployed_config()
        return cls(
            heartbeat_seconds=config.heartbeat_seconds,
            write_seconds=config.heartbeat_write_seconds,
            history_seconds=config.heartbeat_history_seconds,
            batch_seconds=config.heartbeat_batch_seconds,
            shards=config.heartbeat_shards,
            log_retention_days=config.log_retention_days,
        )


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
        # Every run of the insights job over every rig (the bill takes its daily share).
        insights_slices=1,
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
        from functions.logic.live_updates import LiveService
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
        started = cpu_seconds()
        with contextlib.redirect_stdout(stdout), _logs_to(stdout):
            yield
        elapsed = cpu_seconds() - started
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

    @contextlib.contextmanager
    def _deployed_as(self, sizing: Sizing, live: Any = None) -> Iterator[_Context]:
        """The ingest module configured as one deployed function: its service, its log
        level (infra.sizing), and a context with its memory."""
        from functions.observability import logger

        self._ingest.configure(self.ingest_service, live)
        previous = logger.log_level
        logger.setLevel(sizing.log_level)
        try:
            yield _Context("ingest", memory_limit_in_mb=sizing.memory_mb)
        finally:
            logger.setLevel(previous)
            self._ingest.configure(None)

    def _invoke_ingest(
        self, usage: Usage, route: str, worker_id: str, body: dict[str, Any], at: float
    ) -> None:
        from functions.routing import IngestEvent, route_named

        event = IngestEvent(
            route_named(route), worker_id, json.dumps(body).encode(), int(at * 1000)
        ).to_event()
        sizing = VERIFY if route in VERIFY_ROUTES else INGEST
        with self._deployed_as(sizing) as context, self._measured(usage):
            result = self._ingest.handler(event, context)
        if not result["accepted"]:
            raise RuntimeError(f"the sample's {route} was refused: {result['reason']}")

    def _invoke_batch(self, usage: Usage, datas: list[bytes]) -> None:
        from functions.local.rule_bridge import kinesis_event

        with self._deployed_as(INGEST_BATCH, self.live) as context, self._measured(usage):
            result = self._ingest.batch_handler(kinesis_event(datas), context)
        usage.records += len(datas)
        if result["batchItemFailures"]:
            raise RuntimeError(f"the sample's heartbeat batch failed: {result}")

    # -- the fleet --

    def enrol(self, count: int, per_owner: int, *, history_until: int) -> None:
        """Enrol the sample (the API's work, not measured) as rigs in their steady state:
        enrolled over 30 days ago and online the day before, so their reputation has a
        day of history points behind it (written unmetered, up to ``history_until``), and
        the insights job has built their baselines from it (so ingest scores every
        heartbeat, as it does for a fleet older than a day)."""
        from functions.dal.telemetry import TelemetryRepository
        from functions.dal.workers import WorkerRepository
        from functions.logic.ingest import history_values
        from functions.logic.insights import InsightsJob
        from functions.models.telemetry import TelemetryPoint, worker_series
        from functions.models.workers import Worker
        from protocol.addresses import to_checksum
        from protocol.messages import Heartbeat

        baselines = InsightsJob(self.settings, self.unmetered)

        repository = WorkerRepository(self.tables)
        history = TelemetryRepository(self.unmetered)
        step = self.settings.heartbeat_history_seconds
        self.meter.usage = Usage()
        for n in range(count):
            owner = "0x" + f"{n // max(1, per_owner) + 1:040x}"
            owner = to_checksum(owner)
            worker_id = f"rig-{n:05d}"
            worker = repository.create(
                Worker(worker_id=worker_id, owner=owner, created_at=START - 31 * 86_400)
            )
            history.put_many(
                [
                    TelemetryPoint(
                        series=worker_series(worker_id),
                        ts=ts,
                        values=history_values(
                            Heartbeat.model_validate(_heartbeat(worker_id, ts, ts - 3600))
                        ),
                        expires_at=ts + 30 * 86_400,
                    )
                    for ts in range(START - 86_400, history_until, step)
                ]
            )
            baselines.rebuild(worker, history_until)
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
            "insights": self._jobs.insights_handler,
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
    """Point the Powertools logger's handlers at ``stream`` while measuring."""
    import logging

    from functions.observability import logger

    handlers = [
        handler
        for handler in logging.getLogger(logger.name).handlers
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
