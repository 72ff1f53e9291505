"""Ingest takes what the XenblocksMiner rigs really send (``tests/xenminer_rigs.py``, written
from their sources), not only the v2 example files: the C++ heartbeat's extra fields, its
encoded block hash (checked against the report), its ``{"status": "offline"}`` last will,
keys of up to 128 hex characters as the node takes them; mock_fleet's figures too."""

from __future__ import annotations

import secrets

import pytest

from functions.dal.blocks import BlockRepository
from functions.dal.workers import WorkerRepository
from functions.handlers.ingest import process
from protocol.messages import WorkerState
from protocol.shares import SharePattern
from protocol.xenblocks import compute_hash
from tests.factories import NOW, PROVIDER, RENTER, enrolled_worker
from tests.mining import is_normal_block
from tests.unit.ingest.test_ingest import _written_slot_time, event, register_payload
from tests.xenminer_rigs import (
    cpp_block,
    cpp_encoded_hash,
    cpp_heartbeat,
    cpp_last_will,
    cpp_register,
    cpp_status,
    dumps,
    mock_heartbeat,
)


def _online(tables, service) -> str:
    worker = enrolled_worker(tables)
    payload = cpp_register(worker.worker_id, PROVIDER, now=NOW)
    assert process(event("register", worker.worker_id, dumps(payload)), service).accepted
    return worker.worker_id


def _mine_long_key(address: str, length: int) -> tuple[str, str]:
    """A key of ``length`` hex characters (as the node takes them) whose hash is a block."""
    for _ in range(200_000):
        key = secrets.token_hex(length // 2)
        hash_b64 = compute_hash(key, address, 8)
        if is_normal_block(hash_b64):
            return key, hash_b64
    raise AssertionError("no block found")


def test_a_cpp_heartbeat_with_its_extra_fields_is_taken(tables, service):
    worker_id = _online(tables, service)
    now = _written_slot_time(service, worker_id, history=False)  # a slot's summary is written
    payload = cpp_heartbeat(worker_id, PROVIDER, hashrate=3456.5, difficulty=8, now=now)
    outcome = process(event("heartbeat", worker_id, dumps(payload), now), service)
    assert outcome.accepted, outcome.reason
    assert WorkerRepository(tables).require(worker_id).hashrate == 3456.5


@pytest.mark.parametrize(("address", "elsewhere"), [(PROVIDER, False), (RENTER, True)])
def test_a_cpp_heartbeat_says_what_the_rig_mines_with(tables, service, address, elsewhere):
    worker_id = _online(tables, service)
    now = _written_slot_time(service, worker_id, history=False)
    payload = cpp_heartbeat(worker_id, address.lower(), block_pattern="XEN1", now=now)
    assert process(event("heartbeat", worker_id, dumps(payload), now), service).accepted

    mining = WorkerRepository(tables).require(worker_id).mining
    assert mining is not None
    assert (mining.address, mining.prefix, mining.block_pattern) == (address.lower(), "", "XEN1")
    assert mining.mines_for_another(PROVIDER) is elsewhere


def test_a_mock_fleet_heartbeat_is_taken(tables, service):
    worker_id = _online(tables, service)
    outcome = process(
        event("heartbeat", worker_id, dumps(mock_heartbeat(worker_id, now=NOW))), service
    )
    assert outcome.accepted, outcome.reason


@pytest.mark.parametrize(
    "payload", [cpp_last_will, lambda w, now: cpp_status(w, "offline", now=now)]
)
def test_the_cpp_last_will_takes_the_rig_offline_at_once(tables, service, payload):
    worker_id = _online(tables, service)
    outcome = process(event("status", worker_id, dumps(payload(worker_id, now=NOW))), service)
    assert outcome.accepted, outcome.reason
    stored = WorkerRepository(tables).require(worker_id)
    assert not stored.online
    assert stored.state is WorkerState.OFFLINE


def test_a_cpp_block_with_the_encoded_hash_is_verified_on_its_raw_part(tables, service):
    worker_id = _online(tables, service)
    key, hash_b64 = _mine_long_key(PROVIDER, 64)
    payload = cpp_block(worker_id, key=key, address=PROVIDER, difficulty=8, now=NOW)
    assert payload["hash"].startswith("$argon2id$v=19$m=8,t=1,p=1$")

    outcome = process(event("block", worker_id, dumps(payload)), service)

    assert (outcome.accepted, outcome.reason) == (True, "normal")
    stored = BlockRepository(tables).get(hash_b64)
    assert stored is not None
    assert stored.verified
    assert stored.difficulty == 8


def test_a_block_with_a_128_hex_key_counts_as_the_node_counts_it(tables, service):
    worker_id = _online(tables, service)
    key, hash_b64 = _mine_long_key(PROVIDER, 128)
    payload = cpp_block(worker_id, key=key, address=PROVIDER, difficulty=8, now=NOW)
    outcome = process(event("block", worker_id, dumps(payload)), service)
    assert (outcome.accepted, outcome.reason) == (True, "normal")
    assert BlockRepository(tables).get(hash_b64).verified


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        # mined for another account: the encoded salt is not the claimed account
        (lambda p, key: {**p, "hash": cpp_encoded_hash(key, RENTER, 8)}, "salt is not"),
        # the claimed difficulty disagrees with the hash's m
        (lambda p, key: {**p, "difficulty": 16}, "m=8"),
        # not Argon2id v=19, t=1, p=1
        (lambda p, key: {**p, "hash": p["hash"].replace("t=1", "t=2")}, "t=1"),
        (lambda p, key: {**p, "hash": "$argon2id$v=19$m=8,t=1,p=1$$"}, "not $argon2id"),
    ],
)
def test_an_encoded_hash_that_disagrees_with_its_report_is_malformed_and_says_why(
    tables, service, change, reason, caplog
):
    worker_id = _online(tables, service)
    key, hash_b64 = _mine_long_key(PROVIDER, 64)
    payload = change(cpp_block(worker_id, key=key, address=PROVIDER, difficulty=8, now=NOW), key)

    outcome = process(event("block", worker_id, dumps(payload)), service)

    assert (outcome.accepted, outcome.reason) == (False, "malformed")
    [refusal] = [r for r in caplog.records if r.getMessage() == "malformed message refused"]
    assert refusal.field == "block.hash"  # the log line names the field and the reason
    assert reason in refusal.error
    assert BlockRepository(tables).get(hash_b64) is None


