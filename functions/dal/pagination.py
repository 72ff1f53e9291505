"""Pages and opaque cursors (DynamoDB's ``LastEvaluatedKey``, encoded for a URL)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from functions.errors import InvalidInput

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
_MAX_CURSOR_CHARS = 2048


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


def encode_cursor(key: dict[str, Any] | str | None) -> str | None:
    """A LastEvaluatedKey (DynamoDB JSON) or a plain position, as an opaque URL-safe token."""
    if not key:
        return None
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, expected_keys: Iterable[str]) -> dict[str, Any] | None:
    """The ExclusiveStartKey a cursor stands for; a cursor from elsewhere is an InvalidInput."""
    if not cursor:
        return None
    decoded = _decode(cursor)
    expected = set(expected_keys)
    if not isinstance(decoded, dict) or set(decoded) != expected:
        raise InvalidInput("cursor is not valid for this listing")
    for value in decoded.values():
        if not (isinstance(value, dict) and len(value) == 1 and next(iter(value)) in "SN"):
            raise InvalidInput("cursor is not valid for this listing")
    return decoded


def decode_position(cursor: str | None) -> str | None:
    """A plain string position encoded with ``encode_cursor``."""
    if not cursor:
        return None
    decoded = _decode(cursor)
    if not isinstance(decoded, str):
        raise InvalidInput("cursor is not valid for this listing")
    return decoded


def _decode(cursor: str) -> Any:
    if len(cursor) > _MAX_CURSOR_CHARS:
        raise InvalidInput("cursor is too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise InvalidInput("cursor is not valid") from error
