"""The ingest path end to end in-process: rule event → handler → logic → DynamoDB (moto)."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from functions.dal.blocks import BlockRepository
from functions.dal.leases import LeaseRepository
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.handlers.ingest import build_service, process
from functions.models.telemetry import worker_series
from functions.observability import logger
from functions.routing import IngestEvent, route_named
from functions.settings import Settings
from protocol.codec import parse_task
from protocol.messages import WorkerState
from protocol.xenblocks import BlockRules, compute_hash, generate_key
from tests.factories import NOW, PROVIDER, RENTER, address, enrolled_worker
from tests.mining import is_normal_block, mine

XUNI_MINUTE = NOW - NOW % 3600 + 60  # minute 1 of the hour: inside the XUNI window


def event(route: str, worker_id: str, payload: dict[str, Any] | bytes, now: int = NOW) -> dict:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return IngestEvent(route_named(route), worker_id, raw, now * 1000).to_event()


def register_payload(worker_id: str, owner: str = PROVIDER) -> dict[str, Any]:
    return {
        "worker_id": worker_id,
        "eth_address": owner,
        "gpu_count": 1,
        "total_memory_gb": 24,
        "gpus": [{"index": 0, "name": "RTX 4090", "memory_gb": 24, "bus_id": 1}],
        "version": "2.0.0",
        "timestamp": NOW,
    }


def heartbeat_payload(worker_id: str, hashrate: float = 1234.5) -> dict[str, Any]:
    return {
        "worker_id": worker_id,
        "hashrate": hashrate,
        "active_gpus": 1,
        "accepted_blocks": 3,
        "difficulty": 8,
        "uptime_sec": 600,
        "timestamp": NOW,
        "gpus": [{"index": 0, "hashrate": hashrate, "temperature_c": 61.0, "fan_pct": 40.0}],
    }


def block_payload(worker_id: str, key: str, hash_b64: str, account: str, **extra: Any) -> dict:
    return {
        "worker_id": worker_id,
        "lease_id": "",
        "hash": hash_b64,
        "key": key,
        "account": account,
        "attempts": 1000,
        "hashrate": "1250.5",
        "timestamp": NOW,
        **extra,
    }


def sent_tasks(publisher) -> list:
    return [parse_task(payload) for topic, payload, _ in publisher.sent if topic.endswith("/task")]


# -- register ----------------------------------------------------------------------------


def test_register_of_an_enrolled_worker_stores_inventory_and_acks_with_the_difficulty(
    tables, service, publisher
):
    worker = enrolled_worker(tables)
    outcome = process(event("register", worker.worker_id, register_payload("w")), service)

    assert (outcome.accepted, outcome.reason) == (True, "ok")
    stored = WorkerRepository(tables).require(worker.worker_id)
    assert stored.online
    assert stored.state is WorkerState.AVAILABLE
    assert [g.name for g in stored.gpus] == ["RTX 4090"]
    [ack] = sent_tasks(publisher)
    assert ack.command == "register_ack"
    assert ack.accepted
    assert ack.difficulty == 8
    assert publisher.sent[0][0] == f"xenminer/{worker.worker_id}/task"


def test_register_from_an_unknown_worker_writes_and_sends_nothing(tables, service, publisher):
    outcome = process(event("register", "ghost", register_payload("ghost")), service)
    assert (outcome.accepted, outcome.reason) == (False, "unknown_worker")
    assert WorkerRepository(tables).get("ghost") is None
    assert publisher.sent == []


def test_register_for_another_owner_is_refused_with_a_reason(tables, service, publisher):
    worker = enrolled_worker(tables)
    payload = register_payload(worker.worker_id, owner=address(7))
    outcome = process(event("register", worker.worker_id, payload), service)
    assert outcome.reason == "wrong_owner"
    [ack] = sent_tasks(publisher)
    assert not ack.accepted
    assert PROVIDER in ack.reason
    assert not WorkerRepository(tables).require(worker.worker_id).online


def test_a_rig_restarting_mid_lease_gets_its_task_again(tables, service, publisher, leased):
    process(event("register", leased.worker_id, register_payload(leased.worker_id)), service)
    ack, task = sent_tasks(publisher)
    assert ack.accepted
    assert task.command == "assign_task"
    assert task.lease_id == leased.lease_id
    assert task.prefix == leased.prefix
    assert task.consumer_address == RENTER
    assert WorkerRepository(tables).require(leased.worker_id).state is WorkerState.LEASED


@pytest.mark.parametrize("how", ["stopped", "ended"])
def test_a_rig_registering_after_its_lease_stopped_gets_no_task_until_settled(
    tables, service, publisher, leased, how
):
    """A stopped (or ended) lease stays active until the settle job runs: a rig that
    registers meanwhile is told only register_ack, and shows available."""
    now = NOW + 60
    if how == "stopped":
        LeaseRepository(tables).stop(leased.lease_id, renter=RENTER, now=now)
    else:
        now = leased.ends_at + 1
    payload = register_payload(leased.worker_id)
    process(event("register", leased.worker_id, payload, now), service)
    [ack] = sent_tasks(publisher)
    assert ack.command == "register_ack"
    assert ack.accepted
    assert LeaseRepository(tables).require(leased.lease_id).is_active  # not settled yet
    assert WorkerRepository(tables).require(leased.worker_id).state is WorkerState.AVAILABLE


# -- heartbeat ---------------------------------------------------------------------------


def _written_slot_time(service, worker_id: str, *, history: bool) -> int:
    schedule = service.schedule
    for now in range(NOW, NOW + 3600):
        if schedule.writes_summary(worker_id, now) and (
            schedule.writes_history(worker_id, now) == history
        ):
            return now
    raise AssertionError("no slot found")


def test_heartbeat_updates_the_summary_and_once_per_slot_a_history_point(tables, service):
    worker = enrolled_worker(tables)
    now = _written_slot_time(service, worker.worker_id, history=True)
    payload = heartbeat_payload("someone-else")  # the topic's id wins over the payload's
    outcome = process(event("heartbeat", worker.worker_id, payload, now), service)

    assert (outcome.accepted, outcome.reason) == (True, "ok")
    stored = WorkerRepository(tables).require(worker.worker_id)
    assert stored.hashrate == 1234.5
    assert stored.last_seen == now
    assert stored.online
    assert stored.telemetry[0].temperature_c == 61.0
    [point] = (
        TelemetryRepository(tables)
        .history(worker_series(worker.worker_id), now - 600, now, limit=10)
        .items
    )
    assert point.values["hashrate"] == 1234.5
    assert point.values["gpu0.temperature_c"] == 61.0
    assert point.values["difficulty"] == 8  # what it was mined at: its work is H/s × 8
    assert WorkerRepository(tables).get("someone-else") is None


def test_a_history_point_of_a_rig_that_knows_no_difficulty_has_none(tables, service):
    worker = enrolled_worker(tables)
    now = _written_slot_time(service, worker.worker_id, history=True)
    payload = {**heartbeat_payload(worker.worker_id), "difficulty": 0}
    process(event("heartbeat", worker.worker_id, payload, now), service)
    [point] = (
        TelemetryRepository(tables)
        .history(worker_series(worker.worker_id), now - 600, now, limit=10)
        .items
    )
    assert "difficulty" not in point.values  # unknown, not 0: its work is unknown too


def test_heartbeats_between_slots_write_nothing(tables, service):
    worker = enrolled_worker(tables)
    written = _written_slot_time(service, worker.worker_id, history=False)
    process(event("heartbeat", worker.worker_id, heartbeat_payload("x"), written), service)
    schedule = service.schedule
    now = next(
        t
        for t in range(written + 30, written + 120)
        if not schedule.writes_summary(worker.worker_id, t)
    )
    outcome = process(event("heartbeat", worker.worker_id, heartbeat_payload("x"), now), service)
    assert outcome.reason == "sampled_out"
    assert WorkerRepository(tables).require(worker.worker_id).last_seen == written


def test_a_cold_process_writes_a_workers_first_heartbeat(tables, service):
    worker = enrolled_worker(tables)
    schedule = service.schedule
    now = next(t for t in range(NOW, NOW + 600) if not schedule.writes_summary(worker.worker_id, t))
    outcome = process(event("heartbeat", worker.worker_id, heartbeat_payload("x"), now), service)
    assert outcome.reason == "ok"
    assert WorkerRepository(tables).require(worker.worker_id).last_seen == now


def _jittery_heartbeats(seed: str, hours: int = 6) -> list[int]:
    rng = random.Random(seed)
    t, times = NOW + rng.uniform(0, 30), []
    while t < NOW + hours * 3600:
        times.append(int(t))
        t += 30 + rng.uniform(-3, 3)  # a drifting timer, a delayed message
    return times


def test_a_speaking_rig_never_looks_silent_and_costs_about_one_write_a_slot(service):
    schedule = service.schedule
    writes = heartbeats = 0
    for n in range(30):
        worker_id = f"rig-{n}"
        written: int | None = None
        for now in _jittery_heartbeats(worker_id):
            heartbeats += 1
            assert written is None or now - written <= schedule.silence_allowance
            if service.summary_due(worker_id, now):
                writes += 1
                service.remember_write(worker_id, now)
                written = now
    # One per 60 s slot is 0.5 of the 30 s heartbeats; catch-ups add a little.
    assert 0.45 < writes / heartbeats < 0.6


def test_heartbeat_of_an_unknown_worker_is_rejected(tables, service):
    now = _written_slot_time(service, "ghost", history=True)
    outcome = process(event("heartbeat", "ghost", heartbeat_payload("ghost"), now), service)
    assert (outcome.accepted, outcome.reason) == (False, "unknown_worker")
    assert WorkerRepository(tables).get("ghost") is None
    history = TelemetryRepository(tables).history(worker_series("ghost"), 0, NOW * 2, limit=5)
    assert history.items == []


# -- status ------------------------------------------------------------------------------


def _status(worker_id: str, state: str, lease_id: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"worker_id": worker_id, "state": state, "timestamp": NOW}
    if lease_id:
        payload["lease_id"] = lease_id
    return payload


def test_status_follows_the_protocol_state_machine(tables, service):
    worker = enrolled_worker(tables)
    process(event("register", worker.worker_id, register_payload(worker.worker_id)), service)
    workers = WorkerRepository(tables)

    illegal = process(event("status", worker.worker_id, _status("w", "COMPLETED")), service)
    assert (illegal.accepted, illegal.reason) == (False, "illegal_transition")
    assert workers.require(worker.worker_id).state is WorkerState.AVAILABLE

    assert process(event("status", worker.worker_id, _status("w", "MINING")), service).accepted
    assert workers.require(worker.worker_id).state is WorkerState.MINING


def test_a_status_answering_a_command_is_logged_under_its_correlation_id(tables, service, caplog):
    worker = enrolled_worker(tables)
    process(event("register", worker.worker_id, register_payload(worker.worker_id)), service)
    answer = {**_status("w", "MINING"), "correlation_id": "rent-req.42"}
    assert process(event("status", worker.worker_id, answer), service).accepted
    bad = {**_status("w", "MINING"), "correlation_id": "not a token!"}
    assert process(event("status", worker.worker_id, bad), service).reason == "malformed"

    lines = [r for r in caplog.records if r.name == logger.name]
    by_message = [(r.getMessage(), getattr(r, "correlation_id", None)) for r in lines]
    assert by_message == [
        ("message accepted", None),  # the register: nothing to correlate
        ("payload worker_id differs from the topic's; the topic's is used", "rent-req.42"),
        ("message accepted", "rent-req.42"),
        ("malformed message refused", None),
    ]
    # The JSON line CloudWatch gets has it as a key of its own.
    printed = json.loads(logger.registered_formatter.format(lines[2]))
    assert (printed["message"], printed["correlation_id"]) == ("message accepted", "rent-req.42")


def test_the_last_will_marks_the_worker_offline(tables, service):
    worker = enrolled_worker(tables)
    process(event("register", worker.worker_id, register_payload(worker.worker_id)), service)
    outcome = process(event("status", worker.worker_id, _status("w", "offline"), NOW + 5), service)
    assert outcome.accepted
    stored = WorkerRepository(tables).require(worker.worker_id)
    assert not stored.online
    assert stored.state is WorkerState.OFFLINE


def test_status_naming_someone_elses_lease_is_refused(tables, service, leased):
    worker = enrolled_worker(tables)
    payload = _status(worker.worker_id, "LEASED", leased.lease_id)
    assert process(event("status", worker.worker_id, payload), service).reason == "unknown_lease"


# -- blocks ------------------------------------------------------------------------------


def test_a_real_self_mined_block_is_verified_and_classified(tables, service):
    worker = enrolled_worker(tables)
    key, hash_b64 = mine(PROVIDER, 8, is_normal_block)
    payload = block_payload(worker.worker_id, key, hash_b64, PROVIDER)
    outcome = process(event("block", worker.worker_id, payload), service)

    assert (outcome.accepted, outcome.reason) == (True, "normal")
    stored = BlockRepository(tables).get(hash_b64)
    assert stored.verified
    assert stored.kind == "normal"
    assert stored.account == PROVIDER
    assert BlockRepository(tables).recent(now=NOW, limit=5).items[0].hash == hash_b64


def test_a_replayed_block_is_ignored_and_counted_once(tables, service, leased):
    key, hash_b64 = mine(RENTER, 8, lambda h: "XEN" in h, prefix=leased.prefix)
    payload = block_payload(leased.worker_id, key, hash_b64, RENTER, lease_id=leased.lease_id)
    first = process(event("block", leased.worker_id, payload), service)
    again = process(event("block", leased.worker_id, payload, NOW + 10), service)

    assert first.accepted
    assert (again.accepted, again.reason) == (False, "duplicate")
    assert LeaseRepository(tables).require(leased.lease_id).blocks == 1


@pytest.mark.parametrize(
    ("forgery", "reason"),
    [
        ("random_hash", "hash_mismatch"),
        ("wrong_prefix", "wrong_prefix"),
        ("wrong_salt", "hash_mismatch"),
        ("wrong_account", "wrong_account"),
        ("unknown_lease", "unknown_lease"),
        ("from_the_future", "from_the_future"),
        ("no_pattern", "no_block_pattern"),
    ],
)
def test_forged_blocks_are_recorded_as_rejected_with_their_reason(
    tables, service, leased, forgery, reason
):
    prefix, lease_id, account, salt = leased.prefix, leased.lease_id, RENTER, RENTER
    accept = lambda h: "XEN" in h  # noqa: E731
    timestamp = NOW
    if forgery == "wrong_prefix":
        prefix = "0" * 16
    elif forgery == "wrong_salt":
        salt = PROVIDER  # mined for the owner, reported for the renter
    elif forgery == "wrong_account":
        account = salt = PROVIDER
    elif forgery == "unknown_lease":
        lease_id = "lease-nope"
    elif forgery == "from_the_future":
        timestamp = NOW + 3600
    elif forgery == "no_pattern":
        accept = lambda h: "XEN" not in h and "UN" not in h  # noqa: E731
    key, hash_b64 = mine(salt, 8, accept, prefix=prefix)
    if forgery == "random_hash":
        hash_b64 = "XEN" + hash_b64[3:]
    payload = block_payload(
        leased.worker_id, key, hash_b64, account, lease_id=lease_id, timestamp=timestamp
    )
    outcome = process(event("block", leased.worker_id, payload), service)

    assert (outcome.accepted, outcome.reason) == (False, reason)
    # A refused report claims nothing; it is on record for audit under a key of its own.
    assert BlockRepository(tables).get(hash_b64) is None
    (stored,) = BlockRepository(tables).refused(leased.worker_id, hash_b64)
    assert not stored.verified
    assert stored.reason == reason
    assert LeaseRepository(tables).require(leased.lease_id).blocks == 0
    assert BlockRepository(tables).recent(now=NOW, limit=5).items == []


def test_xuni_counts_inside_its_window_only(tables, service):
    worker = enrolled_worker(tables)
    for found_at, expected in ((XUNI_MINUTE, "xuni"), (NOW, "xuni_outside_window")):
        key, hash_b64 = mine(
            PROVIDER,
            8,
            lambda h: "XEN" not in h and "UN" in h and any(f"UN{d}" in h for d in "0123456789"),
        )
        payload = block_payload(worker.worker_id, key, hash_b64, PROVIDER, timestamp=found_at)
        outcome = process(event("block", worker.worker_id, payload, found_at + 5), service)
        assert outcome.reason == expected
        assert (BlockRepository(tables).get(hash_b64) is not None) is (expected == "xuni")


def test_a_block_below_the_current_difficulty_is_rejected(tables, publisher):
    harder = Settings(stage="test", rules=BlockRules(difficulty=16, block_pattern="XEN"))
    service = build_service(harder, tables, publisher)
    worker = enrolled_worker(tables)
    key, hash_b64 = mine(PROVIDER, 8, lambda h: "XEN" in h)
    payload = block_payload(worker.worker_id, key, hash_b64, PROVIDER, difficulty=8)
    outcome = process(event("block", worker.worker_id, payload), service)
    assert outcome.reason == "below_difficulty"
    # Reported without a difficulty it is recomputed at the current one, and does not match.
    key, hash_b64 = mine(PROVIDER, 8, lambda h: "XEN" in h)
    payload = block_payload(worker.worker_id, key, hash_b64, PROVIDER)
    assert process(event("block", worker.worker_id, payload), service).reason == "hash_mismatch"


def test_blocks_from_unknown_workers_write_nothing(tables, service):
    key = generate_key()
    hash_b64 = compute_hash(key, PROVIDER, 8)
    outcome = process(
        event("block", "ghost", block_payload("ghost", key, hash_b64, PROVIDER)), service
    )
    assert outcome.reason == "unknown_worker"
    assert BlockRepository(tables).get(hash_b64) is None


# -- shares ------------------------------------------------------------------------------


def share_payload(lease, key: str, hash_b64: str, **extra: Any) -> dict[str, Any]:
    return {
        "worker_id": lease.worker_id,
        "lease_id": lease.lease_id,
        "hash": hash_b64,
        "key": key,
        "account": RENTER,
        "difficulty": 8,
        "timestamp": NOW + 60,
        **extra,
    }


def test_a_verified_share_adds_its_work_to_the_lease_once(tables, service, leased):
    key, hash_b64 = mine(RENTER, 8, lambda h: "Xe" in h, prefix=leased.prefix)
    payload = share_payload(leased, key, hash_b64)
    first = process(event("share", leased.worker_id, payload, NOW + 61), service)
    again = process(event("share", leased.worker_id, payload, NOW + 62), service)

    assert (first.accepted, first.reason) == (True, "verified")
    assert again.reason == "duplicate"
    lease = LeaseRepository(tables).require(leased.lease_id)
    assert lease.shares == 1
    assert lease.share_work > 0


@pytest.mark.parametrize(
    ("forgery", "reason"),
    [
        ("no_pattern", "no_share_pattern"),
        ("wrong_prefix", "wrong_prefix"),
        ("forged_hash", "hash_mismatch"),
        ("after_the_lease", "outside_lease"),
    ],
)
def test_bad_shares_are_refused_and_not_counted(tables, service, leased, forgery, reason):
    prefix = "f" * 16 if forgery == "wrong_prefix" else leased.prefix
    want_share = forgery != "no_pattern"
    key, hash_b64 = mine(RENTER, 8, lambda h: ("Xe" in h) == want_share, prefix=prefix)
    extra: dict[str, Any] = {}
    if forgery == "forged_hash":
        hash_b64 = "Xe" + ("A" if hash_b64[2] != "A" else "B") + hash_b64[3:]
    if forgery == "after_the_lease":
        extra["timestamp"] = leased.ends_at + 3600
    payload = share_payload(leased, key, hash_b64, **extra)
    outcome = process(event("share", leased.worker_id, payload, NOW + 61), service)
    assert (outcome.accepted, outcome.reason) == (False, reason)
    assert LeaseRepository(tables).require(leased.lease_id).shares == 0


# -- malformed ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"route": "heartbeat", "worker_id": "w1", "payload": "!!", "received_at": 1},
        {"route": "nope", "worker_id": "w1", "payload": "", "received_at": 1},
        {"route": "block", "worker_id": "../x", "payload": "", "received_at": 1},
        {"route": "status", "worker_id": "w1", "payload": "e30=", "received_at": True},
        "not an object",
    ],
)
def test_malformed_events_are_refused(tables, service, bad):
    assert process(bad, service).reason == "malformed"


def test_malformed_payloads_are_refused_without_writes(tables, service):
    worker = enrolled_worker(tables)
    for raw in (b"\xff\xfe", b"{}", b'{"worker_id": "w", "worker_id": "w"}', b"[1]"):
        outcome = process(event("register", worker.worker_id, raw), service)
        assert (outcome.accepted, outcome.reason) == (False, "malformed")
    assert not WorkerRepository(tables).require(worker.worker_id).online


# -- the Lambda entry point --------------------------------------------------------------


def test_the_handler_counts_each_message_by_route_and_fate(
    tables, service, capsys, caplog, monkeypatch
):
    # The local stack turns EMF output off for its process; this test wants to see it.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    from functions.handlers import ingest
    from functions.local.lambda_context import LocalLambdaContext

    ingest.configure(service)
    try:
        context = LocalLambdaContext(function_name="ingest")
        result = ingest.handler(event("register", "ghost", register_payload("ghost")), context)
        ingest.handler({"route": "block", "payload": "??"}, context)
    finally:
        ingest.configure(None)
    assert result == {"accepted": False, "reason": "unknown_worker"}
    out = capsys.readouterr().out
    assert '"RejectedRegister"' in out
    assert '"MalformedBlock"' in out
    assert any(r.getMessage() == "message rejected" for r in caplog.records)


def test_routes_build_the_rule_sql_and_event_shape():
    route = route_named("heartbeat")
    assert route.sql() == (
        "SELECT 'heartbeat' AS route, topic(2) AS worker_id, encode(*, 'base64') AS payload, "
        "timestamp() AS received_at FROM 'xenminer/+/heartbeat'"
    )
    assert route.rule_name("prod-eu") == "xenblocks_prod_eu_heartbeat"
    assert route.ingest_topic("prod", "xenminer/w1/heartbeat") == (
        "$aws/rules/xenblocks_prod_heartbeat/xenminer/w1/heartbeat"
    )
    assert route_named("block").ingest_topic("prod", "xenminer/w1/block") == "xenminer/w1/block"
    parsed = IngestEvent.from_event(event("status", "w1", b"{}", 5))
    assert (parsed.route.name, parsed.worker_id, parsed.payload, parsed.received_at_ms) == (
        "status",
        "w1",
        b"{}",
        5000,
    )
