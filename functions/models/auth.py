"""Sign-in nonces: issued for an address, consumed once by a signed message."""

from __future__ import annotations

from pydantic import StrictInt

from functions.models.base import Record


class Nonce(Record):
    nonce: str
    address: str  # the checksum address it was issued to
    issued_at: StrictInt
    expires_at: StrictInt
