"""The live stream handler on real moto stream records: addressing, coalescing, gone ones."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from functions.dal.accounts import AccountRepository
from functions.dal.alerts import AlertRepository
from functions.dal.blocks import BlockRepository
from functions.dal.connections import ConnectionRepository
from functions.dal.leases import LeaseRepository
from functions.dal.network import NetworkRepository
from functions.dal.specs import ALERTS, BLOCKS, LEASES, WORKERS, TableSpec
from functions.dal.tables import Tables
from functions.handlers import live as live_handler
from functions.local.lambda_context import LocalLambdaContext
from functions.local.streams import StreamTap
from functions.logic.live_updates import LiveService
from functions.models.alerts import AlertEvent
from functions.models.blocks import Block
from functions.models.live import ANONYMOUS
from functions.models.network import NetworkStatus, Verdict
from functions.ports.broadcast import RecordingBroadcaster
from tests.api_client import token_for
from tests.factories import (
    NOW,
    PROVIDER,
    RENTER,
    address,
    alert_event,
    enrolled_worker,
    heartbeat,
    lease_for,
    mined_block,
    open_listing,
)

BOB = address(0xB0B0)
CONTEXT = LocalLambdaContext(function_name="live")


@pytest.fixture
def service(live_settings, tables, broadcaster):  # type: ignore[no-untyped-def]
    service = LiveService(live_settings, tables, broadcaster, clock=lambda: float(NOW))
    live_handler.configure(service)
    yield service
    live_handler.configure(None)


@contextlib.contextmanager
def recorded(tables: Tables, *specs: TableSpec) -> Iterator[list[dict[str, Any]]]:
    """The stream records of what the block writes, as Lambda receives them."""
    records: list[dict[str, Any]] = []
    tap = StreamTap([tables.name(s) for s in specs], records.extend, region="us-east-1")
    tap.start()
    try:
        yield records
    finally:
        tap.stop()  # delivers what is queued


def invoke(records: list[dict[str, Any]]) -> dict[str, Any]:
    return live_handler.stream_handler({"Records": records}, CONTEXT)


def frames_to(broadcaster: RecordingBroadcaster, connection_id: str) -> list[dict[str, Any]]:
    return [json.loads(frame) for cid, frame in broadcaster.sent if cid == connection_id]


def messages_in(frame: dict[str, Any]) -> list[dict[str, Any]]:
    return frame["data"] if frame["type"] == "batch" else [frame]


def connect(service: LiveService, connection_id: str, subject: str | None) -> None:
    service.connect(connection_id, token_for(subject) if subject else None)


def test_a_thousand_heartbeats_are_one_frame_per_connection_and_gone_ones_are_forgotten(
    service, tables, broadcaster
):
    w1 = enrolled_worker(tables, owner=PROVIDER)
    w2 = enrolled_worker(tables, owner=PROVIDER)
    w3 = enrolled_worker(tables, owner=BOB)
    connect(service, "alice-tab", PROVIDER)
    connect(service, "alice-closed-tab", PROVIDER)
    connect(service, "bob", BOB)
    connect(service, "anonymous", None)
    broadcaster.gone.add("alice-closed-tab")
    workers = [w1, w2, w3]
    with recorded(tables, WORKERS) as records:
        for n in range(1000):
            heartbeat(tables, workers[n % 3].worker_id, hashrate=1000.0 + n, now=NOW + n)
    assert len(records) == 1000

    result = invoke(records)

    assert result == {"batchItemFailures": []}
    # One frame each for the connections that can see a worker; nothing for the anonymous.
    assert sorted(cid for cid, _ in broadcaster.sent) == ["alice-tab", "bob"]
    (alice_frame,) = frames_to(broadcaster, "alice-tab")
    alice = messages_in(alice_frame)
    assert {m["data"]["worker_id"] for m in alice} == {w1.worker_id, w2.worker_id}
    assert all(m["type"] == "worker" for m in alice)
    # Each worker once, with its latest heartbeat (n = 999 is w1's, 998 is w3's, 997 w2's).
    latest = {m["data"]["worker_id"]: m["data"]["hashrate"] for m in alice}
    assert latest == {w1.worker_id: 1999.0, w2.worker_id: 1997.0}
    (bob_frame,) = frames_to(broadcaster, "bob")
    assert bob_frame["type"] == "worker"
    assert bob_frame["data"]["hashrate"] == 1998.0
    connections = ConnectionRepository(tables)
    assert connections.get("alice-closed-tab") is None
    assert connections.get("alice-tab") is not None


def test_leases_blocks_and_alerts_reach_who_they_concern(service, tables, broadcaster):
    listing = open_listing(tables, owner=PROVIDER)
    AccountRepository(tables).deposit(RENTER, 100_000_000, entry_id="fund", now=NOW)
    connect(service, "provider", PROVIDER)
    connect(service, "renter", RENTER)
    connect(service, "bob", BOB)
    connect(service, "anonymous", None)
    with recorded(tables, WORKERS, LEASES, BLOCKS, ALERTS) as records:
        lease = LeaseRepository(tables).create(lease_for(listing), listing)
        heartbeat(tables, listing.worker_id, hashrate=4321.0, now=NOW + 5)
        blocks = BlockRepository(tables)
        verified = _block(listing.worker_id, lease.lease_id, verified=True, hash_="AAAA" * 4)
        blocks.record(verified)
        unverified = _block(listing.worker_id, lease.lease_id, verified=False, hash_="BBBB" * 4)
        blocks.record(unverified)
        AlertRepository(tables).fire(_alert(listing.worker_id), cooldown_seconds=3600)

    report = service.publish_records(records)

    assert report.malformed == 0
    seen = {
        cid: [(m["type"], m["data"]) for f in frames_to(broadcaster, cid) for m in messages_in(f)]
        for cid in ("provider", "renter", "bob", "anonymous")
    }
    types = {cid: sorted({kind for kind, _ in found}) for cid, found in seen.items()}
    assert types == {
        "provider": ["alert", "block", "lease", "worker"],
        # The renter sees the worker it leases (with the lease named), its lease, blocks.
        "renter": ["block", "lease", "worker"],
        "bob": ["block"],
        "anonymous": ["block"],
    }
    renter_worker = next(data for kind, data in seen["renter"] if kind == "worker")
    assert renter_worker["lease_id"] == lease.lease_id
    assert renter_worker["hashrate"] == 4321.0
    block_hashes = {data["hash"] for kind, data in seen["bob"] if kind == "block"}
    assert block_hashes == {verified.hash}  # the unverified one is not news
    assert all(len(frames_to(broadcaster, cid)) == 1 for cid in seen if seen[cid])


def test_unreadable_records_are_counted_and_the_rest_delivered(service, tables, broadcaster):
    worker = enrolled_worker(tables, owner=PROVIDER)
    connect(service, "provider", PROVIDER)
    with recorded(tables, WORKERS) as good:
        heartbeat(tables, worker.worker_id, hashrate=10.0, now=NOW + 1)
    bad = json.loads(json.dumps(good[0]))
    bad["dynamodb"]["NewImage"]["hashrate"] = {"S": "lots"}
    foreign = dict(good[0], eventSourceARN="arn:aws:dynamodb:us-east-1:1:table/other/stream/x")

    report = service.publish_records([bad, foreign, *good])

    assert report.malformed == 1
    assert report.skipped == 1
    assert report.frames == 1


def test_connect_signs_in_with_a_token_or_stays_anonymous(service, tables):
    ok = live_handler.connect_handler(_route("c1", token=token_for(PROVIDER)), CONTEXT)
    anonymous = live_handler.connect_handler(_route("c2"), CONTEXT)
    refused = live_handler.connect_handler(_route("c3", token="not-a-jwt"), CONTEXT)
    expired = live_handler.connect_handler(
        _route("c4", token=token_for(PROVIDER, now=NOW - 7200)), CONTEXT
    )
    assert [r["statusCode"] for r in (ok, anonymous, refused, expired)] == [200, 200, 401, 401]
    connections = ConnectionRepository(tables)
    first, second = connections.get("c1"), connections.get("c2")
    assert first is not None
    assert second is not None
    assert first.subject == PROVIDER
    assert first.expires_at > NOW + 7200
    assert second.subject == ANONYMOUS
    assert connections.get("c3") is None
    live_handler.disconnect_handler(_route("c1"), CONTEXT)
    assert connections.get("c1") is None


def test_default_route_answers_ping_snapshot_and_nonsense(service, tables, broadcaster):
    worker = enrolled_worker(tables, owner=PROVIDER)
    live_handler.connect_handler(_route("c1", token=token_for(PROVIDER)), CONTEXT)
    for body in ('{"action": "ping"}', '{"action": "snapshot"}', "hello", '{"action": "rm"}'):
        assert live_handler.default_handler(_route("c1", body=body), CONTEXT)["statusCode"] == 200
    pong, snapshot, not_json, unknown = frames_to(broadcaster, "c1")
    assert pong["type"] == "pong"
    assert snapshot["type"] == "snapshot"
    assert snapshot["data"]["subject"] == PROVIDER
    assert [w["worker_id"] for w in snapshot["data"]["workers"]] == [worker.worker_id]
    assert set(snapshot["data"]["fleet"]) >= {"online_workers", "hashrate", "as_of"}
    assert not_json["type"] == "error"
    assert "ping" in unknown["data"]["message"]


def test_an_anonymous_snapshot_holds_public_figures_only(service, tables):
    enrolled_worker(tables, owner=PROVIDER)
    snapshot = service.snapshot(None)
    assert snapshot.data["workers"] == []
    assert snapshot.data["leases"] == []
    assert snapshot.data["subject"] is None


def test_a_snapshot_shows_the_networks_answer_to_each_block(service, tables):
    answered, unanswered = mined_block(1), mined_block(2)
    blocks = BlockRepository(tables)
    blocks.record(answered)
    blocks.record(unanswered)
    NetworkRepository(tables).record_verdict(
        Verdict(
            hash=answered.hash,
            worker_id=answered.worker_id,
            lease_id=None,
            status=NetworkStatus.ACCEPTED,
            at=NOW,
        )
    )

    shown = {b["hash"]: b["network_status"] for b in service.snapshot(None).data["blocks"]}

    assert shown == {answered.hash: "accepted", unanswered.hash: "unconfirmed"}


def test_the_fleet_figures_go_to_every_connection(service, tables, broadcaster):
    connect(service, "anonymous", None)
    connect(service, "provider", PROVIDER)
    report = service.broadcast_fleet({"online_workers": 3.0, "hashrate": 1500.5}, as_of=NOW)
    assert report.frames == 2
    sent = [json.loads(frame) for _, frame in broadcaster.sent]
    assert all(frame["type"] == "fleet" for frame in sent)
    assert sent[0]["data"]["online_workers"] == 3
    assert sent[0]["data"]["hashrate"] == 1500.5


def _route(connection_id: str, *, token: str | None = None, body: str | None = None) -> dict:
    event: dict[str, Any] = {"requestContext": {"connectionId": connection_id}}
    if token is not None:
        event["queryStringParameters"] = {"token": token}
    if body is not None:
        event["body"] = body
    return event


def _block(worker_id: str, lease_id: str, *, verified: bool, hash_: str) -> Block:
    return mined_block(
        1,
        hash=hash_,
        worker_id=worker_id,
        lease_id=lease_id,
        account=RENTER,
        reported_hashrate=100.0,
        verified=verified,
    )


def _alert(worker_id: str) -> AlertEvent:
    return alert_event(1, worker_id=worker_id, message="GPU 0 at 91 °C", value=91.0, ts=NOW)
