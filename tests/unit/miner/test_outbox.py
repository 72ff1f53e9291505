"""The durable outbox: nothing found is lost to a crash, a restart or a full disk queue."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from miner.outbox import SCHEMA_VERSION, Entry, Outbox, OutboxError, OutboxFull

REPO = Path(__file__).resolve().parents[3]


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "outbox.sqlite3"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(path: Path, clock: Clock) -> Iterator[Outbox]:
    box = Outbox(path, clock=clock)
    yield box
    box.close()


def test_put_then_pending_returns_the_entry(outbox: Outbox, clock: Clock) -> None:
    entry_id = outbox.put("platform", "xenminer/w1/block", b'{"a":1}', kind="block")

    [entry] = outbox.pending("platform")

    assert entry == Entry(
        id=entry_id,
        channel="platform",
        topic="xenminer/w1/block",
        kind="block",
        payload=b'{"a":1}',
        created_at=clock.now,
        attempts=0,
        last_error=None,
        next_attempt_at=0.0,
    )
    assert outbox.get(entry_id) == entry
    assert outbox.pending("network") == []


def test_entries_survive_close_and_reopen(path: Path) -> None:
    with Outbox(path) as box:
        first = box.put("platform", "t/block", b"one", kind="block")
        second = box.put("network", "verify", b"two", kind="block")

    with Outbox(path) as box:
        assert [e.id for e in box.pending("platform")] == [first]
        assert [e.payload for e in box.pending("network")] == [b"two"]
        # Ids keep growing after a reopen: a removed id is never reused.
        box.remove(second)
        assert box.put("network", "verify", b"three", kind="block") > second


def test_entries_survive_a_crash_without_close(path: Path) -> None:
    script = (
        "import os, sys\n"
        "from miner.outbox import Outbox\n"
        "box = Outbox(sys.argv[1])\n"
        "box.put('platform', 'xenminer/w1/block', b'found', kind='block')\n"
        "box.put('platform', 'xenminer/w1/share', b'share', kind='share')\n"
        "os._exit(0)\n"
    )
    subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script, str(path)], cwd=REPO, check=True, timeout=60
    )

    with Outbox(path) as box:
        pending = box.pending("platform")
    assert [(e.kind, e.payload) for e in pending] == [("block", b"found"), ("share", b"share")]


def test_pending_is_oldest_first_and_limited(outbox: Outbox) -> None:
    ids = [outbox.put("platform", f"t/{n}", bytes([n]), kind="share") for n in range(5)]
    outbox.put("network", "verify", b"other", kind="block")

    assert [e.id for e in outbox.pending("platform")] == ids
    assert [e.id for e in outbox.pending("platform", limit=2)] == ids[:2]
    assert outbox.pending("platform", limit=0) == []


def test_remove_deletes_once(outbox: Outbox) -> None:
    kept = outbox.put("platform", "t", b"kept", kind="block")
    gone = outbox.put("platform", "t", b"gone", kind="block")

    assert outbox.remove(gone) is True
    assert outbox.remove(gone) is False
    assert [e.id for e in outbox.pending("platform")] == [kept]
    assert outbox.get(gone) is None


def test_mark_attempt_backs_off_exponentially(outbox: Outbox, clock: Clock) -> None:
    entry_id = outbox.put("network", "verify", b"x", kind="block")

    assert outbox.mark_attempt(entry_id, "HTTP 503") is True
    entry = outbox.get(entry_id)
    assert entry is not None
    assert (entry.attempts, entry.last_error) == (1, "HTTP 503")
    assert entry.next_attempt_at == clock.now + 1.0
    assert outbox.pending("network") == []  # still backing off
    assert [e.id for e in outbox.pending("network", due_only=False)] == [entry_id]
    assert outbox.next_due("network") == clock.now + 1.0

    outbox.mark_attempt(entry_id, "timeout")
    outbox.mark_attempt(entry_id, "timeout")
    entry = outbox.get(entry_id)
    assert entry is not None
    assert entry.attempts == 3
    assert entry.next_attempt_at == clock.now + 4.0

    clock.now += 4.0
    assert [e.id for e in outbox.pending("network")] == [entry_id]


def test_backoff_is_capped_and_retry_in_overrides_it(path: Path, clock: Clock) -> None:
    with Outbox(path, clock=clock, backoff_base=2.0, backoff_max=60.0) as box:
        assert [box.backoff(n) for n in range(6)] == [0.0, 2.0, 4.0, 8.0, 16.0, 32.0]
        assert box.backoff(7) == 60.0
        assert box.backoff(10_000) == 60.0

        entry_id = box.put("platform", "t", b"x", kind="share")
        box.mark_attempt(entry_id, None, retry_in=30.0)
        entry = box.get(entry_id)
        assert entry is not None
        assert (entry.attempts, entry.last_error) == (1, None)
        assert entry.next_attempt_at == clock.now + 30.0
        with pytest.raises(ValueError, match="retry_in"):
            box.mark_attempt(entry_id, None, retry_in=-1.0)


def test_mark_attempt_on_a_removed_entry_is_false(outbox: Outbox) -> None:
    entry_id = outbox.put("platform", "t", b"x", kind="block")
    outbox.remove(entry_id)

    assert outbox.mark_attempt(entry_id, "late") is False


def test_long_errors_are_truncated(outbox: Outbox) -> None:
    entry_id = outbox.put("platform", "t", b"x", kind="block")
    outbox.mark_attempt(entry_id, "e" * 5_000)

    entry = outbox.get(entry_id)
    assert entry is not None
    assert entry.last_error == "e" * 1_000


def test_count_by_channel_and_kind(outbox: Outbox) -> None:
    outbox.put("platform", "t", b"1", kind="block")
    outbox.put("platform", "t", b"2", kind="share")
    outbox.put("platform", "t", b"3", kind="share")
    outbox.put("network", "verify", b"4", kind="block")

    assert outbox.count() == 4
    assert outbox.count("platform") == 3
    assert outbox.count(kind="share") == 2
    assert outbox.count("network", "block") == 1
    assert outbox.count("network", "share") == 0


def test_full_outbox_drops_the_oldest_shares_first(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Outbox(path, max_entries=4) as box:
        block = box.put("platform", "t", b"block", kind="block")
        shares = [box.put("platform", "t", bytes([n]), kind="share") for n in range(3)]

        with caplog.at_level(logging.WARNING, logger="miner.outbox"):
            newest = box.put("platform", "t", b"new", kind="share")

        assert [e.id for e in box.pending("platform")] == [block, *shares[1:], newest]
        assert box.dropped_shares == 1
        assert "dropped the 1 oldest share" in caplog.text

        # A block makes room the same way: by dropping a share, never a block.
        another = box.put("network", "verify", b"block2", kind="block")
        assert box.count() == 4
        assert box.count(kind="block") == 2
        assert box.dropped_shares == 2
        assert box.get(another) is not None


def test_blocks_are_never_dropped_even_past_the_bound(path: Path) -> None:
    with Outbox(path, max_entries=2) as box:
        share = box.put("platform", "t", b"s", kind="share")
        blocks = [box.put("platform", "t", bytes([n]), kind="block") for n in range(4)]

        assert [e.id for e in box.pending("platform")] == blocks
        assert box.get(share) is None
        assert box.count() == 4  # over the bound: only blocks, and blocks stay

        with pytest.raises(OutboxFull, match="share not stored"):
            box.put("platform", "t", b"late share", kind="share")
        assert box.count() == 4
        assert box.count(kind="share") == 0


def test_file_is_owner_only(outbox: Outbox, path: Path) -> None:
    outbox.put("platform", "t", b"x", kind="block")

    for file in (path, Path(f"{path}-wal")):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_existing_file_is_made_owner_only(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.touch(mode=0o644)
    os.chmod(path, 0o644)

    with Outbox(path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_journal_is_wal_with_full_sync(outbox: Outbox, path: Path) -> None:
    outbox.put("platform", "t", b"x", kind="block")

    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()
    conn = outbox._conn
    assert conn is not None
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_corrupt_file_is_a_clear_error_and_is_kept(path: Path) -> None:
    path.parent.mkdir(parents=True)
    garbage = b"this is not a database at all\x00" * 200
    path.write_bytes(garbage)

    with pytest.raises(OutboxError, match="unreadable or corrupt") as raised:
        Outbox(path)

    assert str(path) in str(raised.value)
    assert path.read_bytes() == garbage  # never silently deleted


def test_unopenable_path_is_a_clear_error(tmp_path: Path) -> None:
    directory = tmp_path / "a-directory"
    directory.mkdir()

    with pytest.raises(OutboxError, match="cannot open outbox") as raised:
        Outbox(directory)
    assert str(directory) in str(raised.value)


def test_newer_schema_is_refused(path: Path) -> None:
    Outbox(path).close()
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA user_version = 99")
    raw.close()

    with pytest.raises(OutboxError, match="schema version 99"):
        Outbox(path)


def test_bad_arguments_are_rejected(outbox: Outbox) -> None:
    with pytest.raises(ValueError, match="kind"):
        outbox.put("platform", "t", b"x", kind="other")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="channel"):
        outbox.put("", "t", b"x", kind="block")
    with pytest.raises(ValueError, match="topic"):
        outbox.put("platform", "", b"x", kind="block")
    with pytest.raises(TypeError, match="bytes"):
        outbox.put("platform", "t", "text", kind="block")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_entries"):
        Outbox(outbox.path, max_entries=0)
    assert outbox.count() == 0


def test_closed_outbox_refuses_work(outbox: Outbox) -> None:
    outbox.close()
    outbox.close()  # idempotent

    assert outbox.closed
    with pytest.raises(OutboxError, match="closed"):
        outbox.put("platform", "t", b"x", kind="block")
    with pytest.raises(OutboxError, match="closed"):
        outbox.pending("platform")


def test_many_threads_put_and_remove_safely(path: Path) -> None:
    threads, per_thread = 8, 50
    errors: list[BaseException] = []
    ids: list[int] = []
    ids_lock = threading.Lock()

    with Outbox(path) as box:
        start = threading.Barrier(threads)

        def work(worker: int) -> None:
            try:
                start.wait()
                for n in range(per_thread):
                    entry_id = box.put(
                        "platform", f"w{worker}", f"{worker}:{n}".encode(), kind="block"
                    )
                    with ids_lock:
                        ids.append(entry_id)
                    box.pending("platform", limit=5)
                    if n % 2:
                        box.mark_attempt(entry_id, "retry")
                        assert box.remove(entry_id)
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        workers = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join(timeout=60)

        assert errors == []
        assert len(set(ids)) == threads * per_thread
        remaining = box.pending("platform", limit=10_000)
        assert len(remaining) == threads * per_thread // 2
        assert [e.id for e in remaining] == sorted(e.id for e in remaining)
        assert {e.payload.decode().split(":")[1] for e in remaining} <= {
            str(n) for n in range(0, per_thread, 2)
        }


def test_verdicts_are_kept_like_blocks_when_the_outbox_is_full(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3", max_entries=3) as box:
        share = box.put("platform", "t/share", b"s", kind="share")
        box.put("platform", "t/block", b"b", kind="block")
        box.put("platform", "t/verdict", b"v1", kind="verdict")
        box.put("platform", "t/verdict", b"v2", kind="verdict")  # the share makes room
        assert box.get(share) is None
        assert box.count(kind="verdict") == 2
        with pytest.raises(OutboxFull, match="blocks or verdicts"):
            box.put("platform", "t/share", b"late", kind="share")
        assert [e.kind for e in box.pending("platform")] == ["block", "verdict", "verdict"]


_V1_SCHEMA = """
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    topic TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('block', 'share')),
    payload BLOB NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at REAL NOT NULL DEFAULT 0
);
CREATE INDEX outbox_channel ON outbox (channel, id);
CREATE INDEX outbox_kind ON outbox (kind, id);
PRAGMA user_version = 1;
"""


@pytest.mark.parametrize("keep_rows", [True, False])
def test_a_version_1_outbox_is_migrated_keeping_its_entries_and_ids(
    path: Path, keep_rows: bool
) -> None:
    path.parent.mkdir(parents=True)
    raw = sqlite3.connect(path)
    raw.executescript(_V1_SCHEMA)
    for n in range(5):
        raw.execute(
            "INSERT INTO outbox (channel, topic, kind, payload, created_at, attempts, "
            "last_error, next_attempt_at) VALUES ('network', 'verify', 'block', ?, 1.0, 2, "
            "'HTTP 502', 9.0)",
            (bytes([n]),),
        )
    raw.execute("DELETE FROM outbox WHERE id >= ?", (4 if keep_rows else 0,))  # ids 4, 5 used
    raw.commit()
    raw.close()

    with Outbox(path) as box:
        kept = box.pending("network", due_only=False)
        if keep_rows:
            assert [(e.id, e.payload, e.attempts, e.last_error) for e in kept] == [
                (n + 1, bytes([n]), 2, "HTTP 502") for n in range(3)
            ]
            assert kept[0].next_attempt_at == 9.0
        else:
            assert kept == []
        assert box.put("platform", "t/verdict", b"v", kind="verdict") == 6  # never reused

    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        indexes = {
            row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type='index'")
        }
        assert {"outbox_channel", "outbox_kind"} <= indexes
    finally:
        raw.close()
