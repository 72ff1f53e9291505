"""Sign-out, and who a bearer credential names (HTTP and the WebSocket alike).

A session token is refused once its address signed out everywhere at or after the token's
``iat`` (``tokens_valid_after``), or once that very token (its ``jti``) was signed out.
Both facts live in one item per address, so checking a token is one strongly consistent
GetItem per request (1 read unit while the item is under 4 KB; an address that never
signed out has no item and still costs that one read). An API key is one GetItem too
(``functions.logic.api_keys``).

The single-token list is bounded: entries go once their token expires, and an address
that signs out more than ``MAX_REVOKED`` tokens still alive is signed out everywhere
instead, so the item (and each request's read) stays small. A script that signs in and out
that often should use an API key.

A sign-out everywhere voids every token issued in the same second too, including one
signed in just after it: such a client signs in again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from functions.dal.api_keys import ApiKeyRepository
from functions.dal.sessions import SessionRepository
from functions.errors import ConcurrentUpdate, Forbidden, Unauthorized
from functions.logic.api_keys import ApiKeyService, looks_like_key
from functions.logic.tokens import MAX_TOKEN_TTL_SECONDS, Principal, verify_token
from functions.models.auth import SessionState
from functions.settings import Settings

MAX_REVOKED = 64
_ATTEMPTS = 3


class SignedOut(StrEnum):
    THIS_SESSION = "this_session"
    ALL_SESSIONS = "all_sessions"


@dataclass(frozen=True)
class SignOut:
    signed_out: SignedOut
    tokens_valid_after: int | None  # set when every session ended


def is_signed_out(state: SessionState | None, principal: Principal) -> bool:
    if state is None:
        return False
    if principal.issued_at <= state.tokens_valid_after:
        return True
    return principal.credential_id in state.revoked


def _expiry(valid_after: int, revoked: dict[str, int], now: int) -> int:
    """When the item can go: no token it refuses can be presented after this."""
    ends = [*revoked.values(), now + 1]
    if valid_after:
        ends.append(valid_after + MAX_TOKEN_TTL_SECONDS)
    return max(ends)


class SessionService:
    def __init__(self, sessions: SessionRepository) -> None:
        self._sessions = sessions

    def check(self, principal: Principal) -> None:
        """Unauthorized if the session token was signed out (one GetItem)."""
        if is_signed_out(self._sessions.get(principal.address), principal):
            raise Unauthorized("session token was signed out: sign in again")

    def sign_out(self, principal: Principal, now: int) -> SignOut:
        """Void the presented token until it expires (or every session, past the bound)."""
        return self._write(principal, now, everywhere=False)

    def sign_out_everywhere(self, principal: Principal, now: int) -> SignOut:
        """Void every token of the address issued at or before ``now``."""
        return self._write(principal, now, everywhere=True)

    def _write(self, principal: Principal, now: int, *, everywhere: bool) -> SignOut:
        if not principal.is_session:
            raise Forbidden("only a signed-in session can sign out")
        for _ in range(_ATTEMPTS):
            state = self._sessions.get(principal.address)
            version = state.version if state is not None else 0
            valid_after = state.tokens_valid_after if state is not None else 0
            revoked = {
                jti: exp for jti, exp in (state.revoked if state else {}).items() if exp > now
            }
            if not everywhere:
                revoked[principal.credential_id] = principal.expires_at or now + 1
            if everywhere or len(revoked) > MAX_REVOKED:
                # Every listed token was issued by now, so the epoch covers them all.
                everywhere, valid_after, revoked = True, max(valid_after, now), {}
            new = SessionState(
                address=principal.address,
                tokens_valid_after=valid_after,
                revoked=revoked,
                version=version + 1,
                expires_at=_expiry(valid_after, revoked, now),
            )
            try:
                self._sessions.save(new, previous_version=version)
            except ConcurrentUpdate:
                continue  # another sign-out of the same address: read again
            if everywhere:
                return SignOut(SignedOut.ALL_SESSIONS, valid_after)
            return SignOut(SignedOut.THIS_SESSION, None)
        raise ConcurrentUpdate("sign-out raced with others of the same address: try again")


class Authenticator:
    """Who a bearer credential names: a session token not signed out, or a live API key."""

    def __init__(
        self, settings: Settings, sessions: SessionRepository, keys: ApiKeyRepository
    ) -> None:
        self._settings = settings
        self._sessions = SessionService(sessions)
        self._keys = ApiKeyService(keys)

    def authenticate(self, credential: str, now: int) -> Principal:
        if looks_like_key(credential):
            return self._keys.authenticate(credential, now)
        secret = self._settings.jwt_secret
        if secret is None:
            raise Unauthorized("sign-in is not configured on this deployment")
        principal = verify_token(
            credential,
            secret=secret.get_secret_value(),
            now=now,
            admins=self._settings.admin_addresses,
        )
        self._sessions.check(principal)
        return principal
