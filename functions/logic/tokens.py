"""Session tokens: short-lived HS256 JWTs naming the signed-in wallet address."""

from __future__ import annotations

from dataclasses import dataclass

import jwt

from functions.errors import Unauthorized
from protocol.addresses import to_checksum
from protocol.errors import ProtocolError

ALGORITHM = "HS256"
ISSUER = "xenblocks"
MIN_SECRET_BYTES = 32


@dataclass(frozen=True)
class Principal:
    address: str  # checksum address
    is_admin: bool = False


def _check_secret(secret: str) -> None:
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"the JWT secret needs at least {MIN_SECRET_BYTES} bytes")


def issue_token(address: str, *, secret: str, now: int, ttl: int) -> str:
    _check_secret(secret)
    claims = {"sub": to_checksum(address), "iss": ISSUER, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(token: str, *, secret: str, now: int, admins: tuple[str, ...]) -> Principal:
    """The principal a token names, or Unauthorized (bad signature, expired, alg none…)."""
    _check_secret(secret)
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],  # pinned: "none" and key-confusion tokens are refused
            issuer=ISSUER,
            options={"require": ["sub", "exp", "iat", "iss"], "verify_exp": False},
        )
    except jwt.PyJWTError:
        raise Unauthorized("invalid session token") from None
    expires = claims["exp"]
    if not isinstance(expires, int) or expires <= now:
        raise Unauthorized("session token expired")
    try:
        address = to_checksum(str(claims["sub"]))
    except ProtocolError:
        raise Unauthorized("invalid session token") from None
    return Principal(address=address, is_admin=address in admins)
