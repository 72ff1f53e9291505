"""BlockRepository: idempotent recording, lease credit, and the four block listings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from functions.dal import codec
from functions.dal.blocks import (
    _RECENT_SCOPE,
    RECENT_DAYS,
    BlockRepository,
    refused_key,
    utc_day,
)
from functions.dal.pagination import CursorCodec
from functions.dal.reads import get_item
from functions.dal.specs import BLOCKS, LEASES
from functions.dal.tables import Tables
from functions.errors import InvalidInput, NotFound
from functions.models.blocks import Block
from functions.models.market import Lease
from protocol.xenblocks import BlockKind

NOW = int(datetime(2024, 5, 10, 12, 0, tzinfo=UTC).timestamp())
DAY = 86_400
OWNER = "0x" + "a" * 40
RENTER = "0x" + "b" * 40
OTHER = "0x" + "c" * 40


def _lease(tables: Tables, lease_id: str = "lease-1") -> Lease:
    lease = Lease(
        lease_id=lease_id,
        listing_id="listing-1",
        worker_id="worker-1",
        provider=OWNER,
        renter=RENTER,
        prefix="0123456789abcdef",
        share_pattern="Xe",
        price_per_hour=1_000_000,
        advertised_hashrate=1000.0,
        fee_bp=500,
        duration_sec=3600,
        created_at=NOW - 600,
        ends_at=NOW + 3000,
        max_cost=1_000_000,
        escrow=1_000_000,
    )
    tables.client.put_item(
        TableName=tables.name(LEASES), Item=codec.to_item(lease.model_dump(mode="json"))
    )
    return lease


def _lease_blocks(tables: Tables, lease_id: str = "lease-1") -> int:
    item = get_item(tables, LEASES, {"lease_id": lease_id})
    assert item is not None
    return int(item["blocks"])


def _block(n: int, **changes: Any) -> Block:
    fields: dict[str, Any] = {
        "hash": f"h{n:04d}XEN11abc+/",
        "worker_id": "worker-1",
        "owner": OWNER,
        "account": RENTER,
        "key": f"{n:064x}",
        "difficulty": 8,
        "attempts": 1000 + n,
        "reported_hashrate": 1250.75,
        "kind": BlockKind.NORMAL,
        "verified": True,
        "reason": "normal",
        "found_at": NOW - 5,
        "recorded_at": NOW,
    }
    fields.update(changes)
    return Block.model_validate(fields)


def _rejected(n: int, **changes: Any) -> Block:
    return _block(n, **{"kind": None, "verified": False, "reason": "wrong_prefix", **changes})


def _raw(tables: Tables, hash_b64: str) -> dict[str, Any]:
    item = get_item(tables, BLOCKS, {"hash": hash_b64})
    assert item is not None
    return item


def test_round_trip(tables: Tables) -> None:
    repo = BlockRepository(tables)
    block = _block(1, kind=BlockKind.SUPER, reason="super")
    assert repo.record(block) is True
    assert repo.get(block.hash) == block
    assert repo.get("missing") is None


def test_index_attributes_of_a_verified_block(tables: Tables) -> None:
    _lease(tables)
    block = _block(1, lease_id="lease-1")
    BlockRepository(tables).record(block)
    item = _raw(tables, block.hash)
    assert item["ts_key"] == f"{NOW:012d}#{block.hash}"
    assert item["day"] == "2024-05-10"
    assert item["credited_account"] == RENTER
    assert item["lease_id"] == "lease-1"


def test_index_attributes_of_a_rejected_block(tables: Tables) -> None:
    block = _rejected(1)
    BlockRepository(tables).record(block)
    item = _raw(tables, refused_key(block))
    assert item["reported_hash"] == block.hash
    assert item["ts_key"] == f"{NOW:012d}#{block.hash}"
    assert not {"day", "credited_account", "lease_id", "kind"} & set(item)
    # No verdict field is ever stored on a block item: verdicts live apart.
    assert not {"network_status", "network_reason", "network_at", "network_accepted"} & set(item)


def test_a_refused_report_claims_nothing_and_a_true_one_still_counts(tables: Tables) -> None:
    """Corrupted copies of a block reported first (a wrong key, a wrong account) are kept
    for audit, each once, and never stand in the way of the true report that follows."""
    _lease(tables)
    repo = BlockRepository(tables)
    wrong_key = _rejected(1, lease_id="lease-1", key="f" * 64, reason="hash_mismatch")
    wrong_account = _rejected(1, lease_id="lease-1", account=OTHER, reason="wrong_account")
    for copy in (wrong_key, wrong_account):
        assert repo.record(copy) is True
        assert repo.record(copy) is False  # the same refused report delivered again
    true = _block(1, lease_id="lease-1")
    assert repo.get(true.hash) is None
    assert repo.record(true) is True
    assert repo.record(true) is False  # a second true report is a duplicate
    assert repo.get(true.hash) == true
    assert _lease_blocks(tables) == 1
    refused = repo.refused("worker-1", true.hash)
    assert sorted(b.reason for b in refused) == ["hash_mismatch", "wrong_account"]
    assert all(b.hash == true.hash and not b.verified for b in refused)
    listed = repo.by_lease("lease-1", limit=10).items
    assert sorted((b.hash, b.verified) for b in listed) == sorted(
        [(true.hash, True), (true.hash, False), (true.hash, False)]
    )
    assert [b.hash for b in repo.recent(now=NOW, limit=10).items] == [true.hash]


def test_self_mined_blocks_are_one_put_not_a_transaction(tables: Tables) -> None:
    calls: list[str] = []
    tables.client.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.append(model.name)
    )
    BlockRepository(tables).record(_block(1))
    BlockRepository(tables).record(_rejected(2))
    assert calls == ["PutItem", "PutItem"]


def test_recorded_between_spans_midnight_and_skips_refused(tables: Tables) -> None:
    repo = BlockRepository(tables)
    midnight = NOW - NOW % DAY + DAY
    for n, at in enumerate((midnight - 30, midnight - 1, midnight, midnight + 29, midnight + 30)):
        repo.record(_block(n, recorded_at=at))
    repo.record(_rejected(9, recorded_at=midnight))
    found = repo.recorded_between(midnight - 30, midnight + 30)
    assert [b.recorded_at for b in found] == [midnight - 30, midnight - 1, midnight, midnight + 29]
    assert repo.recorded_between(midnight, midnight) == []
    _lease(tables)
    leased = _block(20, lease_id="lease-1", recorded_at=midnight + 5)
    repo.record(leased)
    assert repo.recorded_between(midnight, midnight + 30, leased_only=True) == [leased]


def test_duplicate_is_ignored_and_counted_once(tables: Tables) -> None:
    _lease(tables)
    repo = BlockRepository(tables)
    block = _block(1, lease_id="lease-1")
    assert repo.record(block) is True
    assert repo.record(block) is False
    # A replay with a different verdict or time still changes nothing: the hash decides.
    assert repo.record(_block(1, lease_id="lease-1", recorded_at=NOW + 60)) is False
    assert _lease_blocks(tables) == 1
    assert [b.hash for b in repo.by_worker("worker-1", limit=10).items] == [block.hash]
    assert repo.get(block.hash) == block


def test_rejected_block_does_not_credit_the_lease(tables: Tables) -> None:
    _lease(tables)
    repo = BlockRepository(tables)
    assert repo.record(_rejected(1, lease_id="lease-1")) is True
    assert _lease_blocks(tables) == 0
    assert len(repo.by_lease("lease-1", limit=10).items) == 1


def test_verified_block_of_unknown_lease_writes_nothing(tables: Tables) -> None:
    repo = BlockRepository(tables)
    block = _block(1, lease_id="no-such-lease")
    with pytest.raises(NotFound):
        repo.record(block)
    assert repo.get(block.hash) is None


def test_rejected_blocks_only_in_worker_and_lease_listings(tables: Tables) -> None:
    _lease(tables)
    repo = BlockRepository(tables)
    good, bad = _block(1, lease_id="lease-1"), _rejected(2, lease_id="lease-1")
    repo.record(good)
    repo.record(bad)
    assert [b.hash for b in repo.recent(now=NOW, limit=10).items] == [good.hash]
    assert [b.hash for b in repo.by_account(RENTER, limit=10).items] == [good.hash]
    assert {b.hash for b in repo.by_worker("worker-1", limit=10).items} == {good.hash, bad.hash}
    assert {b.hash for b in repo.by_lease("lease-1", limit=10).items} == {good.hash, bad.hash}


def test_listings_are_newest_first_and_scoped(tables: Tables) -> None:
    repo = BlockRepository(tables)
    mine = [_block(n, recorded_at=NOW + n) for n in range(5)]
    for block in mine:
        repo.record(block)
    repo.record(_block(9, worker_id="worker-2", account=OTHER))
    expected = [b.hash for b in reversed(mine)]

    assert [b.hash for b in repo.by_account(RENTER, limit=10).items] == expected
    assert [b.hash for b in repo.by_account(OTHER, limit=10).items] == [_block(9).hash]
    first = repo.by_worker("worker-1", limit=3)
    second = repo.by_worker("worker-1", limit=3, cursor=first.cursor)
    assert [b.hash for b in first.items + second.items] == expected
    assert repo.by_lease("lease-1", limit=10).items == []


def test_recent_walks_back_across_days_with_a_cursor(tables: Tables) -> None:
    repo = BlockRepository(tables)
    midnight = NOW - 12 * 3600
    # Two today (one at 00:00:00), three yesterday (one at 23:59:59), none the day before,
    # two three days ago: each page has to continue in an earlier partition.
    times = [NOW, midnight, midnight - 1, NOW - DAY, NOW - DAY - 60]
    times += [NOW - 3 * DAY, NOW - 3 * DAY - 1]
    blocks = [_block(n, recorded_at=t) for n, t in enumerate(times)]
    for block in blocks:
        repo.record(block)
    assert (utc_day(midnight), utc_day(midnight - 1)) == ("2024-05-10", "2024-05-09")
    # Too old for the window; and a rejected one today.
    repo.record(_block(50, recorded_at=NOW - (RECENT_DAYS + 1) * DAY))
    repo.record(_rejected(51))

    pages, cursor = [], None
    for _ in range(3):
        page = repo.recent(now=NOW, limit=3, cursor=cursor)
        pages.append([b.hash for b in page.items])
        cursor = page.cursor
    assert [len(p) for p in pages] == [3, 3, 1]
    assert cursor is None
    got = [h for page in pages for h in page]
    assert len(set(got)) == len(got)
    newest_first = sorted(blocks, key=lambda b: b.ts_key, reverse=True)
    assert got == [b.hash for b in newest_first]


def test_recent_edges(tables: Tables) -> None:
    repo = BlockRepository(tables)
    empty = repo.recent(now=NOW, limit=5)
    assert (empty.items, empty.cursor) == ([], None)
    oldest_kept = _block(1, recorded_at=NOW - RECENT_DAYS * DAY)
    repo.record(oldest_kept)
    assert [b.hash for b in repo.recent(now=NOW, limit=5).items] == [oldest_kept.hash]
    # A full page hands out a cursor; the page after it may be empty.
    page = repo.recent(now=NOW, limit=1)
    assert page.cursor is not None
    assert repo.recent(now=NOW, limit=1, cursor=page.cursor).items == []


@pytest.mark.parametrize(
    "value",
    ["not-a-position", {"hash": {"S": "x"}}],
)
def test_recent_refuses_a_signed_cursor_that_is_no_position(
    tables: Tables, value: str | dict[str, Any]
) -> None:
    cursor = tables.cursors.encode(value, _RECENT_SCOPE)
    with pytest.raises(InvalidInput):
        BlockRepository(tables).recent(now=NOW, limit=5, cursor=cursor)


def test_recent_refuses_unsigned_and_foreign_cursors(tables: Tables) -> None:
    repo = BlockRepository(tables)
    repo.record(_block(1))
    repo.record(_block(2, recorded_at=NOW + 1))
    first = repo.recent(now=NOW + 10, limit=1)
    real = first.cursor
    assert real is not None
    assert [b.hash for b in repo.recent(now=NOW + 10, limit=5, cursor=real).items] == [
        _block(1).hash
    ]
    payload = real.partition(".")[0]
    other_key = CursorCodec(b"k" * 32).encode(first.items[-1].ts_key, _RECENT_SCOPE)
    for cursor in ("%%%", payload, f"{payload}.{'A' * 22}", other_key, real + "A"):
        with pytest.raises(InvalidInput):
            repo.recent(now=NOW + 10, limit=5, cursor=cursor)


def test_count_verified_by_worker(tables: Tables, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = BlockRepository(tables)
    for n in range(7):
        repo.record(_block(n, recorded_at=NOW + n))
    for n in range(10, 14):
        repo.record(_rejected(n, recorded_at=NOW + n))
    repo.record(_block(20, worker_id="worker-2"))
    assert repo.count_verified_by_worker("worker-1") == 7
    assert repo.count_verified_by_worker("nobody") == 0

    # Small pages: the count must follow LastEvaluatedKey to the end.
    query = tables.client.query

    def small_pages(**kwargs: Any) -> Any:
        return query(**{**kwargs, "Limit": 2})

    monkeypatch.setattr(tables.client, "query", small_pages)
    assert repo.count_verified_by_worker("worker-1") == 7


def test_a_verified_block_needs_a_kind() -> None:
    with pytest.raises(ValidationError):
        _block(1, kind=None)
    with pytest.raises(ValidationError):
        _block(1, reported_hashrate=float("nan"))
