"""API keys for bots and scripts: scoped, revocable, hashed at rest.

A key reads ``xbk_<key_id>_<secret>`` and is sent like a session token
(``Authorization: Bearer xbk_…``). The platform keeps the SHA-256 of the secret, never the
secret: the secret is 256 random bits, so a plain hash cannot be reversed by guessing and
needs no server-side pepper (which would tie every key to a secret's rotation). The
comparison is constant-time. A key acts for its owner within its scopes only; it never
carries admin rights, and what only a session may do (keys, sign-out) is refused to it
(``functions.api.auth`` holds the one map of which route needs which scope).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from functions.dal.api_keys import ApiKeyRepository
from functions.errors import InvalidInput, NotFound, Unauthorized
from functions.logic.tokens import CredentialKind, Principal
from functions.models.auth import ApiKey, Scope

KEY_PREFIX = "xbk_"
KEY_ID_PATTERN = r"^[a-z0-9]{16}$"
_KEY = re.compile(r"xbk_([a-z0-9]{16})_([A-Za-z0-9_-]{43})")
SECRET_BYTES = 32  # token_urlsafe(32): 43 characters
MAX_KEYS_PER_ADDRESS = 10
MAX_KEY_DAYS = 365
MAX_NAME_CHARS = 64
# last_used_at is written at most once an hour per key: one write, not one per request.
LAST_USED_RESOLUTION_SECONDS = 3600
# A revoked key's item (no hash left) stays this long for the owner's records, then TTL.
REVOKED_KEPT_SECONDS = 30 * 86_400

_REFUSED = "invalid API key"


@dataclass(frozen=True)
class IssuedKey:
    """A new key: the stored record, and the key itself (shown once, never stored)."""

    record: ApiKey
    key: str


def new_key_id() -> str:
    return secrets.token_hex(8)


def format_key(key_id: str, secret: str) -> str:
    return f"{KEY_PREFIX}{key_id}_{secret}"


def parse_key(text: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a well-formed key, else None."""
    match = _KEY.fullmatch(text)
    return (match.group(1), match.group(2)) if match else None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_key(credential: str) -> bool:
    return credential.startswith(KEY_PREFIX)


class ApiKeyService:
    def __init__(self, keys: ApiKeyRepository) -> None:
        self._keys = keys

    def create(
        self,
        owner: str,
        *,
        name: str,
        scopes: frozenset[Scope],
        expires_in_days: int | None,
        now: int,
    ) -> IssuedKey:
        """A new key for ``owner``; ``Conflict`` once the owner holds the maximum."""
        name = name.strip()
        if not name or len(name) > MAX_NAME_CHARS or not name.isprintable():
            raise InvalidInput(f"name: 1 to {MAX_NAME_CHARS} printable characters")
        if not scopes:
            raise InvalidInput("scopes: at least one")
        if expires_in_days is not None and not 1 <= expires_in_days <= MAX_KEY_DAYS:
            raise InvalidInput(f"expires_in_days: 1 to {MAX_KEY_DAYS}")
        key_id, secret = new_key_id(), secrets.token_urlsafe(SECRET_BYTES)
        record = ApiKey(
            key_id=key_id,
            owner=owner,
            name=name,
            scopes=tuple(scope for scope in Scope if scope in scopes),
            secret_hash=hash_secret(secret),
            created_at=now,
            valid_until=None if expires_in_days is None else now + expires_in_days * 86_400,
        )
        self._keys.create(record, max_keys=MAX_KEYS_PER_ADDRESS)
        return IssuedKey(record=record, key=format_key(key_id, secret))

    def list(self, owner: str) -> list[ApiKey]:
        return self._keys.list_for(owner)

    def revoke(self, owner: str, key_id: str, now: int) -> None:
        """The key stops working at once; ``NotFound`` unless it is a live key of ``owner``."""
        if not re.fullmatch(KEY_ID_PATTERN, key_id):
            raise NotFound(f"no API key {key_id}")
        self._keys.revoke(owner, key_id, now=now, keep_until=now + REVOKED_KEPT_SECONDS)

    def authenticate(self, credential: str, now: int) -> Principal:
        """The principal a key stands for, or Unauthorized (malformed, unknown, wrong
        secret, revoked, expired). One GetItem; at most one write an hour (last used)."""
        parsed = parse_key(credential)
        if parsed is None:
            raise Unauthorized(_REFUSED)
        key_id, secret = parsed
        record = self._keys.get(key_id)
        stored = record.secret_hash if record is not None else None
        # Compare even when there is nothing to compare with: the same work either way.
        matches = hmac.compare_digest(hash_secret(secret), stored or hash_secret(""))
        if record is None or stored is None or record.revoked_at is not None or not matches:
            raise Unauthorized(_REFUSED)
        if record.valid_until is not None and record.valid_until <= now:
            raise Unauthorized("API key expired")
        if record.last_used_at is None or record.last_used_at <= now - LAST_USED_RESOLUTION_SECONDS:
            self._keys.touch(key_id, now=now, unless_since=now - LAST_USED_RESOLUTION_SECONDS + 1)
        return Principal(
            address=record.owner,
            is_admin=False,  # admin rights never come from a key
            kind=CredentialKind.API_KEY,
            scopes=frozenset(record.scopes),
            credential_id=key_id,
            issued_at=record.created_at,
            expires_at=record.valid_until,
        )
