"""A local XenBlocks node: the network's ``/difficulty`` and ``/verify``, judged as the
reference node judges, on this machine (what moto is for AWS).

The facts come from the reference node (``jacklevin74/xenminer``: ``gpage.py``'s
``verify_hash``, ``manage_difficulty2.py``, ``make_superblocks.py``, ``make_cache.py`` and
the explorer's ``json_api``); the code is ours.

``POST /verify`` takes ``{hash_to_verify, key, account, ...}`` and answers, checking in the
reference's order:

1. ``key`` not hex or over 128 characters → 400 ``{"error": "Invalid key format"}``;
2. the salt (the 5th ``$`` field of ``hash_to_verify``) not the base64 of a 20-byte address
   (27 characters; or the legacy ``WEVOMTAwODIwMjJYRU4`` salt) → 400 ``Invalid salt format``;
3. ``hash_to_verify``, ``key`` or ``account`` missing → 400 ``Missing hash_to_verify, key,
   or account``;
4. ``m=`` below the current difficulty → 401 ``Hash does not contain 'm={difficulty}'. …``
   (no upper limit);
5. ``XUNI[0-9]`` in the last 87 characters outside minutes 0–4 and 55–59 → 401 ``XUNI
   Submitted outside of proper time frame.`` (even when the block pattern is there too);
6. neither the block pattern (``XEN11``) nor XUNI in the last 87 characters → 401 ``Hash does
   not contain any of the valid targets ['XEN11'] in the last 87 characters. …``;
7. ``hash_to_verify`` over 150 characters → 401;
8. Argon2 of ``key`` with the salt and parameters of ``hash_to_verify`` not the hash → 401
   ``Hash verification failed.``;
9. a key already stored (in the table it would go to: ``blocks`` or ``xuni``) → 400
   ``{"message": "Block already exists, continue"}``;
10. else 200 ``{"message": "Hash verified successfully and block saved."}``: XUNI (inside the
    window) goes to ``xuni``, otherwise the block to ``blocks``; a block whose last ``$``
    segment has 50 or more capitals counts as a superblock.

Where the reference crashes (a 500) on malformed input (no ``key`` or no ``hash_to_verify``,
a key over 128 characters, a hash over 150, no ``m=``), this node gives the answer the
reference's checks evidently meant (the list above) instead. Argon2 memory costs over
``NodeRules.max_memory_cost`` (4 GiB: nothing here mines above it) are answered as failed
hashes rather than allocated. The account is lower-cased and not compared with the salt,
as on the network: whoever confirms credit checks it.

Read API, shaped like the node's and the explorer's (``json_api``): ``GET /difficulty``
(``{"difficulty": "<m>"}``, a string), ``GET /get_block?key=``, ``GET /v1/leaderboard``,
``GET /v1/leaderboard/<account>``, ``GET /get_balance/<account>``,
``GET /get_super_blocks/<account>``, ``GET /get_xuni_counts``, ``GET /total_blocks``,
``GET /total_blocks2?account=``, ``GET /leaderboard`` (a redirect, as the node's is), and
one of ours: ``GET /blocks?account=`` (what the node stored for an account, newest first).
The explorer's cache lags by minutes and leaves out accounts with XUNI only; here every
read is current and every account is there.

The difficulty is pinned unless told otherwise: set it, script a schedule of steps, or turn
on the reference's automatic steps (+1000 when more than 84 blocks a minute, −2000 when
fewer than 56, or 61 outside the XUNI window; a floor of 100; every 300 s, over the last
300 blocks). The automatic steps are off by default, so tests are deterministic.

Tests and operators drive the node through ``/_local/`` (never part of the network's API)
or, in process, through ``XenBlocksNode``'s methods: the difficulty, its schedule and the
automatic steps, the node's clock (to pick the minute of the hour), and faults (the next N
requests to a path answer 5xx, hang and drop the connection, answer slowly, or drop it).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import math
import re
import signal
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from argon2.exceptions import VerificationError
from argon2.low_level import Type, verify_secret

from protocol.jsonlimits import json_depth_exceeds

log = logging.getLogger(__name__)

NODE_DB_FILE = "node.sqlite3"
DEFAULT_PORT = 8082
MAX_BODY_BYTES = 64 * 1024
TICK_SECONDS = 1.0

# The reference node's texts, word for word: miners and the platform read them.
INVALID_KEY = "Invalid key format"
INVALID_SALT = "Invalid salt format"
MISSING_FIELDS = "Missing hash_to_verify, key, or account"
LOW_DIFFICULTY = (
    "Hash does not contain 'm={difficulty}'. Your memory_cost setting in your miner will be"
    " autoadjusted."
)
XUNI_OUTSIDE = "XUNI Submitted outside of proper time frame."
NO_TARGET = (
    "Hash does not contain any of the valid targets {targets} in the last {tail} characters."
    " Adjust target_substr in your miner."
)
TOO_LONG = "Length of hash_to_verify should not be greater than {limit} characters."
HASH_FAILED = "Hash verification failed."
XUNI_LATE = "XUNI found outside of time window"
ALREADY_EXISTS = "Block already exists, continue"
SAVED = "Hash verified successfully and block saved."

_HEX = re.compile(r"[a-fA-F0-9]*")
_KEY64 = re.compile(r"[a-fA-F0-9]{64}")
_SALT_B64 = re.compile(r"[A-Za-z0-9+/]{27}")
_LEGACY_SALT = "WEVOMTAwODIwMjJYRU4"  # base64 of "XEN10082022XEN": the first salt
_MEMORY_COST = re.compile(r"m=(\d+)")
_ARGON2_TYPES = {"argon2id": Type.ID, "argon2i": Type.I, "argon2d": Type.D}
_CAPITALS = re.compile(r"[A-Z]")

# Token units of the explorer: a block is 10 XNM (halving per epoch), a superblock 1 XBLK,
# a XUNI 1 XUNI, each with 18 decimals.
_XNM_PER_BLOCK = 10 * 10**18
_XBLK_PER_SUPERBLOCK = 10**18
_XUNI_PER_XUNI = 10**18
_EPOCHS = ((63_158_400, 3), (29_818_421, 2))  # first block id of each later epoch


def _now() -> float:
    return time.time()


# -- rules, answers ----------------------------------------------------------------------


@dataclass(frozen=True)
class NodeRules:
    """What the node judges by. The defaults are the network's; a local stack passes an
    easier ``block_pattern`` (and difficulty)."""

    block_pattern: str = "XEN11"
    xuni_pattern: str = r"XUNI[0-9]"
    xuni_windows: tuple[tuple[int, int], ...] = ((0, 4), (55, 59))
    superblock_min_uppercase: int = 50
    tail: int = 87  # targets are searched in this many last characters of hash_to_verify
    max_hash_length: int = 150
    max_key_length: int = 128
    max_account_length: int = 43
    max_memory_cost: int = 2**22  # KiB; a local safety limit, not the network's

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9+/]{1,16}", self.block_pattern):
            raise ValueError("a block pattern is 1-16 base64 characters")
        re.compile(self.xuni_pattern)  # re.error for a bad one
        if not all(0 <= first <= last <= 59 for first, last in self.xuni_windows):
            raise ValueError("each XUNI window is (first, last) minute within 0..59")

    def in_xuni_window(self, moment: datetime) -> bool:
        minute = moment.astimezone(UTC).minute
        return any(first <= minute <= last for first, last in self.xuni_windows)


@dataclass(frozen=True)
class NodeAnswer:
    """An HTTP answer. ``delay`` seconds pass before it; ``drop`` closes the connection
    instead of answering (with ``delay``: a hang the client sees as a timeout)."""

    status: int
    body: Any = None  # JSON-able, or str for text/plain
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return (json.dumps(self.body) + "\n").encode(), "application/json"


def _message(status: int, text: str) -> NodeAnswer:
    return NodeAnswer(status, {"message": text})


def _error(status: int, text: str) -> NodeAnswer:
    return NodeAnswer(status, {"error": text})


def is_superblock(hash_to_verify: str, rules: NodeRules) -> bool:
    """At least ``superblock_min_uppercase`` capitals in the last ``$`` segment."""
    last = hash_to_verify.split("$")[-1]
    return len(_CAPITALS.findall(last)) >= rules.superblock_min_uppercase


def salt_is_valid(hash_to_verify: str) -> bool:
    """The reference's salt check: six ``$`` fields, and the 5th is the legacy salt or the
    unpadded base64 of 20 bytes (an address; any 20 bytes have an EIP-55 form)."""
    parts = hash_to_verify.split("$")
    if len(parts) != 6:
        return False
    salt = parts[4]
    if _LEGACY_SALT in salt:
        return True
    if not _SALT_B64.fullmatch(salt):
        return False
    try:
        return len(base64.b64decode(salt + "=", validate=True)) == 20
    except binascii.Error:
        return False


def argon2_matches(hash_to_verify: str, key: str, max_memory_cost: int) -> bool:
    """Argon2 of ``key`` with the type, parameters and salt ``hash_to_verify`` names."""
    kind = hash_to_verify.split("$")[1] if hash_to_verify.count("$") >= 5 else ""
    memory = _MEMORY_COST.search(hash_to_verify)
    if kind not in _ARGON2_TYPES or memory is None or int(memory.group(1)) > max_memory_cost:
        return False
    try:
        return verify_secret(hash_to_verify.encode(), key.encode("ascii"), _ARGON2_TYPES[kind])
    except (VerificationError, ValueError, UnicodeError):
        return False


# -- difficulty --------------------------------------------------------------------------


@dataclass(frozen=True)
class AutoDifficulty:
    """The reference's automatic steps (``manage_difficulty2.py``), every ``every_seconds``.

    The block rate (blocks a minute over the last ``window_blocks`` blocks) is compared with
    ``target_per_minute`` ± ``tolerance``; outside the XUNI window the lower bound is
    ``outside_window_margin`` higher. Above: +``step_up``; below: −``step_down``, never under
    ``floor``."""

    every_seconds: float = 300.0
    target_per_minute: float = 70.0
    tolerance: float = 0.2
    outside_window_margin: float = 5.0
    step_up: int = 1000
    step_down: int = 2000
    floor: int = 100
    window_blocks: int = 300

    def __post_init__(self) -> None:
        if self.every_seconds <= 0 or self.window_blocks < 2 or self.floor < 8:
            raise ValueError("every_seconds > 0, window_blocks >= 2 and floor >= 8")

    def next_level(self, level: int, rate: int, in_xuni_window: bool) -> int:
        spread = self.target_per_minute * self.tolerance
        lower = self.target_per_minute - spread
        if not in_xuni_window:
            lower += self.outside_window_margin
        upper = self.target_per_minute + spread
        if rate > upper:
            return max(level + self.step_up, self.floor)
        if rate < lower:
            return max(level - self.step_down, self.floor)
        return level


class Difficulty:
    """The current difficulty: pinned, or moved by a scripted schedule of (at, m) steps."""

    def __init__(self, initial: int, clock: Callable[[], float]) -> None:
        self._value = _check_difficulty(initial)
        self._clock = clock
        self._steps: list[tuple[float, int]] = []
        self._lock = threading.Lock()

    def current(self) -> int:
        with self._lock:
            now = self._clock()
            while self._steps and self._steps[0][0] <= now:
                self._value = self._steps.pop(0)[1]
            return self._value

    def set(self, value: int) -> None:
        """Pin ``value`` now; a pending schedule is dropped."""
        with self._lock:
            self._value = _check_difficulty(value)
            self._steps.clear()

    def schedule(self, steps: Sequence[tuple[float, int]]) -> None:
        """Replace the schedule: each (seconds from now, difficulty) applies at its time."""
        now = self._clock()
        planned = sorted((now + float(after), _check_difficulty(value)) for after, value in steps)
        if any(not math.isfinite(at) or at < now for at, _ in planned):
            raise ValueError("steps are a finite, non-negative number of seconds from now")
        with self._lock:
            self._steps = planned
        self.current()  # steps due now apply now

    def pending(self) -> list[tuple[float, int]]:
        self.current()
        with self._lock:
            now = self._clock()
            return [(at - now, value) for at, value in self._steps]


def _check_difficulty(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 8 <= value <= 2**32 - 1:
        raise ValueError("a difficulty is a whole number of KiB, 8..4294967295")
    return value


# -- faults ------------------------------------------------------------------------------

FaultKind = Literal["error", "hang", "slow", "drop"]


@dataclass
class Fault:
    """The next ``count`` requests to ``path`` (``*``: any path but ``/_local/``):
    ``error`` answers ``status``; ``hang`` waits ``seconds`` then drops the connection
    unanswered (the client times out); ``slow`` waits ``seconds`` then answers as usual;
    ``drop`` closes the connection at once."""

    path: str
    kind: FaultKind
    count: int = 1
    status: int = 500
    seconds: float = 30.0
    retry_after: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("error", "hang", "slow", "drop"):
            raise ValueError("a fault is error, hang, slow or drop")
        if not (self.path == "*" or self.path.startswith("/")) or self.path.startswith("/_local"):
            raise ValueError("a fault's path is * or a path of the node's API")
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ValueError("count is at least 1")
        if not 500 <= self.status <= 599:
            raise ValueError("an injected error is a 5xx")
        if not 0 <= self.seconds <= 600:
            raise ValueError("seconds is 0..600")


class Faults:
    def __init__(self) -> None:
        self._planned: list[Fault] = []
        self._lock = threading.Lock()

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self._planned.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._planned.clear()

    def pending(self) -> list[Fault]:
        with self._lock:
            return [replace(fault) for fault in self._planned]

    def take(self, path: str) -> Fault | None:
        """The first planned fault for ``path``, used up by one request."""
        if path.startswith("/_local"):
            return None
        with self._lock:
            for fault in self._planned:
                if fault.path in ("*", path):
                    taken = replace(fault)
                    fault.count -= 1
                    if fault.count == 0:
                        self._planned.remove(fault)
                    return taken
        return None


def fault_answer(fault: Fault) -> NodeAnswer | None:
    """What a fault does instead of the request (None for ``slow``: it answers, late)."""
    if fault.kind == "error":
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        return NodeAnswer(fault.status, {"error": "injected fault"}, headers=headers)
    if fault.kind == "hang":
        return NodeAnswer(0, delay=fault.seconds, drop=True)
    if fault.kind == "drop":
        return NodeAnswer(0, drop=True)
    return None


# -- storage -----------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    block_id INTEGER PRIMARY KEY AUTOINCREMENT,
    hash_to_verify TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_ts REAL NOT NULL,
    superblock INTEGER NOT NULL DEFAULT 0,
    hashes_per_second REAL
);
CREATE TABLE IF NOT EXISTS xuni (
    block_id INTEGER PRIMARY KEY AUTOINCREMENT,
    hash_to_verify TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_ts REAL NOT NULL,
    hashes_per_second REAL
);
CREATE INDEX IF NOT EXISTS blocks_account ON blocks (account);
CREATE INDEX IF NOT EXISTS xuni_account ON xuni (account);
"""

