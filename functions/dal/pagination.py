"""Pages and opaque cursors: DynamoDB's ``LastEvaluatedKey`` (or a plain position), signed.

A cursor is ``<payload>.<tag>``: the payload is the key as URL-safe base64 JSON, the tag a
truncated HMAC-SHA256 over the payload *and* the scope of the listing that handed it out
(table, index, listing and the partition value the Query was for, e.g. the owner). So a
cursor only works for the listing and the owner it came from: one made for another owner
or listing, altered, forged, malformed or too long is an ``InvalidInput`` (a 4xx), never a
Query that DynamoDB would refuse (a 500) nor a quietly empty page.

The signing key is derived from the deployment's JWT secret with a label of its own
(``HMAC(secret, "xenblocks/cursor-v1")``), so there is no new secret to deploy and a tag can
never pass for anything the JWT secret signs. With no secret configured (unit tests, jobs
whose cursors never leave the process) a per-process random key stands in: cursors then
only work within the process that made them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from functions.errors import InvalidInput

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
_MAX_CURSOR_CHARS = 2048

# What a scope is made of: names and partition values (strings or integers).
Scope = tuple[str | int, ...]

_KEY_LABEL = b"xenblocks/cursor-v1"
_TAG_BYTES = 16  # 128 bits of HMAC-SHA256
_TAG_CHARS = len(base64.urlsafe_b64encode(bytes(_TAG_BYTES)).rstrip(b"="))
# Stand-in key when no secret is configured: good for this process only.
_PROCESS_KEY = secrets.token_bytes(32)

_INVALID = "cursor is not valid for this listing"


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    cursor: str | None = None


def clamp_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_PAGE_SIZE
    if limit < 1:
        raise InvalidInput("limit must be at least 1")
    return min(limit, MAX_PAGE_SIZE)


class CursorCodec:
    """Signs cursors for a scope and opens only those signed for the same scope."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a cursor key needs at least 16 bytes")
        self._key = key

    @classmethod
    def from_secret(cls, secret: str | bytes | None) -> CursorCodec:
        """The deployment's codec, keyed from ``secret`` (the JWT secret); with no secret,
        a per-process random key (cursors then only work within this process)."""
        if not secret:
            return cls(_PROCESS_KEY)
        raw = secret.encode() if isinstance(secret, str) else secret
        return cls(hmac.new(raw, _KEY_LABEL, hashlib.sha256).digest())

    # -- making ---------------------------------------------------------------------------

    def encode(self, value: Mapping[str, Any] | str | None, scope: Scope) -> str | None:
        """A LastEvaluatedKey (DynamoDB JSON) or a plain position, as a cursor for ``scope``."""
        if not value:
            return None
        raw = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
        payload = _b64(raw)
        return f"{payload}.{_b64(self._tag(payload, scope))}"

    # -- reading --------------------------------------------------------------------------

    def decode_key(
        self,
        cursor: str | None,
        scope: Scope,
        *,
        key_names: Iterable[str],
        expect: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> dict[str, Any] | None:
        """The ExclusiveStartKey a cursor of ``scope`` stands for.

        ``key_names`` are the attributes such a key has; ``expect`` pins some of them to a
        value (DynamoDB JSON), such as the partition the Query is for.
        """
        if not cursor:
            return None
        decoded = self._open(cursor, scope)
        if not isinstance(decoded, dict) or set(decoded) != set(key_names):
            raise InvalidInput(_INVALID)
        for value in decoded.values():
            if not (
                isinstance(value, dict)
                and len(value) == 1
                and next(iter(value)) in ("S", "N")
                and isinstance(next(iter(value.values())), str)
            ):
                raise InvalidInput(_INVALID)
        for name, wanted in (expect or {}).items():
            if decoded.get(name) != wanted:
                raise InvalidInput(_INVALID)
        return decoded

    def decode_position(self, cursor: str | None, scope: Scope) -> str | None:
        """A plain string position encoded for ``scope``."""
        if not cursor:
            return None
        decoded = self._open(cursor, scope)
        if not isinstance(decoded, str):
            raise InvalidInput(_INVALID)
        return decoded

    def _open(self, cursor: str, scope: Scope) -> Any:
        if len(cursor) > _MAX_CURSOR_CHARS:
            raise InvalidInput("cursor is too long")
        payload, dot, tag = cursor.partition(".")
        if not cursor.isascii() or not dot or len(tag) != _TAG_CHARS:
            raise InvalidInput(_INVALID)
        try:
            given = _unb64(tag)
        except (binascii.Error, ValueError) as error:
            raise InvalidInput(_INVALID) from error
        # The tag is checked before anything in the payload is read.
        if not hmac.compare_digest(given, self._tag(payload, scope)):
            raise InvalidInput(_INVALID)
        try:
            return json.loads(_unb64(payload))
        except (binascii.Error, ValueError, UnicodeDecodeError) as error:
            raise InvalidInput(_INVALID) from error

    def _tag(self, payload: str, scope: Scope) -> bytes:
        message = b"\x00".join(
            (_KEY_LABEL, json.dumps(list(scope), separators=(",", ":")).encode(), payload.encode())
        )
        return hmac.new(self._key, message, hashlib.sha256).digest()[:_TAG_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
