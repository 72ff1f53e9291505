"""``/api/auth``: Sign-In with Ethereum (EIP-4361) for a short-lived session token, sign-out
(one session or all of them), and API keys for bots and scripts.

Sign-out and keys are for signed-in sessions only: ``functions.api.auth`` refuses them to an
API key (no key makes keys or ends sessions).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from functions.api.auth import Context, CurrentPrincipal
from functions.api.schemas import Body
from functions.logic.api_keys import (
    KEY_ID_PATTERN,
    MAX_KEY_DAYS,
    MAX_KEYS_PER_ADDRESS,
    MAX_NAME_CHARS,
    ApiKeyService,
)
from functions.logic.sessions import SessionService, SignedOut
from functions.logic.siwe import NONCE_PATTERN, SignInService
from functions.logic.tokens import CredentialKind
from functions.models.auth import ApiKey, Scope
from protocol.addresses import EthAddress

router = APIRouter(prefix="/api/auth", tags=["auth"])

# A 65-byte signature is 132 characters of 0x-hex; the cap only bounds the input, anything
# under it that is not a valid signature is a refused sign-in (401), not a bad request.
MAX_SIGNATURE_CHARS = 256


class NonceOut(BaseModel):
    nonce: str = Field(description="Single-use, alphanumeric; valid until expires_at")
    message: str = Field(
        description="The EIP-4361 message to sign with personal_sign (EIP-191), as given"
    )
    issued_at: int = Field(description="Epoch seconds")
    expires_at: int = Field(description="Epoch seconds; sign and verify before then")


class VerifyRequest(Body):
    address: EthAddress = Field(description="The wallet address that signed (0x + 40 hex)")
    signature: str = Field(
        min_length=1,
        max_length=MAX_SIGNATURE_CHARS,
        description="The 65-byte signature of the message, 0x-prefixed hex",
    )
    nonce: str | None = Field(
        default=None,
        pattern=NONCE_PATTERN,
        description="The nonce whose message was signed; default: the address's latest",
    )


class TokenOut(BaseModel):
    token: str = Field(description="Send as Authorization: Bearer <token>")
    address: str = Field(description="The signed-in address (checksum)")
    is_admin: bool
    expires_at: int = Field(description="Epoch seconds when the token stops working")


class MeOut(BaseModel):
    address: str = Field(description="The signed-in address (checksum)")
    is_admin: bool
    credential: CredentialKind = Field(description="What the request carried")
    scopes: list[Scope] = Field(description="What it may do (a session: everything)")
    expires_at: int | None = Field(description="Epoch seconds; null: a key without expiry")


class SignOutOut(BaseModel):
    signed_out: SignedOut = Field(
        description="this_session, or all_sessions (also when one address has signed out "
        "too many live tokens one by one)"
    )
    tokens_valid_after: int | None = Field(
        description="When every session ended: tokens issued at or before this epoch "
        "second no longer work"
    )


class CreateKey(Body):
    name: str = Field(
        min_length=1, max_length=MAX_NAME_CHARS, description="What the key is for (a label)"
    )
    scopes: list[Scope] = Field(
        min_length=1,
        max_length=len(Scope),
        description="read: every GET; trade: leases and listings; withdraw: money out; "
        "devices: enrol, revoke and command rigs; alerts: alert rules",
    )
    expires_in_days: int | None = Field(
        default=None, ge=1, le=MAX_KEY_DAYS, description="Default: until revoked"
    )


class ApiKeyOut(BaseModel):
    key_id: str
    name: str
    scopes: list[Scope]
    created_at: int = Field(description="Epoch seconds")
    expires_at: int | None = Field(description="Epoch seconds; null: until revoked")
    last_used_at: int | None = Field(description="Epoch seconds, to the hour")

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(
            key_id=key.key_id,
            name=key.name,
            scopes=list(key.scopes),
            created_at=key.created_at,
            expires_at=key.valid_until,
            last_used_at=key.last_used_at,
        )


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(
        description="Send as Authorization: Bearer <key>. Shown this once: only its hash is kept"
    )


class ApiKeysOut(BaseModel):
    items: list[ApiKeyOut] = Field(description="Oldest first; never the keys themselves")
    max_keys: int = Field(description="How many keys an address may hold")


KeyId = Annotated[str, Path(pattern=KEY_ID_PATTERN, description="The key's id")]


def _service(context: Context) -> SignInService:
    return SignInService(context.nonces, context.settings)


@router.get("/nonce")
def get_nonce(
    address: Annotated[EthAddress, Query(description="The wallet that will sign in")],
    context: Context,
) -> NonceOut:
    challenge = _service(context).issue_nonce(address, context.clock())
    return NonceOut(
        nonce=challenge.nonce.nonce,
        message=challenge.message,
        issued_at=challenge.nonce.issued_at,
        expires_at=challenge.nonce.expires_at,
    )


@router.post("/verify")
def verify(body: VerifyRequest, context: Context) -> TokenOut:
    now = context.clock()
    token = _service(context).verify(body.address, body.signature, now, nonce=body.nonce)
    return TokenOut(
        token=token,
        address=body.address,
        is_admin=body.address in context.settings.admin_addresses,
        expires_at=now + context.settings.jwt_ttl_seconds,
    )


@router.get("/me")
def me(principal: CurrentPrincipal) -> MeOut:
    return MeOut(
        address=principal.address,
        is_admin=principal.is_admin,
        credential=principal.kind,
        scopes=[scope for scope in Scope if scope in principal.scopes],
        expires_at=principal.expires_at,
    )


@router.post("/logout")
def logout(principal: CurrentPrincipal, context: Context) -> SignOutOut:
    """Sign out the presented session token: it stops working now, everywhere."""
    result = SessionService(context.sessions).sign_out(principal, context.clock())
    return SignOutOut(signed_out=result.signed_out, tokens_valid_after=result.tokens_valid_after)


@router.post("/logout-all")
def logout_all(principal: CurrentPrincipal, context: Context) -> SignOutOut:
    """Sign out every session of the address issued up to now (API keys stay: revoke them
    one by one)."""
    result = SessionService(context.sessions).sign_out_everywhere(principal, context.clock())
    return SignOutOut(signed_out=result.signed_out, tokens_valid_after=result.tokens_valid_after)


@router.post("/keys", status_code=201)
def create_key(body: CreateKey, principal: CurrentPrincipal, context: Context) -> ApiKeyCreated:
    """A new API key, returned once. At most ``max_keys`` per address."""
    issued = ApiKeyService(context.api_keys).create(
        principal.address,
        name=body.name,
        scopes=frozenset(body.scopes),
        expires_in_days=body.expires_in_days,
        now=context.clock(),
    )
    return ApiKeyCreated(**ApiKeyOut.of(issued.record).model_dump(), key=issued.key)


@router.get("/keys")
def list_keys(principal: CurrentPrincipal, context: Context) -> ApiKeysOut:
    keys = ApiKeyService(context.api_keys).list(principal.address)
    return ApiKeysOut(items=[ApiKeyOut.of(key) for key in keys], max_keys=MAX_KEYS_PER_ADDRESS)


@router.delete("/keys/{key_id}", status_code=204)
def revoke_key(key_id: KeyId, principal: CurrentPrincipal, context: Context) -> Response:
    """Revoke a key: it stops working at once."""
    ApiKeyService(context.api_keys).revoke(principal.address, key_id, context.clock())
    return Response(status_code=204)
