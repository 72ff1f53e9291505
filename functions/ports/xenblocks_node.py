"""The ``XenBlocksNode`` port: what the platform reads from the XenBlocks network.

- ``difficulty()``: the node's ``GET /difficulty`` (``{"difficulty": "<m>"}``, a string as
  the reference node writes it), validated strictly: digits (or an integer) in
  [8, 2**32 - 1]; anything else is a ``NodeError``.
- ``block(key)``: the explorer's ``GET /get_block?key=`` (``{block_id, hash_to_verify, key,
  account, created_at}``), None when the node has no block under that key (404).

``HttpXenBlocksNode`` talks to a node over HTTP (stdlib ``urllib``, a short timeout, a
bounded body); ``FakeXenBlocksNode`` answers from memory (unit tests, the cost model).
The node's URL is the operator's (``XENBLOCKS_NETWORK_URL``), never a user's.
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Protocol

from functions.models.network import MAX_NETWORK_DIFFICULTY
from protocol.xenblocks import MIN_DIFFICULTY

# Answers are tiny; a node that sends more is not answering what we asked.
MAX_BODY_BYTES = 16 * 1024
_DIGITS = re.compile(r"[0-9]{1,10}")
_KEY = re.compile(r"[0-9a-fA-F]{1,128}")


class NodeError(Exception):
    """The node could not be read, or answered something that is not its API's shape."""


@dataclass(frozen=True)
class NodeBlock:
    """A block (or XUNI) the node holds."""

    key: str
    account: str
    hash_to_verify: str  # the encoded form: $argon2id$v=19$m=…$<salt>$<hash>
    block_id: int | None = None
    created_at: str | None = None

    @property
    def hash(self) -> str:
        """The raw base64 hash: the encoded form's last ``$`` segment."""
        return self.hash_to_verify.rsplit("$", 1)[-1]

    @property
    def memory_cost(self) -> int | None:
        found = re.search(r"\$m=([0-9]{1,10}),", self.hash_to_verify)
        return int(found[1]) if found else None


class XenBlocksNode(Protocol):
    def difficulty(self) -> int:
        """The network's current difficulty; ``NodeError`` when it cannot be read."""
        ...

    def block(self, key: str) -> NodeBlock | None:
        """The block stored under ``key``, None if the node has none; ``NodeError`` else."""
        ...


def parse_difficulty(body: bytes) -> int:
    """``{"difficulty": "<m>"}`` → m, refusing anything but a plain in-range value."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise NodeError(f"difficulty: not JSON ({error})") from None
    if not isinstance(data, dict) or "difficulty" not in data:
        raise NodeError("difficulty: no 'difficulty' in the answer")
    value = data["difficulty"]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise NodeError(f"difficulty: {type(value).__name__} is not a number")
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            raise NodeError(f"difficulty: {value[:32]!r} is not a whole number")
        value = int(value)
    if not MIN_DIFFICULTY <= value <= MAX_NETWORK_DIFFICULTY:
        raise NodeError(f"difficulty: {value} is outside [{MIN_DIFFICULTY}, 2**32 - 1]")
    return value


def parse_block(body: bytes) -> NodeBlock:
    """The explorer's ``/get_block`` answer → ``NodeBlock``."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise NodeError(f"get_block: not JSON ({error})") from None
    if not isinstance(data, dict):
        raise NodeError("get_block: not an object")
    texts = {name: data.get(name) for name in ("key", "account", "hash_to_verify")}
    if not all(isinstance(value, str) and value for value in texts.values()):
        raise NodeError("get_block: key, account or hash_to_verify missing")
    block_id = data.get("block_id")
    created_at = data.get("created_at")
    return NodeBlock(
        key=str(texts["key"]),
        account=str(texts["account"]),
        hash_to_verify=str(texts["hash_to_verify"]),
        block_id=block_id if isinstance(block_id, int) and not isinstance(block_id, bool) else None,
        created_at=created_at if isinstance(created_at, str) else None,
    )


class HttpXenBlocksNode:
    """A node over HTTP(S): ``url`` is its root (``http://xenblocks.io``)."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def difficulty(self) -> int:
        status, body = self._get("/difficulty")
        if status != 200:
            raise NodeError(f"difficulty: HTTP {status}")
        return parse_difficulty(body)

    def block(self, key: str) -> NodeBlock | None:
        if not _KEY.fullmatch(key):
            raise ValueError("a key is up to 128 hex characters")
        status, body = self._get(f"/get_block?{urllib.parse.urlencode({'key': key})}")
        if status == 404:
            return None
        if status != 200:
            raise NodeError(f"get_block: HTTP {status}")
        return parse_block(body)

    def _get(self, path: str) -> tuple[int, bytes]:
        request = urllib.request.Request(  # noqa: S310 - the operator's http(s) URL
            self.url + path, headers={"Accept": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return int(response.status), _bounded(response)
        except urllib.error.HTTPError as error:
            with error:
                return int(error.code), _bounded(error)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
            raise NodeError(f"{path.split('?')[0]}: {error}") from None


def _bounded(response: Any) -> bytes:
    body: bytes = response.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise NodeError(f"answer over {MAX_BODY_BYTES} bytes")
    return body


@dataclass
class FakeXenBlocksNode:
    """A node in memory: set ``value``, add ``blocks``, make the next reads fail."""

    value: int = 1727
    blocks: dict[str, NodeBlock] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # errors the next reads raise
    reads: int = 0
    block_reads: list[str] = field(default_factory=list)

    def difficulty(self) -> int:
        self.reads += 1
        if self.failures:
            raise NodeError(self.failures.pop(0))
        return self.value

    def block(self, key: str) -> NodeBlock | None:
        self.block_reads.append(key)
        if self.failures:
            raise NodeError(self.failures.pop(0))
        return self.blocks.get(key)

    def hold(self, block: NodeBlock) -> None:
        self.blocks[block.key] = block


def node_for(url: str | None, *, timeout: float = 5.0) -> XenBlocksNode | None:
    """The node at ``url`` (settings' ``network_url``), or None where none is set."""
    return HttpXenBlocksNode(url, timeout=timeout) if url else None