_ROW = "block_id, hash_to_verify, key, account, created_at"
_ACCOUNT_UNION = """
    SELECT block_id, hash_to_verify, key, account, created_at, created_ts,
        CASE superblock WHEN 1 THEN 'super' ELSE 'normal' END AS kind
    FROM blocks WHERE account = ?
    UNION ALL
    SELECT block_id, hash_to_verify, key, account, created_at, created_ts, 'xuni' AS kind
    FROM xuni WHERE account = ?
"""
_ACCOUNT_COUNT = "SELECT COUNT(*) FROM (" + _ACCOUNT_UNION + ")"  # noqa: S608 - no input in it
_ACCOUNT_ROWS = (
    "SELECT * FROM (" + _ACCOUNT_UNION + ")"  # noqa: S608 - no input in it
    " ORDER BY created_ts DESC, block_id DESC LIMIT ? OFFSET ?"
)
_COLUMNS = ("block_id", "hash_to_verify", "key", "account", "created_at")


class Duplicate(Exception):
    pass


@dataclass(frozen=True)
class AccountTotals:
    account: str
    blocks: int
    super_blocks: int
    xuni: int
    xnm: int
    hashes_per_second: float


class NodeStore:
    """The node's tables (``blocks``, ``xuni``) in SQLite: in memory, or in a file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._db = sqlite3.connect(
            str(path) if path is not None else ":memory:", check_same_thread=False
        )
        self._lock = threading.Lock()
        with self._lock, self._db:
            if path is not None:
                self._db.execute("PRAGMA journal_mode = wal")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(
        self,
        table: Literal["blocks", "xuni"],
        *,
        hash_to_verify: str,
        key: str,
        account: str,
        at: datetime,
        superblock: bool,
        hashes_per_second: float | None,
    ) -> int:
        """Store a block or a XUNI; ``Duplicate`` when that table has the key."""
        created_at = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        columns = "hash_to_verify, key, account, created_at, created_ts, hashes_per_second"
        values: list[Any] = [hash_to_verify, key, account, created_at, at.timestamp()]
        values.append(hashes_per_second)
        if table == "blocks":
            columns += ", superblock"
            values.append(int(superblock))
        marks = ", ".join("?" for _ in values)
        try:
            with self._lock, self._db:
                cursor = self._db.execute(
                    f"INSERT INTO {table} ({columns}) VALUES ({marks})",  # noqa: S608 - fixed names
                    values,
                )
        except sqlite3.IntegrityError as error:
            raise Duplicate(key) from error
        return int(cursor.lastrowid or 0)

    def _all(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, parameters).fetchall()

    def get(self, key: str) -> dict[str, Any] | None:
        for table in ("blocks", "xuni"):
            rows = self._all(f"SELECT {_ROW} FROM {table} WHERE key = ?", (key,))  # noqa: S608
            if rows:
                return dict(zip(_COLUMNS, rows[0], strict=True))
        return None

    def account_rows(self, account: str, limit: int, offset: int) -> tuple[int, list[Any]]:
        """What was stored for ``account``, newest first, with each row's kind."""
        total = self._all(_ACCOUNT_COUNT, (account, account))[0][0]
        rows = self._all(_ACCOUNT_ROWS, (account, account, limit, offset))
        return int(total), rows

    def totals(self) -> list[AccountTotals]:
        """Per account, ranked as the explorer ranks: blocks, superblocks, XUNI, then the
        account, each descending."""
        counts: dict[str, list[Any]] = {}
        for account, block_id, superblock, rate in self._all(
            "SELECT account, block_id, superblock, hashes_per_second FROM blocks ORDER BY block_id"
        ):
            entry = counts.setdefault(account, [0, 0, 0, 0, 0.0])
            entry[0] += 1
            entry[1] += superblock
            entry[3] += _XNM_PER_BLOCK // 2 ** (_epoch(block_id) - 1)
            if rate is not None:
                entry[4] = rate
        for account, xuni in self._all("SELECT account, COUNT(*) FROM xuni GROUP BY account"):
            counts.setdefault(account, [0, 0, 0, 0, 0.0])[2] = xuni
        ranked = sorted(counts.items(), key=lambda item: (*item[1][:3], item[0]), reverse=True)
        return [AccountTotals(account, *values) for account, values in ranked]

    def last_block_id(self) -> int | None:
        value = self._all("SELECT MAX(block_id) FROM blocks")[0][0]
        return int(value) if value is not None else None

    def count_blocks(self, account: str) -> int:
        return int(self._all("SELECT COUNT(*) FROM blocks WHERE account = ?", (account,))[0][0])

    def block_rate(self, window: int) -> int | None:
        """Blocks a minute over the last ``window`` blocks (the reference's rate), or None."""
        times = [
            row[0]
            for row in self._all(
                "SELECT created_ts FROM blocks ORDER BY block_id DESC LIMIT ?", (window,)
            )
        ]
        if len(times) < 2:
            return None
        minutes = (max(times) - min(times)) / 60.0
        return round(len(times) / minutes) if minutes > 0 else None

    def reset(self) -> None:
        with self._lock, self._db:
            self._db.execute("DELETE FROM blocks")
            self._db.execute("DELETE FROM xuni")


