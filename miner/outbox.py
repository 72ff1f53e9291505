"""A small durable on-disk queue, so found blocks and shares are never lost.

Every block or share is written here *before* it is published, and removed only once its
delivery is confirmed (the MQTT PUBACK, or the network's answer to ``/verify``). A crash, a
power cut or a network outage loses nothing: on restart the pending entries are delivered
again. Delivery is therefore at least once; the platform deduplicates blocks by key and hash.

One SQLite file in WAL mode with ``synchronous=FULL``: a ``put`` that returned is on disk.
One connection, guarded by a lock, serves every thread of the miner.

The queue is bounded (``max_entries``). When it is full, the oldest *shares* make room;
blocks (and the node's verdicts on them) are never dropped, so a ``put`` of a block or a
verdict always succeeds, even past the bound.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from miner.closing import Closing

log = logging.getLogger(__name__)

Kind = Literal["block", "share", "verdict"]
KINDS: tuple[Kind, ...] = ("block", "share", "verdict")
DEFAULT_MAX_ENTRIES = 10_000
DEFAULT_BACKOFF_BASE = 1.0  # seconds before the first retry
DEFAULT_BACKOFF_MAX = 300.0  # the longest wait between two attempts
MAX_ERROR_LENGTH = 1_000  # characters of the last error kept per entry
SCHEMA_VERSION = 2  # 2: the "verdict" kind

_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    topic TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('block', 'share', 'verdict')),
    payload BLOB NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at REAL NOT NULL DEFAULT 0
)"""
_SCHEMA = (
    _TABLE.format(name="outbox"),
    "CREATE INDEX IF NOT EXISTS outbox_channel ON outbox (channel, id)",
    "CREATE INDEX IF NOT EXISTS outbox_kind ON outbox (kind, id)",
)
_SELECT = (
    "SELECT id, channel, topic, kind, payload, created_at, attempts, last_error, "
    "next_attempt_at FROM outbox"
)


class OutboxError(RuntimeError):
    """The outbox file cannot be used (unreadable, corrupt, newer schema) or is closed."""


class OutboxFull(OutboxError):
    """A share could not be stored: the outbox is full of blocks, which are never dropped."""


@dataclass(frozen=True)
class Entry:
    """One pending message. ``attempts`` counts failed deliveries so far."""

    id: int
    channel: str
    topic: str
    kind: Kind
    payload: bytes
    created_at: float
    attempts: int
    last_error: str | None
    next_attempt_at: float


