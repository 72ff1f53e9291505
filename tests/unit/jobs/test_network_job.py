"""The network job: the node read and kept (value, changes, failures), changes pushed to the
rigs under a lease and to no other, leased blocks confirmed with the node's read API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.dal.accounts import AccountRepository
from functions.dal.blocks import BlockRepository
from functions.dal.leases import LeaseRepository
from functions.dal.network import NetworkRepository
from functions.handlers import jobs as handlers
from functions.local.lambda_context import LocalLambdaContext
from functions.local.scheduler import LocalScheduler, network_job
from functions.logic.jobs import Jobs
from functions.logic.network import CONFIRM_AFTER_SECONDS, CONFIRM_SLOT
from functions.models.blocks import Block, NetworkStatus
from functions.models.market import Lease
from functions.models.network import Verdict
from functions.ports.devices import RecordingPublisher
from functions.ports.xenblocks_node import FakeXenBlocksNode, NodeBlock
from functions.settings import Settings
from protocol.codec import parse_control
from protocol.topics import Downlink, topic
from protocol.xenblocks import BlockRules
from tests.factories import (
    NOW,
    PROVIDER,
    RENTER,
    enrolled_worker,
    lease_for,
    mined_block,
    open_listing,
)


@pytest.fixture
def settings() -> Settings:
    return Settings(
        stage="test",
        rules=BlockRules(difficulty=8, block_pattern="XEN"),
        network_url="http://node.invalid",
    )


@pytest.fixture
def node() -> FakeXenBlocksNode:
    return FakeXenBlocksNode(value=1727)


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def jobs(settings, tables, publisher, node) -> Jobs:
    return Jobs(settings, tables, publisher, node=node)


def _lease(tables) -> Lease:
    listing = open_listing(tables)
    AccountRepository(tables).deposit(
        RENTER, 100_000_000, entry_id=f"f{listing.listing_id}", now=NOW
    )
    return LeaseRepository(tables).create(lease_for(listing, duration_sec=7200), listing)


def _controls(publisher: RecordingPublisher) -> list[tuple[str, Any]]:
    return [(t, parse_control(p)) for t, p, _ in publisher.sent if t.endswith("/control")]


def test_the_first_read_is_kept_and_then_only_changes_are_history(jobs, tables, node) -> None:
    first = jobs.follow_network(NOW)
    assert (first.status, first.difficulty, first.previous) == ("changed", 1727, 8)
    assert jobs.follow_network(NOW + 60).status == "unchanged"
    node.value = 2727
    changed = jobs.follow_network(NOW + 120)
    assert (changed.status, changed.difficulty, changed.previous) == ("changed", 2727, 1727)
    state = NetworkRepository(tables).state()
    assert state is not None
    assert [(c.difficulty, c.since, c.seen_at) for c in state.changes] == [
        (2727, NOW + 60, NOW + 120),
        (1727, NOW, NOW),
    ]
    assert (state.checked_at, state.floor, state.version) == (NOW + 120, 8, 3)


def test_a_failed_or_bad_read_is_counted_and_keeps_the_last_value(jobs, tables, node) -> None:
    jobs.follow_network(NOW)
    node.failures = ["difficulty: HTTP 502", "difficulty: 7 is outside [8, 2**32 - 1]"]
    for n in (1, 2):
        run = jobs.follow_network(NOW + 60 * n)
        assert (run.status, run.difficulty) == ("failed", 1727)
    state = NetworkRepository(tables).state()
    assert state is not None
    assert (state.difficulty, state.failures, state.failed_at) == (1727, 2, NOW + 120)
    assert state.last_error == "difficulty: 7 is outside [8, 2**32 - 1]"
    assert state.checked_at == NOW  # the last good read
    assert jobs.follow_network(NOW + 180).status == "unchanged"
    state = NetworkRepository(tables).state()
    assert state is not None
    assert state.failures == 0


def test_a_rise_is_pushed_to_leased_rigs_only(jobs, tables, publisher, node) -> None:
    leased = _lease(tables)
    idle = enrolled_worker(tables)  # online perhaps, but nobody pays for its work
    jobs.follow_network(NOW)
    publisher.sent.clear()
    assert jobs.follow_network(NOW + 60).pushed == 0  # unchanged: nothing sent
    node.value = 3000
    run = jobs.follow_network(NOW + 120)
    assert (run.pushed, run.push_failures) == (1, 0)
    ((sent_topic, control),) = _controls(publisher)
    assert sent_topic == topic(leased.worker_id, Downlink.CONTROL)
    assert control.action == "set_config"
    assert control.config.difficulty == 3000
    assert all(idle.worker_id not in t for t, _, _ in publisher.sent)
    # A drop is not pushed: blocks mined above the network stay valid, and rigs poll it.
    publisher.sent.clear()
    node.value = 2000
    assert jobs.follow_network(NOW + 180).pushed == 0
    assert publisher.sent == []


def test_pinned_and_nodeless_deployments_read_nothing(settings, tables, publisher, node) -> None:
    pinned = settings.model_copy(update={"follow_network": False})
    run = Jobs(pinned, tables, publisher, node=node).follow_network(NOW)
    assert (run.status, run.difficulty) == ("pinned", 8)
    nodeless = settings.model_copy(update={"network_url": None})
    assert Jobs(nodeless, tables, publisher).follow_network(NOW).status == "no_node"
    assert node.reads == 0
    assert NetworkRepository(tables).state() is None


def test_a_run_that_raced_another_writes_nothing(jobs, tables, node, monkeypatch) -> None:
    jobs.follow_network(NOW)
    repository = NetworkRepository(tables)
    stale = repository.state(consistent=True)
    assert stale is not None
    # Another run wrote between this run's read and its write.
    repository.save_state(stale.model_copy(update={"version": 2}), expected_version=1)
    monkeypatch.setattr(NetworkRepository, "state", lambda self, consistent=False: stale)
    node.value = 5000
    assert jobs.follow_network(NOW + 60).status == "raced"


def _verified(tables, lease: Lease, n: int, recorded_at: int) -> Block:
    block = mined_block(
        n,
        hash=f"XEN{n:04d}abc",
        worker_id=lease.worker_id,
        lease_id=lease.lease_id,
        account=RENTER,
        difficulty=1727,
        attempts=1,
        reported_hashrate=1.0,
        found_at=recorded_at - 2,
        recorded_at=recorded_at,
    )
    assert BlockRepository(tables).record(block)
    return block


def _held(block: Block, account: str = RENTER) -> NodeBlock:
    encoded = f"$argon2id$v=19$m={block.difficulty},t=1,p=1$c2FsdA${block.hash}"
    return NodeBlock(block.key, account.lower(), encoded, 1)


def test_unconfirmed_leased_blocks_are_confirmed_with_the_read_api(jobs, tables, node) -> None:
    lease = _lease(tables)
    now = NOW + 1000
    due = now - CONFIRM_AFTER_SECONDS[0] - CONFIRM_SLOT // 2
    held = _verified(tables, lease, 1, due)
    missing = _verified(tables, lease, 2, due)
    answered = _verified(tables, lease, 3, due)
    impostor = _verified(tables, lease, 4, due)
    too_young = _verified(tables, lease, 5, now - 10)
    node.hold(_held(held))
    node.hold(_held(impostor, account=PROVIDER))  # the node holds that key for someone else
    network = NetworkRepository(tables)
    network.record_verdict(
        Verdict(
            hash=answered.hash,
            worker_id=answered.worker_id,
            lease_id=lease.lease_id,
            status=NetworkStatus.REFUSED,
            reason="Hash verification failed.",
            at=due + 5,
        )
    )
    run = jobs.follow_network(now)
    assert (run.confirmed, run.confirm_missing) == (1, 2)
    assert sorted(node.block_reads) == sorted([held.key, missing.key, impostor.key])
    verdict = network.verdict(held.hash)
    assert verdict is not None
    assert (verdict.status, verdict.source) == ("accepted", "node")
    blocks = network.attach(BlockRepository(tables).by_lease(lease.lease_id, limit=10).items)
    statuses = {b.hash: b.network_status for b in blocks}
    assert statuses == {
        held.hash: NetworkStatus.ACCEPTED,
        missing.hash: NetworkStatus.UNCONFIRMED,
        answered.hash: NetworkStatus.REFUSED,
        impostor.hash: NetworkStatus.UNCONFIRMED,
        too_young.hash: NetworkStatus.UNCONFIRMED,
    }


def test_the_handler_reports_the_run(settings, tables, publisher, node, monkeypatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    handlers.metrics.clear_metrics()
    handlers.configure(Jobs(settings, tables, publisher, node=node))
    try:
        event = {"time": "2025-11-21T05:20:00Z", "source": "aws.events"}
        result = handlers.network_handler(event, LocalLambdaContext("network"))
    finally:
        handlers.configure(None)
    assert result == {
        "status": "changed",
        "difficulty": 1727,
        "previous": 8,
        "pushed": 0,
        "confirmed": 0,
    }


def test_the_local_scheduler_runs_it(jobs, node) -> None:
    job = network_job(jobs.follow_network)
    scheduler = LocalScheduler([job], clock=lambda: float(NOW))
    assert scheduler.run_due() == ["network"]
    assert (job.every_seconds, job.runs, node.reads) == (15.0, 1, 1)


def test_the_item_is_plain_json(jobs, tables) -> None:
    jobs.follow_network(NOW)
    state = NetworkRepository(tables).state()
    assert state is not None
    assert json.loads(state.model_dump_json())["changes"][0]["difficulty"] == 1727
