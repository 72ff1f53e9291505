"""Session tokens: short-lived HS256 JWTs naming the signed-in wallet address.

A token carries its own id (``jti``) and issue time (``iat``) so that it can be signed out
before it expires: ``functions.logic.sessions`` checks both against what the address has
revoked. This module only makes and reads tokens; it never touches storage.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum

import jwt

from functions.errors import Unauthorized
from functions.models.auth import ALL_SCOPES, Scope
from protocol.addresses import to_checksum
from protocol.errors import ProtocolError

ALGORITHM = "HS256"
ISSUER = "xenblocks"
MIN_SECRET_BYTES = 32
# The longest a token may live (Settings.jwt_ttl_seconds is capped here too). Sign-out
# records are kept this long at most: no token they refuse can outlive it.
MAX_TOKEN_TTL_SECONDS = 7 * 86_400
MAX_TOKEN_ID_CHARS = 64


class CredentialKind(StrEnum):
    SESSION = "session"  # a SIWE session token
    API_KEY = "api_key"  # an ``xbk_…`` key


@dataclass(frozen=True)
class Principal:
    """Who is calling, and with what: a session may do all its address may, a key only its
    scopes, and admin rights come only from a session."""

    address: str  # checksum address
    is_admin: bool = False
    kind: CredentialKind = CredentialKind.SESSION
    scopes: frozenset[Scope] = ALL_SCOPES
    credential_id: str = ""  # the session token's jti, or the API key's id
    issued_at: int = 0
    expires_at: int | None = None  # None: an API key without an expiry

    @property
    def is_session(self) -> bool:
        return self.kind is CredentialKind.SESSION

    def allows(self, scope: Scope) -> bool:
        return self.is_session or scope in self.scopes


def _check_secret(secret: str) -> None:
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"the JWT secret needs at least {MIN_SECRET_BYTES} bytes")


def new_token_id() -> str:
    """128 random bits, URL-safe: a token's ``jti``."""
    return secrets.token_urlsafe(16)


def issue_token(
    address: str, *, secret: str, now: int, ttl: int, token_id: str | None = None
) -> str:
    _check_secret(secret)
    if not 0 < ttl <= MAX_TOKEN_TTL_SECONDS:
        raise ValueError(f"a token lives 1 to {MAX_TOKEN_TTL_SECONDS} seconds")
    claims = {
        "sub": to_checksum(address),
        "iss": ISSUER,
        "iat": now,
        "exp": now + ttl,
        "jti": token_id or new_token_id(),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(token: str, *, secret: str, now: int, admins: tuple[str, ...]) -> Principal:
    """The principal a token names, or Unauthorized (bad signature, expired, alg none…).

    Only the token itself is checked here; whether it was signed out is the session check's
    business (``functions.logic.sessions``)."""
    _check_secret(secret)
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],  # pinned: "none" and key-confusion tokens are refused
            issuer=ISSUER,
            options={
                "require": ["sub", "exp", "iat", "iss", "jti"],
                "verify_exp": False,
                "verify_iat": False,  # our clock, not the library's, judges time
            },
        )
    except jwt.PyJWTError:
        raise Unauthorized("invalid session token") from None
    expires, issued, token_id = claims["exp"], claims["iat"], claims["jti"]
    if not isinstance(expires, int) or expires <= now:
        raise Unauthorized("session token expired")
    if not isinstance(issued, int) or not isinstance(token_id, str):
        raise Unauthorized("invalid session token")
    if not 0 < len(token_id) <= MAX_TOKEN_ID_CHARS:
        raise Unauthorized("invalid session token")
    try:
        address = to_checksum(str(claims["sub"]))
    except ProtocolError:
        raise Unauthorized("invalid session token") from None
    return Principal(
        address=address,
        is_admin=address in admins,
        credential_id=token_id,
        issued_at=issued,
        expires_at=expires,
    )