def _epoch(block_id: int) -> int:
    for first, epoch in _EPOCHS:
        if block_id >= first:
            return epoch
    return 1


def _checksum(account: str) -> str:
    from eth_utils.address import to_checksum_address

    try:
        return str(to_checksum_address(account.strip()))
    except ValueError:
        return account.strip()


# -- the node ----------------------------------------------------------------------------


class NodeClock:
    """The node's time: the real one (or an injected one), shifted when a test says so."""

    def __init__(self, source: Callable[[], float] = _now) -> None:
        self._source = source
        self._offset = 0.0

    def __call__(self) -> float:
        return self._source() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self(), UTC)

    def set(self, moment: datetime | float | None) -> None:
        """Run the clock from ``moment`` on (None: the real time again)."""
        if moment is None:
            self._offset = 0.0
            return
        if isinstance(moment, datetime) and moment.utcoffset() is None:
            moment = moment.replace(tzinfo=UTC)  # the node's clock is UTC
        target = moment.timestamp() if isinstance(moment, datetime) else float(moment)
        self._offset = target - self._source()

    def set_minute(self, minute: int) -> None:
        """Move to ``minute`` of the current hour (second 0)."""
        if not 0 <= minute <= 59:
            raise ValueError("a minute is 0..59")
        self.set(self.now().replace(minute=minute, second=0, microsecond=0))


