"""Heartbeats through the ingest handler, in-process on moto: throughput and write units.

    .venv/bin/python bench/ingest.py [--workers 100] [--minutes 30] [--interval 30]

Each simulated rig heartbeats every ``--interval`` seconds (with a little jitter) for
``--minutes`` of simulated time; every heartbeat goes through the real handler path
(``functions.handlers.ingest.process``: event parse, payload validation, logic, DynamoDB).
Write units are counted from the requests the handler makes, as DynamoDB bills them
on-demand: one unit per started KiB of each item written, plus one unit on the liveness
index whenever a worker enters it (its key never moves while the worker speaks). moto's latency is
not DynamoDB's, so the heartbeats/s figure is the handler's CPU cost plus moto's.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")

from moto import mock_aws

from functions.dal import codec
from functions.dal.tables import Tables, create_tables
from functions.dal.workers import WorkerRepository
from functions.handlers.ingest import build_service, process
from functions.models.workers import Worker
from functions.ports.devices import RecordingPublisher
from functions.routing import IngestEvent, route_named
from functions.settings import Settings

START = 1_763_700_000


def item_units(item: dict[str, Any]) -> int:
    """DynamoDB's write units for an item: 1 per started KiB (names + values, roughly)."""
    size = len(json.dumps(codec.from_item(item), default=str).encode())
    return max(1, math.ceil(size / 1024))


class WriteMeter:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.units = 0
        self.index_units = 0
        self._live: set[str] = set()

    def attach(self, client: Any) -> None:
        client.meta.events.register("after-call.dynamodb", self._after_call)

    def _after_call(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        operation = model.name
        if operation not in {"PutItem", "UpdateItem", "BatchWriteItem", "TransactWriteItems"}:
            return
        self.requests[operation] += 1
        if operation == "UpdateItem":
            attributes = parsed.get("Attributes", {})
            self.units += item_units(attributes)
            worker_id = attributes.get("worker_id", {}).get("S")
            if worker_id and "live_shard" in attributes and worker_id not in self._live:
                self.index_units += 1
                self._live.add(worker_id)
        else:
            self.units += 1  # telemetry points are small (< 1 KiB)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--interval", type=int, default=30)
    args = parser.parse_args()

    settings = Settings(stage="bench", heartbeat_seconds=args.interval)
    rng = random.Random(1)
    with mock_aws():
        tables = Tables(settings)
        create_tables(tables)
        workers = WorkerRepository(tables)
        ids = [f"rig-{n:05d}" for n in range(args.workers)]
        for worker_id in ids:
            workers.create(Worker(worker_id=worker_id, owner="0x" + "a" * 40, created_at=START))
        service = build_service(settings, tables, RecordingPublisher())
        meter = WriteMeter()
        meter.attach(tables.client)

        route = route_named("heartbeat")
        events = []
        for worker_id in ids:
            t = START + rng.uniform(0, args.interval)
            while t < START + args.minutes * 60:
                payload = {
                    "worker_id": worker_id,
                    "hashrate": 1500.0 + rng.random(),
                    "active_gpus": 2,
                    "accepted_blocks": 1,
                    "difficulty": 1727,
                    "uptime_sec": int(t - START),
                    "timestamp": int(t),
                    "gpus": [
                        {
                            "index": i,
                            "hashrate": 750.0,
                            "temperature_c": 64.0,
                            "fan_pct": 55.0,
                            "power_w": 280.0,
                        }
                        for i in range(2)
                    ],
                }
                raw = json.dumps(payload).encode()
                events.append((t, IngestEvent(route, worker_id, raw, int(t * 1000)).to_event()))
                t += args.interval + rng.uniform(-1, 1)
        events.sort(key=lambda pair: pair[0])

        started = time.perf_counter()
        outcomes: Counter[str] = Counter()
        for _, event in events:
            outcomes[process(event, service).reason] += 1
        elapsed = time.perf_counter() - started

    heartbeats = len(events)
    total_units = meter.units + meter.index_units
    print(f"ingest bench: {args.workers} workers x {args.minutes} min at {args.interval} s")
    print(f"  heartbeats             {heartbeats}")
    print(f"  outcomes               {dict(outcomes)}")
    print(f"  heartbeats/s           {heartbeats / elapsed:,.0f}  (one thread, moto)")
    print(f"  write requests         {dict(meter.requests)}")
    print(f"  requests / heartbeat   {sum(meter.requests.values()) / heartbeats:.3f}")
    print(
        f"  write units / heartbeat {total_units / heartbeats:.3f}  "
        f"(table {meter.units / heartbeats:.3f} + liveness index "
        f"{meter.index_units / heartbeats:.3f})"
    )


if __name__ == "__main__":
    main()