def test_the_v2_register_still_works_beside_them(tables, service):
    worker = enrolled_worker(tables)
    outcome = process(
        event("register", worker.worker_id, register_payload(worker.worker_id)), service
    )
    assert outcome.accepted


# -- measured by what the rig can prove ----------------------------------------------------


def test_register_ack_says_how_the_rig_will_be_measured(tables, service, publisher):
    from tests.unit.ingest.test_ingest import sent_tasks

    worker_id = _online(tables, service)  # the C++ register: no share_mode
    ours = enrolled_worker(tables)
    payload = {**register_payload(ours.worker_id), "share_mode": "pattern"}
    process(event("register", ours.worker_id, payload), service)

    first, second = sent_tasks(publisher)
    assert (first.accepted, first.measured_by) == (True, "blocks")
    assert (second.accepted, second.measured_by) == (True, "shares")
    assert WorkerRepository(tables).require(worker_id).share_mode is None


def test_under_a_lease_measured_by_blocks_each_verified_block_is_its_proof(tables, service):
    from functions.dal.accounts import AccountRepository
    from functions.dal.leases import LeaseRepository
    from tests.factories import lease_for, open_listing
    from tests.mining import mine

    listing = open_listing(tables)
    AccountRepository(tables).deposit(RENTER, 100_000_000, entry_id="fund", now=NOW)
    terms = lease_for(listing).model_copy(update={"measured_by": "blocks", "share_pattern": "XEN"})
    lease = LeaseRepository(tables).create(terms, listing)
    key, _ = mine(RENTER, 8, is_normal_block, prefix=lease.prefix)
    payload = cpp_block(
        lease.worker_id, key=key, address=RENTER, difficulty=8, lease_id=lease.lease_id, now=NOW
    )

    outcome = process(event("block", lease.worker_id, dumps(payload)), service)

    assert (outcome.accepted, outcome.reason) == (True, "normal")
    counted = LeaseRepository(tables).require(lease.lease_id)
    assert counted.shares == 1
    assert counted.share_work == pytest.approx(SharePattern.parse("XEN").expected_hashes())
