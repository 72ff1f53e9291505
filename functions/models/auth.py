"""Sign-in nonces, session sign-outs and API keys: what authentication stores."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, StrictInt

from functions.models.base import Record


class Nonce(Record):
    nonce: str
    address: str  # the checksum address it was issued to
    issued_at: StrictInt
    expires_at: StrictInt


class LatestNonce(Record):
    """Which nonce an address was issued last, for clients that verify without naming it."""

    address: str  # checksum address
    nonce: str  # the nonce it points to
    expires_at: StrictInt  # the same expiry as that nonce


class Scope(StrEnum):
    """What an API key may do. A signed-in session may do everything its address may."""

    READ = "read"  # every GET the address may make
    TRADE = "trade"  # rent and stop leases; create, change and delist listings
    WITHDRAW = "withdraw"  # request withdrawals: money out
    DEVICES = "devices"  # enrol and revoke rigs, send them commands
    ALERTS = "alerts"  # create, change and delete alert rules


ALL_SCOPES: frozenset[Scope] = frozenset(Scope)


class SessionState(Record):
    """What one address has signed out: every token issued at or before
    ``tokens_valid_after``, and the tokens named in ``revoked`` (jti → that token's ``exp``,
    pruned once it has passed). Absent until the address first signs out.
    """

    address: str  # checksum address
    tokens_valid_after: StrictInt = 0  # epoch seconds; 0: never signed out everywhere
    revoked: dict[str, StrictInt] = Field(default_factory=dict)
    version: StrictInt = 0  # optimistic concurrency: every write bumps it
    expires_at: StrictInt  # TTL: when nothing it refuses could still be presented


class ApiKey(Record):
    """An API key as stored: the SHA-256 of its secret, never the secret."""

    key_id: str
    owner: str  # checksum address it acts for
    name: str
    scopes: tuple[Scope, ...]
    secret_hash: str | None = None  # hex; removed when the key is revoked
    created_at: StrictInt
    valid_until: StrictInt | None = None  # epoch seconds; None: until revoked
    last_used_at: StrictInt | None = None  # to the hour: written at most hourly
    revoked_at: StrictInt | None = None
