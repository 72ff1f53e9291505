"""ConnectionRepository and shard_for."""

from __future__ import annotations

from collections import Counter

from functions.dal.connections import ConnectionRepository, shard_for, shard_names
from functions.dal.tables import Tables
from functions.models.live import ANONYMOUS, Connection

T0 = 1_715_342_400
ALICE = "0x" + "A1" * 20
# shard_for("conn-0") … ("conn-3"), computed once: a shard must never move.
PINNED = ["shard-0", "shard-1", "shard-3", "shard-1"]


def _connection(connection_id: str, subject: str = ANONYMOUS) -> Connection:
    return Connection(
        connection_id=connection_id,
        subject=subject,
        shard=shard_for(connection_id),
        connected_at=T0,
        expires_at=T0 + 7200,
    )


def test_put_get_delete(tables: Tables) -> None:
    repo = ConnectionRepository(tables)
    conn = _connection("abc123=")
    repo.put(conn)
    assert repo.get("abc123=") == conn
    signed_in = conn.model_copy(update={"subject": ALICE})
    repo.put(signed_in)
    assert repo.get("abc123=") == signed_in
    repo.delete("abc123=")
    assert repo.get("abc123=") is None
    repo.delete("abc123=")  # idempotent
    repo.delete("never-existed")


def test_by_subject(tables: Tables) -> None:
    repo = ConnectionRepository(tables)
    for n in range(5):
        repo.put(_connection(f"alice-{n}", ALICE))
    repo.put(_connection("anon-1"))
    first = repo.by_subject(ALICE, limit=3)
    second = repo.by_subject(ALICE, limit=3, cursor=first.cursor)
    assert [c.connection_id for c in first.items + second.items] == [f"alice-{n}" for n in range(5)]
    assert [c.connection_id for c in repo.by_subject(ANONYMOUS, limit=10).items] == ["anon-1"]


def test_by_shard_covers_every_connection_once(tables: Tables) -> None:
    repo = ConnectionRepository(tables)
    ids = {f"conn-{n}" for n in range(40)}
    for connection_id in ids:
        repo.put(_connection(connection_id))
    seen: list[str] = []
    for shard in shard_names():
        page = repo.by_shard(shard, limit=100)
        assert all(c.shard == shard for c in page.items)
        seen += [c.connection_id for c in page.items]
    assert sorted(seen) == sorted(ids)


def test_shard_for_is_stable_and_spread() -> None:
    assert shard_for("abc123=") == shard_for("abc123=")
    assert [shard_for(f"conn-{n}") for n in range(4)] == PINNED
    counts = Counter(shard_for(f"id-{n}") for n in range(4000))
    assert set(counts) == set(shard_names())
    assert min(counts.values()) > 800
    assert shard_for("abc123=", shards=1) == "shard-0"
    assert {shard_for(f"id-{n}", shards=16) for n in range(1000)} == set(shard_names(16))
