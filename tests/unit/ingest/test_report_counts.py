"""Each rig's accepted and refused reports: counted in the process, written at most every
15 minutes per rig (the first at once), shown on its owner's page."""

from __future__ import annotations

from collections import Counter

import pytest

from functions.dal.workers import WorkerRepository
from functions.errors import NotFound
from functions.handlers.ingest import process
from functions.logic.report_counts import FLUSH_SECONDS, ReportTally, counter_for
from tests.api_client import api_context, auth, client_for
from tests.factories import NOW, PROVIDER, RENTER
from tests.mining import mine
from tests.unit.ingest.test_ingest import event, share_payload


class Recording:
    def __init__(self, *, missing: str = "") -> None:
        self.writes: list[tuple[str, Counter[str]]] = []
        self.missing = missing

    def add_report_counts(self, worker_id: str, counts: Counter[str]) -> None:
        if worker_id == self.missing:
            raise NotFound(worker_id)
        self.writes.append((worker_id, Counter(counts)))


@pytest.mark.parametrize(
    ("kind", "accepted", "reason", "counter"),
    [
        ("share", True, "verified", "shares_verified"),
        ("share", False, "hash_mismatch", "shares_refused"),
        ("share", False, "rate_limited", "shares_refused"),
        ("share", False, "lease_not_active", "shares_refused"),  # stale
        ("share", False, "duplicate", None),  # a re-sent share counts neither way
        ("share", False, "unknown_worker", None),
        ("block", True, "normal", None),  # blocks are counted from the table when read
        ("verdict", True, "accepted", None),
        ("heartbeat", True, "ok", None),
    ],
)
def test_which_outcome_counts_where(kind, accepted, reason, counter):
    assert counter_for(kind, accepted, reason) == counter


def test_one_write_per_rig_per_interval_the_first_at_once():
    repo = Recording()
    tally = ReportTally(repo)  # type: ignore[arg-type]
    tally.count("w1", "shares_verified", NOW)
    assert repo.writes == [("w1", Counter(shares_verified=1))]
    for i in range(1, 15):  # a share a minute
        tally.count("w1", "shares_verified" if i % 5 else "shares_refused", NOW + 60 * i)
    assert len(repo.writes) == 1
    assert tally.pending("w1") == Counter(shares_verified=12, shares_refused=2)
    tally.count("w1", "shares_verified", NOW + 60 + FLUSH_SECONDS)  # held 15 min: written
    assert repo.writes[1] == ("w1", Counter(shares_verified=13, shares_refused=2))
    assert tally.pending("w1") == Counter()


def test_a_quiet_rigs_counts_go_out_with_another_rigs_report():
    repo = Recording()
    tally = ReportTally(repo)  # type: ignore[arg-type]
    tally.count("w1", "shares_verified", NOW)
    tally.count("w1", "shares_refused", NOW + 10)  # held: w1 was just written
    tally.count("w2", "shares_verified", NOW + 10 + FLUSH_SECONDS)
    assert repo.writes[-2:] == [
        ("w2", Counter(shares_verified=1)),
        ("w1", Counter(shares_refused=1)),
    ]


def test_a_gone_rig_is_not_an_error():
    tally = ReportTally(Recording(missing="w1"))  # type: ignore[arg-type]
    tally.count("w1", "shares_refused", NOW)
    assert tally.pending("w1") == Counter()


def test_shares_counted_through_ingest_reach_the_owners_page(settings, tables, service, leased):
    key, hash_b64 = mine(RENTER, 8, lambda h: "Xe" in h, prefix=leased.prefix)
    good = share_payload(leased, key, hash_b64)
    forged = share_payload(leased, key, "Xe" + ("A" if hash_b64[2] != "A" else "B") + hash_b64[3:])
    process(event("share", leased.worker_id, good, NOW + 61), service)
    process(event("share", leased.worker_id, forged, NOW + 62), service)
    process(event("share", leased.worker_id, good, NOW + 63), service)  # a repeat: no count

    worker = WorkerRepository(tables).require(leased.worker_id)
    assert (worker.shares_verified, worker.shares_refused) == (1, 0)  # the first, at once
    assert service.tally.pending(leased.worker_id) == Counter(shares_refused=1)
    later = NOW + 62 + FLUSH_SECONDS
    process(event("share", leased.worker_id, forged, later), service)
    worker = WorkerRepository(tables).require(leased.worker_id)
    assert (worker.shares_verified, worker.shares_refused) == (1, 2)

    client = client_for(api_context(settings, tables, now=later))
    detail = client.get(f"/api/workers/{leased.worker_id}", headers=auth(PROVIDER, later))
    assert detail.status_code == 200, detail.text
    assert detail.json()["owner_view"]["reports"] == {
        "blocks_verified": 0,
        "blocks_refused": 0,
        "network_accepted": 0,
        "network_refused": 0,
        "blocks_complete": True,
        "shares_verified": 1,
        "shares_refused": 2,
    }


def test_blocks_are_counted_from_the_table_with_their_network_verdicts(tables):
    from functions.dal.blocks import BlockRepository
    from functions.dal.network import NetworkRepository
    from functions.logic.report_counts import block_counts
    from functions.models.blocks import NetworkStatus
    from functions.models.network import Verdict
    from tests.factories import mined_block

    blocks, network = BlockRepository(tables), NetworkRepository(tables)
    for n in range(5):
        blocks.record(mined_block(n, worker_id="w-counted", recorded_at=NOW + n))
    blocks.record(mined_block(9, worker_id="w-counted", verified=False, recorded_at=NOW + 9))
    blocks.record(mined_block(20, worker_id="someone-else"))
    for n, status in (
        (0, NetworkStatus.ACCEPTED),
        (1, NetworkStatus.DUPLICATE),
        (2, NetworkStatus.REFUSED),
    ):
        hash_b64 = mined_block(n).hash
        network.record_verdict(
            Verdict(hash=hash_b64, worker_id="w-counted", status=status, source="rig", at=NOW + 60)
        )

    counts = block_counts(blocks, network, "w-counted")
    assert (counts.verified, counts.refused) == (5, 1)
    assert (counts.network_accepted, counts.network_refused) == (2, 1)  # 2 unconfirmed
    assert counts.complete
