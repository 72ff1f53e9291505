"""Per-rig report limits: a flood is refused before any work, a forger is suspended on
every instance, and an honest rig never notices."""

from __future__ import annotations

import base64
import os

from functions.dal.blocks import BlockRepository
from functions.dal.workers import WorkerRepository
from functions.handlers.ingest import _metric_name, build_service, process
from functions.logic.ingest import Outcome
from functions.logic.report_limits import DEFAULT_POLICY, Budget, ReportLimiter, ReportPolicy
from functions.ports.devices import RecordingPublisher
from tests.factories import NOW, PROVIDER, enrolled_worker
from tests.mining import mine
from tests.unit.ingest.test_ingest import block_payload, event, register_payload


def forged_block(worker_id: str, now: int) -> dict:
    """A block whose hash does not recompute: each one costs the platform an Argon2id."""
    fake = base64.b64encode(os.urandom(64)).decode().rstrip("=")
    return event("block", worker_id, block_payload(worker_id, "ab" * 32, fake, PROVIDER), now)


def test_a_bucket_allows_its_burst_then_refills_at_its_rate():
    limiter = ReportLimiter()
    budget = DEFAULT_POLICY.budgets["block"]
    assert all(limiter.allow("rig-a", "block", NOW) for _ in range(budget.burst))
    assert not limiter.allow("rig-a", "block", NOW)
    assert limiter.allow("rig-b", "block", NOW)  # every rig has its own
    assert limiter.allow("rig-a", "heartbeat", NOW)  # heartbeats are batched, not limited
    assert limiter.allow("rig-a", "block", NOW + 60 / budget.per_minute)  # one token back
    assert not limiter.allow("rig-a", "block", NOW + 60 / budget.per_minute)


def test_strikes_suspend_only_for_forgers_reasons_within_the_window():
    limiter = ReportLimiter()
    policy = limiter.policy
    assert not any(limiter.strike("rig-a", "too_old", NOW) for _ in range(50))
    # Spread wider than the window: never enough at once.
    spaced = policy.strike_window_seconds // (policy.strikes - 1) + 1
    assert not any(limiter.strike("rig-a", "hash_mismatch", NOW + i * spaced) for i in range(20))
    outcomes = [limiter.strike("rig-b", "hash_mismatch", NOW + i) for i in range(policy.strikes)]
    assert outcomes == [False] * (policy.strikes - 1) + [True]


def test_a_flood_of_reports_is_refused_before_any_read_hash_or_write(tables, settings):
    worker = enrolled_worker(tables)
    service = build_service(settings, tables, publisher=RecordingPublisher())
    service.limiter = ReportLimiter(
        ReportPolicy(budgets={"block": Budget(burst=3, per_minute=1)}, strikes=100)
    )
    outcomes = [process(forged_block(worker.worker_id, NOW), service).reason for _ in range(5)]
    assert outcomes == ["hash_mismatch"] * 3 + ["rate_limited"] * 2
    # Only the three heard were recorded (for audit); the flood wrote nothing.
    blocks = BlockRepository(tables).by_worker(worker.worker_id, limit=50).items
    assert len(blocks) == 3


def test_a_forger_is_suspended_everywhere_then_heard_again(tables, settings):
    worker = enrolled_worker(tables)
    policy = DEFAULT_POLICY
    first = build_service(settings, tables, publisher=RecordingPublisher())
    reasons = [
        process(forged_block(worker.worker_id, NOW + i), first).reason
        for i in range(policy.strikes)
    ]
    assert reasons == ["hash_mismatch"] * policy.strikes
    stored = WorkerRepository(tables).require(worker.worker_id)
    assert stored.reports_suspended_until == NOW + policy.strikes - 1 + policy.suspend_seconds

    # Another instance (a fresh process, no strikes in memory) refuses it unheard, even a
    # true block: nothing is hashed or written while the suspension lasts.
    other = build_service(settings, tables, publisher=RecordingPublisher())
    key, hash_b64 = mine(PROVIDER, 8, lambda h: "XEN" in h)
    true_block = block_payload(worker.worker_id, key, hash_b64, PROVIDER)
    during = NOW + policy.strikes
    assert process(event("block", worker.worker_id, true_block, during), other).reason == (
        "suspended"
    )
    assert BlockRepository(tables).get(hash_b64) is None
    # Registers and heartbeats still work: the rig stays visible to its owner.
    registered = process(
        event("register", worker.worker_id, register_payload(worker.worker_id)), other
    )
    assert registered.accepted

    after = stored.reports_suspended_until
    payload = {**true_block, "timestamp": after}
    outcome = process(event("block", worker.worker_id, payload, after), other)
    assert outcome.accepted, outcome


def test_an_honest_rig_at_a_share_a_minute_is_never_limited():
    limiter = ReportLimiter()
    assert all(limiter.allow("rig-a", "share", NOW + 60 * i) for i in range(24 * 60))


def test_limited_reports_have_their_own_metric():
    assert _metric_name(Outcome(False, "rate_limited", "block")) == "LimitedBlock"
    assert _metric_name(Outcome(False, "suspended", "share")) == "LimitedShare"
    assert _metric_name(Outcome(False, "hash_mismatch", "block")) == "RejectedBlock"
