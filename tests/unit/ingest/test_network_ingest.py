"""Ingest and the network (issue #19): the difficulty handed to rigs, blocks judged at the
difficulty in effect when found (with grace and cap) and classified at arrival, the node's
verdicts recorded on their blocks, and no true block lost to a false report."""

from __future__ import annotations

from typing import Any

import pytest

from functions.dal.blocks import BlockRepository
from functions.dal.leases import LeaseRepository
from functions.dal.network import NetworkRepository
from functions.handlers.ingest import build_service, process
from functions.logic.network import NetworkView, observe
from functions.models.blocks import NetworkStatus
from functions.models.network import NetworkState
from tests.factories import NOW, PROVIDER, RENTER, enrolled_worker
from tests.mining import mine
from tests.unit.ingest.test_ingest import (
    block_payload,
    event,
    register_payload,
    sent_tasks,
)

HOUR = NOW - NOW % 3600 + 3600  # the top of an hour: minutes 0-4 are XUNI's window


def _state(*reads: tuple[int, int]) -> NetworkState:
    state = None
    for value, at in reads:
        state = observe(state, value, at, fallback=8)
    assert state is not None
    return state


def _save(tables, state: NetworkState) -> None:
    repository = NetworkRepository(tables)
    current = repository.state(consistent=True)
    expected = current.version if current is not None else None
    repository.save_state(
        state.model_copy(update={"version": (expected or 0) + 1}), expected_version=expected
    )


def _block(worker_id: str, difficulty: int, found_at: int, **extra: Any) -> dict[str, Any]:
    key, hash_b64 = mine(PROVIDER, difficulty, lambda h: "XEN" in h and "UN" not in h)
    return block_payload(
        worker_id, key, hash_b64, PROVIDER, difficulty=difficulty, timestamp=found_at, **extra
    )


def _verdict(worker_id: str, hash_b64: str, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "worker_id": worker_id,
        "lease_id": "",
        "hash": hash_b64,
        "status": status,
        "timestamp": NOW,
        **extra,
    }


# -- the difficulty handed out -------------------------------------------------------------


def test_register_ack_and_assign_task_carry_the_networks_difficulty(
    tables, service, publisher, leased
) -> None:
    _save(tables, _state((16, NOW - 600)))
    process(event("register", leased.worker_id, register_payload(leased.worker_id)), service)
    ack, task = sent_tasks(publisher)
    assert (ack.difficulty, task.difficulty) == (16, 16)


def test_a_pinned_deployment_ignores_the_network(settings, tables, publisher) -> None:
    _save(tables, _state((16, NOW - 600)))
    pinned = build_service(settings.model_copy(update={"follow_network": False}), tables, publisher)
    worker = enrolled_worker(tables)
    process(event("register", worker.worker_id, register_payload(worker.worker_id)), pinned)
    (ack,) = sent_tasks(publisher)
    assert ack.difficulty == 8


def test_the_state_is_read_once_per_cache_window(settings, tables) -> None:
    reads: list[int] = []
    repository = NetworkRepository(tables)
    original = repository.state

    def counted(*, consistent: bool = False) -> NetworkState | None:
        reads.append(1)
        return original(consistent=consistent)

    repository.state = counted  # type: ignore[method-assign]
    moment = [0.0]
    view = NetworkView(settings, repository, clock=lambda: moment[0])
    assert view.difficulty() == 8  # nothing read yet: the fallback
    _save(tables, _state((16, NOW)))
    moment[0] = 29.0
    assert view.difficulty() == 8  # still cached
    moment[0] = 30.0
    assert view.difficulty() == 16
    assert len(reads) == 2


# -- verification against the history ------------------------------------------------------


@pytest.fixture
def moving(tables) -> NetworkState:
    """8 until a read at NOW-400 still saw it; 16 first seen at NOW-340; grace 120 s."""
    state = _state((8, NOW - 1000), (8, NOW - 400), (16, NOW - 340))
    _save(tables, state)
    return state