class XenBlocksNode:
    """The node's behaviour, without HTTP: ``handle`` answers one request.

    ``clock`` gives epoch seconds (the XUNI window, timestamps and the difficulty schedule
    all read it); tests pass a fake one or call ``clock.set``.
    """

    def __init__(
        self,
        *,
        difficulty: int = 1727,
        rules: NodeRules | None = None,
        store: NodeStore | None = None,
        clock: Callable[[], float] = _now,
        auto: AutoDifficulty | None = None,
    ) -> None:
        self.rules = rules or NodeRules()
        self.store = store or NodeStore()
        self.clock = NodeClock(clock)
        self.difficulty = Difficulty(difficulty, self.clock)
        self.faults = Faults()
        self._xuni = re.compile(self.rules.xuni_pattern)
        self._auto: AutoDifficulty | None = None
        self._next_auto = 0.0
        self.enable_auto(auto)

    # -- difficulty ----------------------------------------------------------------------

    def set_difficulty(self, value: int) -> None:
        self.difficulty.set(value)

    def schedule_difficulty(self, steps: Sequence[tuple[float, int]]) -> None:
        self.difficulty.schedule(steps)

    def enable_auto(self, auto: AutoDifficulty | None) -> None:
        """The reference's automatic steps (None turns them off)."""
        self._auto = auto
        if auto is not None:
            self._next_auto = self.clock() + auto.every_seconds

    def step_difficulty(self) -> tuple[int | None, int]:
        """One automatic step now (the reference's parameters unless ``enable_auto`` set
        others): the block rate it saw, and the difficulty after it."""
        auto = self._auto or AutoDifficulty()
        rate = self.store.block_rate(auto.window_blocks)
        level = self.difficulty.current()
        if rate is not None:
            new = auto.next_level(level, rate, self.rules.in_xuni_window(self.clock.now()))
            if new != level:
                log.info("difficulty %d -> %d (%d blocks a minute)", level, new, rate)
                self.difficulty.set(new)
                level = new
        return rate, level

    def tick(self) -> None:
        """Called about once a second: an automatic step when one is due."""
        auto = self._auto
        if auto is not None and self.clock() >= self._next_auto:
            self._next_auto = self.clock() + auto.every_seconds
            self.step_difficulty()

    def reset(self) -> None:
        """Forget every block and XUNI (the difficulty and faults stay)."""
        self.store.reset()

    # -- /verify -------------------------------------------------------------------------

    def verify(self, data: Any) -> NodeAnswer:
        """The reference's ``/verify``: its checks, in its order, with its answers."""
        if not isinstance(data, dict):
            return _error(400, "the body must be a JSON object")
        rules = self.rules
        hash_to_verify = data.get("hash_to_verify") or None
        key = data.get("key") or None
        account = data.get("account")
        if account is not None:
            account = str(account).lower().replace("'", "").replace('"', "")
            account = account if 0 < len(account) <= rules.max_account_length else None

        if key is not None and not (
            isinstance(key, str) and len(key) <= rules.max_key_length and _HEX.fullmatch(key)
        ):
            return _error(400, INVALID_KEY)
        if hash_to_verify is not None and not (
            isinstance(hash_to_verify, str) and salt_is_valid(hash_to_verify)
        ):
            return _error(400, INVALID_SALT)
        if hash_to_verify is None or key is None or account is None:
            return _error(400, MISSING_FIELDS)
        assert isinstance(hash_to_verify, str)
        assert isinstance(key, str)

        difficulty = self.difficulty.current()
        memory = _MEMORY_COST.search(hash_to_verify)
        if memory is None or int(memory.group(1)) < difficulty:
            return _message(401, LOW_DIFFICULTY.format(difficulty=difficulty))

        tail = hash_to_verify[-rules.tail :]
        found = rules.block_pattern in tail
        if self._xuni.search(tail) is not None:
            found = True
            if not rules.in_xuni_window(self.clock.now()):
                return _message(401, XUNI_OUTSIDE)
        if not found:
            targets = [rules.block_pattern]
            return _message(401, NO_TARGET.format(targets=targets, tail=rules.tail))
        if len(hash_to_verify) > rules.max_hash_length:
            return _message(401, TOO_LONG.format(limit=rules.max_hash_length))

        if not argon2_matches(hash_to_verify, key, rules.max_memory_cost):
            return _message(401, HASH_FAILED)

        # The reference looks at the clock again here: a XUNI verified as the window closes
        # is refused.
        now = self.clock.now()
        table: Literal["blocks", "xuni"]
        if self._xuni.search(tail) is not None and rules.in_xuni_window(now):
            table = "xuni"
        elif rules.block_pattern in tail:
            table = "blocks"
        else:
            return _message(401, XUNI_LATE)
        try:
            self.store.add(
                table,
                hash_to_verify=hash_to_verify,
                key=key,
                account=account,
                at=now,
                superblock=table == "blocks" and is_superblock(hash_to_verify, rules),
                hashes_per_second=_rate(data.get("hashes_per_second")),
            )
        except Duplicate:
            return _message(400, ALREADY_EXISTS)
        return _message(200, SAVED)

    # -- reads ---------------------------------------------------------------------------

    def leaderboard(self, limit: int = 500, offset: int = 0, sol_only: bool = False) -> Any:
        totals = [] if sol_only else self.store.totals()
        miners = [
            self._entry(rank, item)
            for rank, item in enumerate(totals, start=1)
            if offset < rank <= offset + limit
        ]
        rate = self.store.block_rate(AutoDifficulty().window_blocks)
        return {
            "totalHashRate": rate or 0,
            "totalMiners": len(totals),
            "totalBlocks": self.store.last_block_id(),
            "difficulty": str(self.difficulty.current()),
            "totalXnm": sum(item.xnm for item in totals),
            "totalXuni": sum(item.xuni for item in totals) * _XUNI_PER_XUNI,
            "totalXblk": sum(item.super_blocks for item in totals) * _XBLK_PER_SUPERBLOCK,
            "totalXnmWithSol": 0,
            "totalXuniWithSol": 0,
            "totalXblkWithSol": 0,
            "miners": miners,
        }

    def leaderboard_entry(self, account: str) -> dict[str, Any] | None:
        wanted = account.lower()
        for rank, item in enumerate(self.store.totals(), start=1):
            if item.account == wanted:
                return self._entry(rank, item)
        return None

    @staticmethod
    def _entry(rank: int, item: AccountTotals) -> dict[str, Any]:
        return {
            "rank": rank,
            "account": _checksum(item.account),
            "blocks": item.blocks,
            "hashRate": round(item.hashes_per_second, 2),
            "superBlocks": item.super_blocks,
            "xnm": item.xnm,
            "xblk": item.super_blocks * _XBLK_PER_SUPERBLOCK,
            "xuni": item.xuni * _XUNI_PER_XUNI,
            "solAddress": None,
        }

    # -- routing -------------------------------------------------------------------------

    def handle(self, method: str, target: str, body: bytes = b"") -> NodeAnswer:
        """Answer one request (``target`` is the path with its query), faults included."""
        parts = urlsplit(target)
        path = unquote(parts.path) or "/"
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        delay = 0.0
        fault = self.faults.take(path)
        if fault is not None:
            injected = fault_answer(fault)
            if injected is not None:
                return injected
            delay = fault.seconds  # slow: answer as usual, late
        try:
            answer = self._route(method.upper(), path, query, body)
        except Exception:  # a bug answers 500, as the reference's Flask would
            log.exception("the local node failed on %s %s", method, path)
            answer = _error(500, "Internal Server Error")
        return replace(answer, delay=delay) if delay else answer

    def _route(self, method: str, path: str, query: dict[str, str], body: bytes) -> NodeAnswer:
        if path.startswith("/_local/"):
            return self._admin(method, path, body)
        segments = path.strip("/").split("/")
        if method == "POST":
            if path == "/verify":
                return self.verify(_parse_json(body))
            return _not_allowed_or_missing(path)
        if method != "GET":
            return _not_allowed_or_missing(path)
        head = segments[0]
        if head == "difficulty" and len(segments) <= 2:
            return NodeAnswer(200, {"difficulty": str(self.difficulty.current())})
        if path == "/get_block":
            return self._get_block(query.get("key"))
        if path == "/v1/leaderboard":
            limit = _int(query.get("limit"), 500)
            offset = _int(query.get("offset"), 0)
            return NodeAnswer(
                200, self.leaderboard(limit, offset, bool(query.get("require_sol_address")))
            )
        if head == "v1" and len(segments) == 3 and segments[1] == "leaderboard":
            entry = self.leaderboard_entry(segments[2])
            return NodeAnswer(200, entry) if entry else _error(404, "Account not found")
        if path == "/leaderboard":
            return NodeAnswer(302, {}, headers={"Location": "/v1/leaderboard"})
        if head in ("get_balance", "get_super_blocks") and len(segments) == 2:
            return self._account_figure(head, segments[1])
        if path == "/get_xuni_counts":
            xuni = sorted((item.xuni, item.account) for item in self.store.totals() if item.xuni)
            return NodeAnswer(200, [{"account": a, "count": n} for n, a in xuni])
        if path == "/total_blocks":
            return NodeAnswer(200, {"total_blocks_top100": self.store.last_block_id()})
        if path == "/total_blocks2":
            if not query.get("account"):
                return _error(400, "Missing account")
            return NodeAnswer(200, {"total_blocks": self.store.count_blocks(query["account"])})
        if path == "/blocks":
            return self._blocks(query)
        if path == "/health":
            return NodeAnswer(200, "ok")
        return _not_allowed_or_missing(path)

    def _get_block(self, key: str | None) -> NodeAnswer:
        if not key:
            return _error(400, "Please provide a key")
        if not _KEY64.fullmatch(key):
            return _error(400, "Invalid key provided")
        found = self.store.get(key)
        return NodeAnswer(200, found) if found else _error(404, "Data not found for provided key")

    def _account_figure(self, kind: str, account: str) -> NodeAnswer:
        wanted = account.lower()
        item = next((item for item in self.store.totals() if item.account == wanted), None)
        if item is None or not item.blocks:
            return _error(404, "No record found for the provided account")
        if kind == "get_balance":
            return NodeAnswer(200, {"account": account, "balance": item.blocks * 10})
        return NodeAnswer(200, {"account": account, "super_blocks": item.super_blocks})

    def _blocks(self, query: dict[str, str]) -> NodeAnswer:
        account = (query.get("account") or "").strip().lower()
        if not account:
            return _error(400, "Missing account")
        limit = min(max(_int(query.get("limit"), 100), 1), 1000)
        offset = max(_int(query.get("offset"), 0), 0)
        total, rows = self.store.account_rows(account, limit, offset)
        items = [{**dict(zip(_COLUMNS, row[:5], strict=True)), "kind": row[6]} for row in rows]
        return NodeAnswer(200, {"account": account, "total": total, "items": items})

    # -- /_local/: the test and operator controls -----------------------------------------

    def state(self) -> dict[str, Any]:
        auto = self._auto
        return {
            "difficulty": self.difficulty.current(),
            "schedule": [[round(after, 3), value] for after, value in self.difficulty.pending()],
            "auto": asdict(auto) if auto is not None else None,
            "rules": {
                "block_pattern": self.rules.block_pattern,
                "xuni_pattern": self.rules.xuni_pattern,
                "xuni_windows": [list(window) for window in self.rules.xuni_windows],
            },
            "now": self.clock.now().isoformat(),
            "faults": [asdict(fault) for fault in self.faults.pending()],
            "blocks": self.store.last_block_id() or 0,
        }

    def _admin(self, method: str, path: str, body: bytes) -> NodeAnswer:
        if method == "GET" and path == "/_local/state":
            return NodeAnswer(200, self.state())
        if method == "DELETE" and path == "/_local/faults":
            self.faults.clear()
            return NodeAnswer(200, self.state())
        if method != "POST":
            return _not_allowed_or_missing(path)
        data = _parse_json(body) if body else {}
        if not isinstance(data, dict):
            return _error(400, "the body must be a JSON object")
        try:
            if path == "/_local/difficulty":
                self.set_difficulty(_check_difficulty(data.get("difficulty")))
            elif path == "/_local/difficulty/schedule":
                steps = data.get("steps")
                if not isinstance(steps, list) or not all(
                    isinstance(step, list | tuple) and len(step) == 2 for step in steps
                ):
                    raise ValueError("steps is a list of [seconds_from_now, difficulty]")
                self.schedule_difficulty([(float(after), value) for after, value in steps])
            elif path == "/_local/difficulty/auto":
                enabled = data.pop("enabled", True)
                self.enable_auto(AutoDifficulty(**data) if enabled else None)
            elif path == "/_local/difficulty/step":
                rate, level = self.step_difficulty()
                return NodeAnswer(200, {"rate": rate, "difficulty": level})
            elif path == "/_local/faults":
                self.faults.inject(Fault(**data))
            elif path == "/_local/clock":
                if "minute" in data:
                    self.clock.set_minute(int(data["minute"]))
                else:
                    now = data.get("now")
                    self.clock.set(datetime.fromisoformat(now) if isinstance(now, str) else now)
            elif path == "/_local/reset":
                self.reset()
            else:
                return _error(404, "Not Found")
        except (TypeError, ValueError, re.error) as error:
            return _error(400, str(error))
        return NodeAnswer(200, self.state())


