"""ShareRepository: a share and its lease's counters are written together, or not at all."""

from __future__ import annotations

from typing import Any

import pytest

from functions.dal import codec
from functions.dal.reads import get_item
from functions.dal.shares import ShareRepository
from functions.dal.specs import LEASES
from functions.dal.tables import Tables
from functions.errors import DuplicateEntry, LeaseNotActive
from functions.models.blocks import Share
from functions.models.market import Lease, LeaseStatus

NOW = 1_715_342_400
ENDS_AT = NOW + 3600


def _lease(tables: Tables, lease_id: str = "lease-1", **changes: Any) -> Lease:
    fields: dict[str, Any] = {
        "lease_id": lease_id,
        "listing_id": "listing-1",
        "worker_id": "worker-1",
        "provider": "0x" + "a" * 40,
        "renter": "0x" + "b" * 40,
        "prefix": "0123456789abcdef",
        "share_pattern": "Xe",
        "price_per_hour": 1_000_000,
        "advertised_hashrate": 1000.0,
        "fee_bp": 500,
        "duration_sec": 3600,
        "created_at": NOW,
        "ends_at": ENDS_AT,
        "max_cost": 1_000_000,
        "escrow": 1_000_000,
    }
    fields.update(changes)
    lease = Lease.model_validate(fields)
    tables.client.put_item(
        TableName=tables.name(LEASES), Item=codec.to_item(lease.model_dump(mode="json"))
    )
    return lease


def _counters(tables: Tables, lease_id: str = "lease-1") -> tuple[int, float]:
    item = get_item(tables, LEASES, {"lease_id": lease_id})
    assert item is not None
    return int(item["shares"]), float(item["share_work"])


def _share(n: int, **changes: Any) -> Share:
    fields: dict[str, Any] = {
        "hash": f"s{n:04d}Xe+/abc",
        "lease_id": "lease-1",
        "worker_id": "worker-1",
        "key": "0123456789abcdef" + f"{n:048x}",
        "difficulty": 8,
        "work": 4096.5,
        "found_at": NOW + 60 * n,
        "recorded_at": NOW + 60 * n + 1,
        "expires_at": NOW + 90 * 86_400,
    }
    fields.update(changes)
    return Share.model_validate(fields)


def _hashes(repo: ShareRepository, lease_id: str = "lease-1") -> list[str]:
    return [s.hash for s in repo.by_lease(lease_id, limit=100).items]


def test_round_trip_and_counters(tables: Tables) -> None:
    _lease(tables)
    repo = ShareRepository(tables)
    shares = [_share(n, work=1000.25 * (n + 1)) for n in (2, 0, 1)]
    for share in shares:
        repo.record(share)
    listed = repo.by_lease("lease-1", limit=10).items
    assert listed == sorted(shares, key=lambda s: s.found_at)  # oldest first
    assert _counters(tables) == (3, 1000.25 * 6)


def test_by_lease_pages(tables: Tables) -> None:
    _lease(tables)
    _lease(tables, "lease-2")
    repo = ShareRepository(tables)
    for n in range(5):
        repo.record(_share(n))
    repo.record(_share(9, lease_id="lease-2"))
    first = repo.by_lease("lease-1", limit=3)
    second = repo.by_lease("lease-1", limit=3, cursor=first.cursor)
    assert [s.hash for s in first.items + second.items] == [_share(n).hash for n in range(5)]
    assert _hashes(repo, "lease-2") == [_share(9).hash]


def test_replay_is_a_duplicate_and_counts_once(tables: Tables) -> None:
    _lease(tables)
    repo = ShareRepository(tables)
    share = _share(1)
    repo.record(share)
    with pytest.raises(DuplicateEntry):
        repo.record(share)
    assert _counters(tables) == (1, share.work)
    assert _hashes(repo) == [share.hash]


@pytest.mark.parametrize(
    ("lease_changes", "share_changes"),
    [
        ({"status": LeaseStatus.SETTLED, "settled_at": NOW + 100}, {}),
        ({}, {"found_at": ENDS_AT + 1}),  # found after the lease ended
        ({}, {"lease_id": "no-such-lease"}),
    ],
    ids=["settled", "ended", "unknown"],
)
def test_share_outside_an_active_lease_writes_nothing(
    tables: Tables, lease_changes: dict[str, Any], share_changes: dict[str, Any]
) -> None:
    _lease(tables, **lease_changes)
    repo = ShareRepository(tables)
    share = _share(1, **share_changes)
    with pytest.raises(LeaseNotActive):
        repo.record(share)
    assert _hashes(repo, share.lease_id) == []
    assert _counters(tables) == (0, 0.0)


def test_share_found_at_the_end_still_counts(tables: Tables) -> None:
    _lease(tables)
    ShareRepository(tables).record(_share(1, found_at=ENDS_AT))
    assert _counters(tables)[0] == 1


def test_replay_after_settlement_is_still_a_duplicate(tables: Tables) -> None:
    _lease(tables)
    repo = ShareRepository(tables)
    share = _share(1)
    repo.record(share)
    _lease(tables, status=LeaseStatus.SETTLED, shares=1, share_work=share.work)
    with pytest.raises(DuplicateEntry):
        repo.record(share)