@pytest.mark.parametrize(
    ("difficulty", "found_at", "reason"),
    [
        (8, NOW - 600, "normal"),  # mined while the network wanted 8
        (8, NOW - 221, "normal"),  # within the grace after 16 was seen
        (8, NOW - 220, "below_difficulty"),  # the grace is over
        (16, NOW - 380, "normal"),  # 16 may already have held since NOW-400
        (16, NOW, "normal"),
        (24, NOW, "normal"),  # above the network is fine: the node has no upper limit
        (65, NOW, "difficulty_too_high"),  # over 4x the highest recent value: not hashed
    ],
)
def test_blocks_are_judged_at_the_difficulty_in_effect_when_found(
    tables, service, moving, difficulty, found_at, reason
) -> None:
    worker = enrolled_worker(tables)
    if reason == "difficulty_too_high":
        payload = block_payload(
            worker.worker_id, "ab" * 32, "XENforged", PROVIDER, difficulty=65, timestamp=NOW
        )
    else:
        payload = _block(worker.worker_id, difficulty, found_at)
    outcome = process(event("block", worker.worker_id, payload), service)
    assert outcome.reason == reason


def test_a_share_below_the_network_never_counts_as_work(tables, service, leased) -> None:
    _save(tables, _state((16, NOW - 600)))
    key, hash_b64 = mine(RENTER, 8, lambda h: "Xe" in h, prefix=leased.prefix)
    payload = {
        "worker_id": leased.worker_id,
        "lease_id": leased.lease_id,
        "hash": hash_b64,
        "key": key,
        "account": RENTER,
        "difficulty": 8,
        "timestamp": NOW,
    }
    outcome = process(event("share", leased.worker_id, payload), service)
    assert (outcome.accepted, outcome.reason) == (False, "below_difficulty")
    assert LeaseRepository(tables).require(leased.lease_id).shares == 0


def test_a_stale_cache_is_read_again_before_refusing(settings, tables, publisher) -> None:
    """The network dropped 16 → 8 a moment ago; the warm process still holds 16."""
    _save(tables, _state((16, NOW - 3000)))
    service = build_service(settings, tables, publisher)
    moment = [100.0]
    service.network = NetworkView(settings, NetworkRepository(tables), clock=lambda: moment[0])
    assert service.network.difficulty() == 16
    _save(tables, _state((16, NOW - 3000), (16, NOW - 70), (8, NOW - 10)))
    moment[0] = 105.0
    worker = enrolled_worker(tables)
    outcome = process(event("block", worker.worker_id, _block(worker.worker_id, 8, NOW)), service)
    assert outcome.reason == "normal"


def test_xuni_is_judged_when_it_arrives(tables, service) -> None:
    worker = enrolled_worker(tables)
    xuni = lambda h: "UN" in h and any(f"UN{d}" in h for d in "0123456789")  # noqa: E731
    # Found inside the window, arrived after it closed: the node refuses it, so do we.
    key, hash_b64 = mine(PROVIDER, 8, xuni)
    late = block_payload(worker.worker_id, key, hash_b64, PROVIDER, timestamp=HOUR + 4 * 60 + 50)
    assert process(event("block", worker.worker_id, late, HOUR + 5 * 60 + 5), service).reason == (
        "xuni_outside_window"
    )
    # Found a little before the window opened, arrived inside it: XUNI.
    key, hash_b64 = mine(PROVIDER, 8, xuni)
    early = block_payload(worker.worker_id, key, hash_b64, PROVIDER, timestamp=HOUR - 5 * 60 - 10)
    assert process(event("block", worker.worker_id, early, HOUR - 5 * 60 + 5), service).reason == (
        "xuni"
    )


# -- nothing true lost to a false report ---------------------------------------------------


def test_a_true_block_counts_once_after_corrupted_copies_of_it(tables, service, leased) -> None:
    key, hash_b64 = mine(RENTER, 8, lambda h: "XEN" in h and "UN" not in h, prefix=leased.prefix)
    true = block_payload(leased.worker_id, key, hash_b64, RENTER, lease_id=leased.lease_id)
    wrong_key = {**true, "key": leased.prefix + "0" * 48}
    flipped = (
        hash_b64[-1].swapcase() if hash_b64[-1].isalpha() else ("A" if hash_b64[-1] != "A" else "B")
    )
    one_off = {**true, "hash": hash_b64[:-1] + flipped}
    wrong_account = {**true, "account": PROVIDER}
    for copy, reason in (
        (wrong_key, "hash_mismatch"),
        (one_off, "hash_mismatch"),
        (wrong_account, "wrong_account"),
    ):
        outcome = process(event("block", leased.worker_id, copy), service)
        assert (outcome.accepted, outcome.reason) == (False, reason)
    first = process(event("block", leased.worker_id, true, NOW + 5), service)
    again = process(event("block", leased.worker_id, true, NOW + 9), service)
    assert (first.accepted, first.reason) == (True, "normal")
    assert (again.accepted, again.reason) == (False, "duplicate")
    assert LeaseRepository(tables).require(leased.lease_id).blocks == 1
    blocks = BlockRepository(tables)
    assert blocks.get(hash_b64).verified  # type: ignore[union-attr]
    assert len(blocks.refused(leased.worker_id, hash_b64)) == 2  # the key and the account
    listed = blocks.by_lease(leased.lease_id, limit=10).items
    assert sorted(b.verified for b in listed) == [False, False, False, True]