class Outbox(Closing):
    """A durable FIFO of messages per channel (e.g. ``"platform"`` or ``"network"``).

    Thread-safe. ``clock`` (Unix seconds) is injectable for tests; it stamps entries and
    decides which are due.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        backoff_base: float = DEFAULT_BACKOFF_BASE,
        backoff_max: float = DEFAULT_BACKOFF_MAX,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        if backoff_base < 0 or backoff_max < backoff_base:
            raise ValueError("need 0 <= backoff_base <= backoff_max")
        self.path = Path(path)
        self.max_entries = max_entries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._clock = clock
        self._lock = threading.Lock()
        self._dropped_shares = 0
        self._conn: sqlite3.Connection | None = self._open()

    # -- opening ------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Create the file owner-only before SQLite touches it; SQLite gives the -wal
            # and -shm files the database file's permissions.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                os.fchmod(fd, 0o600)
            finally:
                os.close(fd)
        except OSError as error:
            raise OutboxError(f"cannot open outbox {self.path}: {error}") from error
        try:
            conn = sqlite3.connect(
                self.path, timeout=10.0, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise OutboxError(f"cannot open outbox {self.path}: {error}") from error
        try:
            self._prepare(conn)
        except sqlite3.DatabaseError as error:
            conn.close()
            raise OutboxError(
                f"outbox {self.path} is unreadable or corrupt ({error}); it may still hold "
                "undelivered blocks, so it is left as is: move it aside to start afresh"
            ) from error
        except BaseException:
            conn.close()
            raise
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA busy_timeout = 10000")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.DatabaseError(f"cannot switch to WAL journal mode (got {mode})")
        conn.execute("PRAGMA synchronous = FULL")
        check = conn.execute("PRAGMA quick_check").fetchall()
        if [tuple(row) for row in check] != [("ok",)]:
            problems = "; ".join(str(row[0]) for row in check[:3])
            raise sqlite3.DatabaseError(f"integrity check failed: {problems}")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise OutboxError(
                f"outbox {self.path} has schema version {version}, newer than this "
                f"miner's {SCHEMA_VERSION}: upgrade the miner"
            )
        with _transaction(conn):
            if version == 1:
                _migrate_from_1(conn)
            # Statement by statement: executescript would commit on its own.
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # -- the queue ----------------------------------------------------------------------

    def put(self, channel: str, topic: str, payload: bytes, *, kind: Kind) -> int:
        """Store a message durably (on disk when this returns) and return its id.

        At the bound the oldest shares are dropped to make room. A block or a verdict is
        always stored; a share raises ``OutboxFull`` only when no share is left to drop.
        """
        _check_text("channel", channel)
        _check_text("topic", topic)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        if not isinstance(payload, bytes | bytearray | memoryview):
            raise TypeError("payload must be bytes")
        with self._locked() as conn, _transaction(conn):
            dropped = self._make_room(conn, kind)
            cursor = conn.execute(
                "INSERT INTO outbox (channel, topic, kind, payload, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (channel, topic, kind, bytes(payload), self._clock()),
            )
            entry_id = int(cast(int, cursor.lastrowid))
            self._dropped_shares += dropped
            total_dropped = self._dropped_shares
        if dropped:
            log.warning(
                "outbox %s full (%d entries): dropped the %d oldest share(s), %d so far",
                self.path,
                self.max_entries,
                dropped,
                total_dropped,
            )
        return entry_id

    def _make_room(self, conn: sqlite3.Connection, kind: Kind) -> int:
        total = int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        excess = total - self.max_entries + 1
        if excess <= 0:
            return 0
        shares = int(conn.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'share'").fetchone()[0])
        if kind == "share" and shares < excess:
            # Only blocks and verdicts would be left to evict, and those are never dropped.
            raise OutboxFull(
                f"outbox {self.path} is full ({total} entries, {total - shares} of them "
                "blocks or verdicts): share not stored"
            )
        return int(
            conn.execute(
                "DELETE FROM outbox WHERE id IN "
                "(SELECT id FROM outbox WHERE kind = 'share' ORDER BY id LIMIT ?)",
                (excess,),
            ).rowcount
        )

    def pending(self, channel: str, limit: int = 100, *, due_only: bool = True) -> list[Entry]:
        """Up to ``limit`` entries of ``channel``, oldest first.

        With ``due_only`` (the default) entries still backing off after a failed attempt
        are left out.
        """
        if limit < 1:
            return []
        query = _SELECT + " WHERE channel = ?"
        params: tuple[object, ...] = (channel,)
        if due_only:
            query += " AND next_attempt_at <= ?"
            params += (self._clock(),)
        query += " ORDER BY id LIMIT ?"
        params += (limit,)
        with self._locked() as conn:
            rows = conn.execute(query, params).fetchall()
        return [_entry(row) for row in rows]

    def get(self, entry_id: int) -> Entry | None:
        with self._locked() as conn:
            row = conn.execute(_SELECT + " WHERE id = ?", (entry_id,)).fetchone()
        return None if row is None else _entry(row)

    def next_due(self, channel: str) -> float | None:
        """When the earliest entry of ``channel`` is due (Unix seconds); None when none."""
        with self._locked() as conn:
            row = conn.execute(
                "SELECT MIN(next_attempt_at) FROM outbox WHERE channel = ?", (channel,)
            ).fetchone()
        return None if row[0] is None else float(row[0])

    def mark_attempt(
        self, entry_id: int, error: str | None, *, retry_in: float | None = None
    ) -> bool:
        """Record a delivery attempt that did not (yet) succeed.

        Counts the attempt, keeps ``error`` (truncated) and postpones the entry: by
        ``retry_in`` seconds when given (e.g. while a publish awaits its PUBACK), else by an
        exponential backoff on the attempt count. Returns False when the entry is gone.
        """
        if retry_in is not None and not retry_in >= 0:
            raise ValueError("retry_in must be a non-negative number of seconds")
        if error is not None:
            error = error[:MAX_ERROR_LENGTH]
        with self._locked() as conn, _transaction(conn):
            row = conn.execute("SELECT attempts FROM outbox WHERE id = ?", (entry_id,)).fetchone()
            if row is None:
                return False
            attempts = int(row[0]) + 1
            delay = self.backoff(attempts) if retry_in is None else retry_in
            conn.execute(
                "UPDATE outbox SET attempts = ?, last_error = ?, next_attempt_at = ? WHERE id = ?",
                (attempts, error, self._clock() + delay, entry_id),
            )
        return True

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt: doubling, capped."""
        if attempts < 1:
            return 0.0
        return min(self.backoff_max, self.backoff_base * 2.0 ** min(attempts - 1, 60))

    def remove(self, entry_id: int) -> bool:
        """Forget a delivered entry. Returns False when it was already gone."""
        with self._locked() as conn:
            cursor = conn.execute("DELETE FROM outbox WHERE id = ?", (entry_id,))
        return cursor.rowcount > 0

    def count(self, channel: str | None = None, kind: Kind | None = None) -> int:
        """Entries pending, optionally of one channel and/or kind."""
        query = "SELECT COUNT(*) FROM outbox WHERE 1 = 1"
        params: list[object] = []
        if channel is not None:
            query += " AND channel = ?"
            params.append(channel)
        if kind is not None:
            query += " AND kind = ?"
            params.append(kind)
        with self._locked() as conn:
            row = conn.execute(query, params).fetchone()
        return int(row[0])

    @property
    def dropped_shares(self) -> int:
        """Shares dropped to respect the bound since this outbox was opened."""
        return self._dropped_shares

    # -- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    @property
    def closed(self) -> bool:
        return self._conn is None

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock; SQLite failures become ``OutboxError``."""
        with self._lock:
            if self._conn is None:
                raise OutboxError(f"outbox {self.path} is closed")
            try:
                yield self._conn
            except sqlite3.Error as error:
                raise OutboxError(f"outbox {self.path}: {error}") from error


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """An immediate (write-locking) transaction, committed on success."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        with suppress(sqlite3.Error):  # SQLite may have rolled back already
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _migrate_from_1(conn: sqlite3.Connection) -> None:
    """Version 1 allowed only blocks and shares: rebuild the table to allow verdicts.

    SQLite cannot change a CHECK constraint in place. The rows keep their ids and the
    AUTOINCREMENT counter its value, so no id is ever handed out twice.
    """
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
    conn.execute(_TABLE.format(name="outbox_v2"))
    conn.execute(
        "INSERT INTO outbox_v2 (id, channel, topic, kind, payload, created_at, attempts, "
        "last_error, next_attempt_at) " + _SELECT
    )
    conn.execute("DROP TABLE outbox")  # its indexes go with it
    conn.execute("ALTER TABLE outbox_v2 RENAME TO outbox")
    if row is not None:
        seq = int(row[0])
        updated = conn.execute(
            "UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'outbox'", (seq,)
        ).rowcount
        if not updated:  # the table was empty: no counter was copied
            conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)", (seq,))


def _check_text(name: str, value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")


def _entry(row: tuple[object, ...]) -> Entry:
    id_, channel, topic, kind, payload, created_at, attempts, last_error, next_at = row
    return Entry(
        id=int(cast(int, id_)),
        channel=str(channel),
        topic=str(topic),
        kind=cast(Kind, kind),
        payload=bytes(cast(bytes, payload)),
        created_at=float(cast(float, created_at)),
        attempts=int(cast(int, attempts)),
        last_error=None if last_error is None else str(last_error),
        next_attempt_at=float(cast(float, next_at)),
    )
