"""Heartbeats through Kinesis: the batch handler, partial failures and the live push."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from functions.dal.workers import WorkerRepository
from functions.handlers import ingest
from functions.local.lambda_context import LocalLambdaContext
from functions.local.rule_bridge import kinesis_event
from functions.logic.live_updates import LiveService
from functions.ports.broadcast import RecordingBroadcaster
from tests.api_client import token_for
from tests.factories import NOW, PROVIDER, RENTER, address, enrolled_worker
from tests.unit.ingest.test_ingest import event, heartbeat_payload

CONTEXT = LocalLambdaContext(function_name="ingest-batch")
BOB = address(0xB0B0)


def heartbeat_record(worker_id: str, hashrate: float = 1234.5, at: int = NOW) -> bytes:
    return json.dumps(
        event("heartbeat", worker_id, heartbeat_payload(worker_id, hashrate), at)
    ).encode()


@pytest.fixture
def live(live_settings, tables, broadcaster) -> LiveService:  # type: ignore[no-untyped-def]
    return LiveService(live_settings, tables, broadcaster, clock=lambda: float(NOW))


@pytest.fixture
def configured(service, live) -> Iterator[None]:  # type: ignore[no-untyped-def]
    # With metrics off (the other tests), Powertools still keeps what they counted in the
    # module's Metrics: start from none, or a test that reads the figures counts theirs.
    ingest.metrics.clear_metrics()
    ingest.configure(service, live)
    yield
    ingest.configure(None)


def telemetry_to(broadcaster: RecordingBroadcaster, connection_id: str) -> list[dict[str, Any]]:
    frames = [json.loads(frame) for cid, frame in broadcaster.sent if cid == connection_id]
    messages = [m for f in frames for m in (f["data"] if f["type"] == "batch" else [f])]
    return [m["data"] for m in messages if m["type"] == "telemetry"]


def test_a_batch_writes_heartbeats_and_refuses_bad_records_without_failing(
    tables, configured, capsys, monkeypatch
):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    one, two = enrolled_worker(tables), enrolled_worker(tables)
    records = [
        heartbeat_record(one.worker_id, 1000.0),
        heartbeat_record(two.worker_id, 2000.0),
        b"not json",
        json.dumps({"route": "heartbeat", "worker_id": "w/1"}).encode(),
        heartbeat_record("ghost"),
    ]
    response = ingest.batch_handler(kinesis_event(records), CONTEXT)
    assert response == {"batchItemFailures": []}
    # A fresh process writes each worker's first heartbeat, whatever its slot.
    for worker, hashrate in ((one, 1000.0), (two, 2000.0)):
        row = WorkerRepository(tables).require(worker.worker_id)
        assert (row.hashrate, row.last_seen) == (hashrate, NOW)
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    values: dict[str, float] = {}
    for blob in emitted:
        for metric in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            value = blob[metric["Name"]]
            values[metric["Name"]] = sum(value) if isinstance(value, list) else value
    # The ghost's heartbeat is written for nobody: rejected.
    assert (values["AcceptedHeartbeat"], values["RejectedHeartbeat"]) == (2, 1)
    assert values["MalformedUnknown"] == 2


def test_an_infrastructure_error_fails_only_that_record_so_lambda_retries_from_it(
    tables, service, configured, monkeypatch
):
    good, bad = enrolled_worker(tables), enrolled_worker(tables)
    accept = service.accept

    def flaky(worker_id, message, received_at):  # type: ignore[no-untyped-def]
        if worker_id == bad.worker_id:
            raise ConnectionError("DynamoDB throttled")
        return accept(worker_id, message, received_at)

    monkeypatch.setattr(service, "accept", flaky)
    event = kinesis_event([heartbeat_record(good.worker_id), heartbeat_record(bad.worker_id)])
    response = ingest.batch_handler(event, CONTEXT)
    assert response == {"batchItemFailures": [{"itemIdentifier": f"{1:021d}"}]}


def test_heartbeats_reach_the_owner_and_the_renter_live_and_no_one_else(
    tables, configured, live, broadcaster, leased
):
    mine = enrolled_worker(tables)  # PROVIDER's, not leased
    for connection_id, subject in (
        ("c-owner", PROVIDER),
        ("c-renter", RENTER),
        ("c-bob", BOB),
        ("c-anon", None),
    ):
        live.connect(connection_id, token_for(subject) if subject else None)
    records = [
        heartbeat_record(mine.worker_id, 100.0, NOW - 20),
        heartbeat_record(leased.worker_id, 700.0),
        heartbeat_record(mine.worker_id, 150.0, NOW - 5),  # the latest wins
    ]
    assert ingest.batch_handler(kinesis_event(records), CONTEXT) == {"batchItemFailures": []}

    owner = {t["worker_id"]: t for t in telemetry_to(broadcaster, "c-owner")}
    assert set(owner) == {mine.worker_id, leased.worker_id}
    assert owner[mine.worker_id]["hashrate"] == 150.0
    assert owner[mine.worker_id]["last_seen"] == NOW - 5
    assert owner[mine.worker_id]["online"] is True
    assert owner[leased.worker_id]["telemetry"][0]["temperature_c"] == 61.0
    renter = telemetry_to(broadcaster, "c-renter")
    assert [t["worker_id"] for t in renter] == [leased.worker_id]
    assert telemetry_to(broadcaster, "c-bob") == []
    assert telemetry_to(broadcaster, "c-anon") == []
    # One frame per connection per batch.
    assert sorted(cid for cid, _ in broadcaster.sent) == ["c-owner", "c-renter"]


def test_nobody_signed_in_means_no_reads_and_no_frames(tables, configured, live, broadcaster):
    worker = enrolled_worker(tables)
    live.connect("c-anon", None)
    report = live.publish_telemetry([(worker.worker_id, _heartbeat(worker.worker_id), NOW)])
    assert report.skipped == 1
    assert broadcaster.sent == []
    assert live._owners.lookup([], live.workers) == {}
    assert worker.worker_id not in live._owners._owners


def test_a_failing_live_push_never_fails_the_batch(tables, configured, live, monkeypatch):
    worker = enrolled_worker(tables)
    live.connect("c-owner", token_for(PROVIDER))

    def broken(*_: Any) -> None:
        raise RuntimeError("API Gateway is down")

    monkeypatch.setattr(live, "publish_telemetry", broken)
    response = ingest.batch_handler(kinesis_event([heartbeat_record(worker.worker_id)]), CONTEXT)
    assert response == {"batchItemFailures": []}


def test_owners_are_read_once_and_kept(tables, live, monkeypatch):
    worker = enrolled_worker(tables, owner=BOB)
    reads: list[list[str]] = []
    get_many = live.workers.get_many

    def counting(ids: list[str]) -> Any:
        reads.append(list(ids))
        return get_many(ids)

    monkeypatch.setattr(live.workers, "get_many", counting)
    for _ in range(3):
        assert live._owners.lookup([worker.worker_id, "ghost"], live.workers) == {
            worker.worker_id: BOB
        }
    # The ghost is looked up each time (it may enrol), the known worker only once.
    assert reads == [[worker.worker_id, "ghost"], ["ghost"], ["ghost"]]


def _heartbeat(worker_id: str) -> Any:
    from protocol.codec import parse_uplink
    from protocol.topics import Uplink

    return parse_uplink(Uplink.HEARTBEAT, json.dumps(heartbeat_payload(worker_id)).encode())
