"""Sign-in nonces: issued for an address, consumed once by a signed message."""

from __future__ import annotations

from pydantic import StrictInt

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
