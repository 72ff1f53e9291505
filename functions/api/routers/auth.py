"""``/api/auth``: Sign-In with Ethereum (EIP-4361) for a short-lived session token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from functions.api.auth import Context, CurrentPrincipal
from functions.api.schemas import Body
from functions.logic.siwe import NONCE_PATTERN, SignInService
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
    return MeOut(address=principal.address, is_admin=principal.is_admin)
