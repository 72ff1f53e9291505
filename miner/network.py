"""The XenBlocks network client: the published difficulty, and block submission.

The node publishes the difficulty at ``GET {base}/difficulty`` (JSON such as
``{"difficulty": "1727"}``) and takes found blocks at ``POST {base}/verify`` with the JSON
body ``{hash_to_verify, key, account, attempts, hashes_per_second, worker}``, where
``hash_to_verify`` is the PHC-encoded Argon2id hash (``protocol.xenblocks.encoded_hash``).

Transient failures (connection errors, timeouts, 5xx, 408, 429) are retried with
exponential backoff and jitter, honouring ``Retry-After``. Any other 4xx is the node's final
word on a block: reported as refused, not retried, except a 400 "Block already exists"
(the node saved it earlier, typically from an attempt whose answer was lost: reported as
accepted, ``duplicate``), and 404 and 405 (and redirects),
which say the URL is no node's ``/verify``: those raise ``NetworkError`` so the block stays
in the outbox. Blocks are durable in the outbox before they are submitted, so giving up
here loses nothing.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from miner.closing import Closing
from protocol.fields import INT64_MAX
from protocol.uplink import NetworkStatus
from protocol.xenblocks import HASH_LENGTH, MIN_DIFFICULTY, encoded_hash

log = logging.getLogger(__name__)

USER_AGENT = "xenblocks-platform-miner/0.1"
MAX_DIFFICULTY = 2**32 - 1  # Argon2's memory cost is a 32-bit count of KiB
MAX_MESSAGE_LENGTH = 512  # characters of the node's answer kept in a SubmitResult
DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 5
DEFAULT_BACKOFF = 1.0
DEFAULT_MAX_BACKOFF = 60.0
DEFAULT_MAX_RETRY_AFTER = 300.0
# Statuses worth another try: a timeout, rate limiting, and every server-side error.
_RETRY_STATUSES = frozenset({408, 429, *range(500, 600)})
# A 4xx that says the URL is wrong, not that the block is: the block is kept and retried.
_WRONG_ENDPOINT = frozenset({404, 405})
# The reference node's answers: 400 "Block already exists, continue" for a block it holds,
# 401 "Hash does not contain 'm=37000'. Your memory_cost setting in your miner will be
# autoadjusted." when the memory cost is under the current difficulty.
_ALREADY_EXISTS = re.compile(r"\bblock already exists\b", re.IGNORECASE)
_MEMORY_COST = re.compile(r"\bm=([0-9]{1,10})\b")
_TRANSIENT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


class NetworkError(RuntimeError):
    """The node could not be reached, kept failing, or answered something unusable."""


@dataclass(frozen=True)
class SubmitResult:
    """The node's verdict on a submitted block.

    ``accepted`` on 2xx, and on a 400 "Block already exists", which is also ``duplicate``
    (the node holds the block already: an earlier attempt reached it); else refused, a
    final 4xx (401: too low a memory cost, a XUNI outside its window, no target...).
    """

    accepted: bool
    status: int
    message: str
    duplicate: bool = False

    @property
    def refused(self) -> bool:
        return not self.accepted

    @property
    def verdict(self) -> NetworkStatus:
        if self.duplicate:
            return NetworkStatus.DUPLICATE
        return NetworkStatus.ACCEPTED if self.accepted else NetworkStatus.REFUSED

    @property
    def network_difficulty(self) -> int | None:
        """The difficulty a 401 for too low a memory cost names (``'m=37000'``), or None."""
        if self.status != 401:
            return None
        return difficulty_in_message(self.message)


class XenBlocksNetwork(Closing):
    """A client of one XenBlocks node (``base_url``, e.g. ``http://xenblocks.io``).

    ``retries`` is how many times a transient failure is retried (so up to ``retries + 1``
    requests). The wait before retry ``n`` (1-based) is ``backoff * 2**(n-1)`` capped at
    ``max_backoff``, with jitter (between half and all of it), or the server's
    ``Retry-After`` when that is longer (capped at ``max_retry_after``). ``sleep`` and
    ``rand`` are injectable for tests.
    """

    def __init__(
        self,
        base_url: str,
        *,
        session: requests.Session | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.base_url = validate_base_url(base_url)
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        if retries < 0:
            raise ValueError("retries must not be negative")
        if not 0 <= backoff <= max_backoff:
            raise ValueError("need 0 <= backoff <= max_backoff")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._rand = rand
        self._owns_session = session is None
        self.session = session if session is not None else requests.Session()
        if self._owns_session:
            self.session.headers["User-Agent"] = USER_AGENT

    # -- the API ------------------------------------------------------------------------

    def difficulty(self) -> int:
        """The difficulty (Argon2 memory cost in KiB) the network currently requires."""
        url = f"{self.base_url}/difficulty"
        response = self._request("GET", url)
        if not 200 <= response.status_code < 300:
            raise NetworkError(
                f"GET {url} answered HTTP {response.status_code}: {_snippet(response.text)}"
            )
        return parse_difficulty(response.text, url)

    def submit_block(
        self,
        *,
        hash_raw: bytes,
        salt: bytes,
        difficulty: int,
        key: str,
        account: str,
        attempts: int,
        hashes_per_second: float,
        worker: str,
    ) -> SubmitResult:
        """Submit a found block to ``/verify``; the node's verdict, or ``NetworkError``.

        ``hash_raw`` is the raw 64-byte Argon2id output of ``key`` with ``salt`` (the
        account's 20 bytes) at ``difficulty`` KiB.
        """
        body = verify_body(
            hash_raw=hash_raw,
            salt=salt,
            difficulty=difficulty,
            key=key,
            account=account,
            attempts=attempts,
            hashes_per_second=hashes_per_second,
            worker=worker,
        )
        url = f"{self.base_url}/verify"
        # No redirects: requests would turn the POST into a GET, and the node's "no such
        # page" would then read as a rejected block.
        response = self._request("POST", url, json_body=body, allow_redirects=False)
        status = response.status_code
        message = _message(response)
        if 200 <= status < 300:
            log.info("block accepted by the network (HTTP %d): %s", status, message)
            return SubmitResult(accepted=True, status=status, message=message)
        if is_duplicate(status, message):
            log.info("the network already holds this block (HTTP %d): %s", status, message)
            return SubmitResult(accepted=True, status=status, message=message, duplicate=True)
        if 400 <= status < 500 and status not in _WRONG_ENDPOINT:
            log.warning("block refused by the network (HTTP %d): %s", status, message)
            return SubmitResult(accepted=False, status=status, message=message)
        where = response.headers.get("Location")
        raise NetworkError(
            f"POST {url} answered HTTP {status}"
            + (f" (redirect to {where})" if where else "")
            + f": {message}; is {self.base_url} a XenBlocks node?"
        )

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    # -- retries ------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        *,
        json_body: dict[str, Any] | None = None,
        allow_redirects: bool = True,
    ) -> requests.Response:
        """The first answer that is not transient; ``NetworkError`` once retries run out."""
        last_problem = ""
        retry_after: float | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(self._delay(attempt, retry_after))
                retry_after = None
            try:
                response = self.session.request(
                    method,
                    url,
                    json=json_body,
                    timeout=self.timeout,
                    allow_redirects=allow_redirects,
                )
            except _TRANSIENT_ERRORS as error:
                last_problem = f"{type(error).__name__}: {error}"
            except requests.RequestException as error:
                raise NetworkError(f"{method} {url} failed: {error}") from error
            else:
                if response.status_code not in _RETRY_STATUSES:
                    return response
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                last_problem = f"HTTP {response.status_code}: {_snippet(response.text)}"
                response.close()
            log.warning(
                "%s %s: %s (attempt %d of %d)",
                method,
                url,
                last_problem,
                attempt + 1,
                self.retries + 1,
            )
        raise NetworkError(
            f"{method} {url} failed after {self.retries + 1} attempt(s): {last_problem}"
        )

    def _delay(self, retry: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        ceiling = min(self.max_backoff, self.backoff * 2.0 ** min(retry - 1, 60))
        delay = ceiling * (0.5 + 0.5 * self._rand())
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_retry_after))
        return delay


# -- pure helpers (tested directly) ------------------------------------------------------


def validate_base_url(base_url: str) -> str:
    """``base_url`` without a trailing slash, or ValueError if it is no http(s) URL."""
    parts = urlsplit(base_url.strip()) if isinstance(base_url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"XenBlocks node URL must be http:// or https:// with a host, not {base_url!r}"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"XenBlocks node URL must not have a query or fragment: {base_url!r}")
    return parts.geturl().rstrip("/")


def parse_difficulty(text: str, source: str = "the node") -> int:
    """The difficulty in a ``/difficulty`` answer: ``{"difficulty": "1727"}``, or a number."""
    try:
        document: Any = json.loads(text)
    except ValueError:
        document = text.strip()
    value = document.get("difficulty") if isinstance(document, dict) else document
    difficulty: int | None = None
    if isinstance(value, bool):
        difficulty = None
    elif isinstance(value, int):
        difficulty = value
    elif isinstance(value, float) and value.is_integer():
        difficulty = int(value)
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        difficulty = int(value.strip())
    if difficulty is None:
        raise NetworkError(f"{source} answered no difficulty: {_snippet(text)}")
    if not MIN_DIFFICULTY <= difficulty <= MAX_DIFFICULTY:
        raise NetworkError(
            f"{source} answered difficulty {difficulty}, outside {MIN_DIFFICULTY}..{MAX_DIFFICULTY}"
        )
    return difficulty


def is_duplicate(status: int, message: str) -> bool:
    """Whether the node's answer says it holds the block already (400 "Block already
    exists, continue"): the block was saved, by an earlier attempt or another miner."""
    return status == 400 and _ALREADY_EXISTS.search(message) is not None


def difficulty_in_message(message: str) -> int | None:
    """The memory cost the node's "Hash does not contain 'm=37000'" names, or None."""
    match = _MEMORY_COST.search(message)
    if match is None:
        return None
    value = int(match.group(1))
    return value if MIN_DIFFICULTY <= value <= MAX_DIFFICULTY else None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait per a ``Retry-After`` header (seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def verify_body(
    *,
    hash_raw: bytes,
    salt: bytes,
    difficulty: int,
    key: str,
    account: str,
    attempts: int,
    hashes_per_second: float,
    worker: str,
) -> dict[str, Any]:
    """The JSON body ``/verify`` takes, after checking its parts."""
    if not isinstance(hash_raw, bytes) or len(hash_raw) != HASH_LENGTH:
        raise ValueError(f"hash_raw must be the {HASH_LENGTH} raw bytes of the Argon2 hash")
    if not isinstance(salt, bytes) or not salt:
        raise ValueError("salt must be non-empty bytes")
    if isinstance(difficulty, bool) or not MIN_DIFFICULTY <= difficulty <= MAX_DIFFICULTY:
        raise ValueError(f"difficulty must be an int in {MIN_DIFFICULTY}..{MAX_DIFFICULTY}")
    if not key or not all(char in "0123456789abcdefABCDEF" for char in key):
        raise ValueError("key must be a hex string")
    if not account:
        raise ValueError("account must not be empty")
    if isinstance(attempts, bool) or not 0 <= attempts <= INT64_MAX:
        raise ValueError("attempts must be a non-negative int")
    rate = float(hashes_per_second)
    if not math.isfinite(rate) or rate < 0:
        raise ValueError("hashes_per_second must be a finite, non-negative number")
    return {
        "hash_to_verify": encoded_hash(hash_raw, salt, difficulty),
        "key": key,
        "account": account,
        "attempts": attempts,
        "hashes_per_second": rate,
        "worker": worker,
    }


def _message(response: requests.Response) -> str:
    """The node's message: ``message`` (or ``error``/``detail``) of a JSON body, else text."""
    text = response.text
    try:
        document: Any = json.loads(text)
    except ValueError:
        return _snippet(text)
    if isinstance(document, dict):
        for field in ("message", "error", "detail"):
            if isinstance(document.get(field), str):
                return _snippet(document[field])
    return _snippet(json.dumps(document))


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > MAX_MESSAGE_LENGTH:
        return text[: MAX_MESSAGE_LENGTH - 1] + "…"
    return text