def _not_allowed_or_missing(path: str) -> NodeAnswer:
    known = {"/verify", "/difficulty", "/get_block", "/v1/leaderboard", "/blocks"}
    if path in known:
        return _error(405, "Method Not Allowed")
    return _error(404, "Not Found")


def _parse_json(body: bytes) -> Any:
    if json_depth_exceeds(body):
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _rate(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        rate = float(value)
    except ValueError:
        return None
    return rate if math.isfinite(rate) and rate >= 0 else None


# -- HTTP --------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _NodeHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "xenblocks-local-node/1"

    def _serve(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self._write(_error(413 if length > 0 else 400, "Bad Content-Length"))
            self.close_connection = True
            return
        body = self.rfile.read(length) if length > 0 else b""
        answer = self.server.node.handle(self.command, self.path, body)
        if answer.delay and self.server.stopping.wait(answer.delay):
            answer = replace(answer, drop=True)  # shutting down: stop waiting
        if answer.drop:
            self.close_connection = True
            return
        self._write(answer)

    def _write(self, answer: NodeAnswer) -> None:
        payload, content_type = answer.encoded()
        self.send_response(answer.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve  # noqa: N815 - http.server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class _NodeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], node: XenBlocksNode) -> None:
        self.node = node
        self.stopping = threading.Event()
        super().__init__(address, _Handler)


class NodeServer:
    """``node`` over HTTP on ``host:port`` (0: a free port), in threads; a context manager."""

    def __init__(self, node: XenBlocksNode, host: str = "127.0.0.1", port: int = 0) -> None:
        self.node = node
        self._server = _NodeHTTPServer((host, port), node)
        self.host = host
        self.port = int(self._server.server_address[1])
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> NodeServer:
        serve = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )
        ticker = threading.Thread(target=self._tick, daemon=True)
        serve.name, ticker.name = "xenblocks-node", "xenblocks-node-tick"
        self._threads = [serve, ticker]
        for thread in self._threads:
            thread.start()
        return self

    def _tick(self) -> None:
        while not self._server.stopping.wait(TICK_SECONDS):
            try:
                self.node.tick()
            except Exception:
                log.exception("the local node's difficulty step failed")

    def stop(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> NodeServer:
        return self.start() if not self._threads else self

    def __exit__(self, *_: object) -> None:
        self.stop()


@contextlib.contextmanager
def local_node(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    difficulty: int = 1727,
    rules: NodeRules | None = None,
    state_dir: Path | None = None,
    auto: AutoDifficulty | None = None,
) -> Iterator[NodeServer]:
    """A node served on ``host:port`` for the ``with`` block (SQLite in ``state_dir`` when
    given, else in memory)."""
    store = NodeStore(state_dir / NODE_DB_FILE if state_dir is not None else None)
    node = XenBlocksNode(difficulty=difficulty, rules=rules, store=store, auto=auto)
    try:
        with NodeServer(node, host, port) as server:
            yield server
    finally:
        store.close()


def run_node(
    *,
    host: str,
    port: int,
    difficulty: int,
    rules: NodeRules,
    state_dir: Path | None,
    auto: AutoDifficulty | None,
) -> None:
    """``xenblocks node``: serve until Ctrl-C or SIGTERM."""
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True)
    done = threading.Event()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: done.set())
    with local_node(
        host=host, port=port, difficulty=difficulty, rules=rules, state_dir=state_dir, auto=auto
    ) as server:
        print(f"XenBlocks node   {server.url}  ({describe(server.node)})")
        print(f"Controls         {server.url}/_local/state  (difficulty, clock, faults)")
        stored = f"{state_dir / NODE_DB_FILE}" if state_dir is not None else "memory"
        print(f"Blocks stored in {stored}. Ctrl-C stops it.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            done.wait()
        print("Stopping…", flush=True)


def describe(node: XenBlocksNode) -> str:
    steps = "automatic steps" if node.state()["auto"] else "pinned"
    return (
        f"difficulty {node.difficulty.current()} {steps}, block pattern"
        f" {node.rules.block_pattern}, XUNI {node.rules.xuni_pattern}"
    )


# -- a client of the controls, for tests and scripts -------------------------------------


class NodeAdmin:
    """Drive a node's ``/_local/`` controls over HTTP (a local stack's, from a test)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def state(self) -> dict[str, Any]:
        return self._call("GET", "/_local/state")

    def set_difficulty(self, difficulty: int) -> dict[str, Any]:
        return self._call("POST", "/_local/difficulty", {"difficulty": difficulty})

    def schedule(self, steps: Sequence[tuple[float, int]]) -> dict[str, Any]:
        payload = {"steps": [list(step) for step in steps]}
        return self._call("POST", "/_local/difficulty/schedule", payload)

    def auto(self, enabled: bool = True, **parameters: Any) -> dict[str, Any]:
        payload = {"enabled": enabled, **parameters}
        return self._call("POST", "/_local/difficulty/auto", payload)

    def step(self) -> dict[str, Any]:
        return self._call("POST", "/_local/difficulty/step", {})

    def fault(self, path: str, kind: FaultKind, **options: Any) -> dict[str, Any]:
        return self._call("POST", "/_local/faults", {"path": path, "kind": kind, **options})

    def clear_faults(self) -> dict[str, Any]:
        return self._call("DELETE", "/_local/faults")

    def set_clock(self, *, now: str | float | None = None, minute: int | None = None) -> Any:
        payload: dict[str, Any] = {"minute": minute} if minute is not None else {"now": now}
        return self._call("POST", "/_local/clock", payload)

    def reset(self) -> dict[str, Any]:
        return self._call("POST", "/_local/reset", {})

    def _call(self, method: str, path: str, payload: Any = None) -> dict[str, Any]:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(  # noqa: S310 - a node URL we were given
            self.url + path, data=data, method=method
        )
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                result: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise ValueError(
                f"{method} {path}: HTTP {error.code} {error.read()[:200]!r}"
            ) from error
        return result