# -- the node's verdicts -------------------------------------------------------------------


@pytest.fixture
def found(tables, service):
    worker = enrolled_worker(tables)
    payload = _block(worker.worker_id, 8, NOW)
    assert process(event("block", worker.worker_id, payload), service).accepted
    return worker.worker_id, payload["hash"]


def _status(tables, hash_b64: str) -> tuple[NetworkStatus, str | None]:
    block = BlockRepository(tables).get(hash_b64)
    assert block is not None
    (joined,) = NetworkRepository(tables).attach([block])
    return joined.network_status, joined.network_reason


def test_a_block_is_unconfirmed_until_its_verdict(tables, service, found) -> None:
    worker_id, hash_b64 = found
    assert _status(tables, hash_b64) == (NetworkStatus.UNCONFIRMED, None)
    outcome = process(
        event("verdict", worker_id, _verdict(worker_id, hash_b64, "accepted")), service
    )
    assert (outcome.accepted, outcome.reason, outcome.kind) == (True, "accepted", "verdict")
    assert _status(tables, hash_b64) == (NetworkStatus.ACCEPTED, None)
    joined = NetworkRepository(tables).attach([BlockRepository(tables).get(hash_b64)])[0]  # type: ignore[list-item]
    assert joined.network_accepted is True


def test_a_refusal_keeps_the_nodes_reason_and_is_final(tables, service, found) -> None:
    worker_id, hash_b64 = found
    refusal = _verdict(
        worker_id, hash_b64, "refused", http_status=401, message="Hash verification failed."
    )
    assert process(event("verdict", worker_id, refusal), service).reason == "refused"
    later = _verdict(worker_id, hash_b64, "accepted")
    assert process(event("verdict", worker_id, later), service).reason == "already_confirmed"
    assert _status(tables, hash_b64) == (NetworkStatus.REFUSED, "Hash verification failed.")


def test_unreachable_gives_way_to_an_answer(tables, service, found) -> None:
    worker_id, hash_b64 = found
    for status in ("unreachable", "unreachable", "duplicate"):
        outcome = process(
            event("verdict", worker_id, _verdict(worker_id, hash_b64, status)), service
        )
        assert outcome.accepted
    assert _status(tables, hash_b64) == (NetworkStatus.DUPLICATE, None)


def test_verdicts_for_unknown_or_foreign_blocks_are_refused(tables, service, found) -> None:
    worker_id, hash_b64 = found
    other = enrolled_worker(tables).worker_id
    cases = [
        (worker_id, _verdict(worker_id, "XENnever", "accepted"), "unknown_block"),
        (other, _verdict(other, hash_b64, "accepted"), "not_your_block"),
        (worker_id, _verdict(worker_id, hash_b64, "accepted", lease_id="l-9"), "wrong_lease"),
    ]
    for sender, payload, reason in cases:
        outcome = process(event("verdict", sender, payload), service)
        assert (outcome.accepted, outcome.reason) == (False, reason)
    assert _status(tables, hash_b64) == (NetworkStatus.UNCONFIRMED, None)


def test_a_verdict_for_a_report_we_refused_is_refused(tables, service) -> None:
    worker = enrolled_worker(tables)
    payload = _block(worker.worker_id, 8, NOW)
    forged = {**payload, "account": RENTER}
    assert process(event("block", worker.worker_id, forged), service).reason == "wrong_account"
    verdict = _verdict(worker.worker_id, payload["hash"], "accepted")
    assert process(event("verdict", worker.worker_id, verdict), service).reason == "unknown_block"


def test_verdicts_draw_on_the_block_budget(settings, tables, service, found) -> None:
    worker_id, hash_b64 = found
    reasons = {
        process(
            event("verdict", worker_id, _verdict(worker_id, hash_b64, "unreachable")), service
        ).reason
        for _ in range(80)
    }
    assert "rate_limited" in reasons
