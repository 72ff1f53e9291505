"""Sign-In with Ethereum (EIP-4361): a nonce and message to sign, then a session token.

The message is never stored: it is rebuilt from the stored nonce record and the settings,
so what the server checks is byte for byte what it handed out. A nonce is consumed only
after the signature proves the address, with one conditional delete, so a replay or the
loser of a race is refused and a forged attempt leaves the nonce to its owner.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime

from functions.dal.nonces import NonceRepository
from functions.errors import InvalidInput, Unauthorized
from functions.logic.tokens import issue_token
from functions.models.auth import Nonce
from functions.observability import logger
from functions.settings import Settings
from protocol.addresses import to_checksum
from protocol.errors import ProtocolError
from protocol.jsonlimits import restore_recursion_limit

# EIP-4361: a nonce is at least 8 alphanumeric characters. 24 from 62 is ~143 bits.
NONCE_ALPHABET = string.ascii_letters + string.digits
NONCE_LENGTH = 24
NONCE_PATTERN = r"^[A-Za-z0-9]{8,64}$"
_NONCE = re.compile(NONCE_PATTERN)
# A recoverable secp256k1 signature: r, s and v, 65 bytes as 0x-prefixed hex.
_SIGNATURE = re.compile(r"(0x)?([0-9a-fA-F]{130})")

SIWE_VERSION = "1"
STATEMENT = "Sign in to the XenBlocks hashpower platform."

_NONCE_REFUSED = "sign-in nonce is unknown, expired or already used"
_SIGNATURE_REFUSED = "the signature does not match this address's sign-in message"


@dataclass(frozen=True)
class Challenge:
    """A stored nonce and the EIP-4361 message built from it."""

    nonce: Nonce
    message: str


def new_nonce() -> str:
    return "".join(secrets.choice(NONCE_ALPHABET) for _ in range(NONCE_LENGTH))


def iso_utc(epoch: int) -> str:
    """RFC 3339 / ISO 8601 in UTC, second precision: ``2025-11-21T04:40:00Z``."""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_message(
    *,
    domain: str,
    address: str,
    uri: str,
    chain_id: int,
    nonce: str,
    issued_at: int,
    expires_at: int,
    statement: str = STATEMENT,
) -> str:
    """The EIP-4361 message, line for line as the spec's ABNF lays it out."""
    return (
        f"{domain} wants you to sign in with your Ethereum account:\n"
        f"{address}\n"
        "\n"
        f"{statement}\n"
        "\n"
        f"URI: {uri}\n"
        f"Version: {SIWE_VERSION}\n"
        f"Chain ID: {chain_id}\n"
        f"Nonce: {nonce}\n"
        f"Issued At: {iso_utc(issued_at)}\n"
        f"Expiration Time: {iso_utc(expires_at)}"
    )


def message_for(record: Nonce, settings: Settings) -> str:
    """The message a stored nonce stands for (deterministic: the same record, the same text)."""
    return build_message(
        domain=settings.siwe_domain,
        address=record.address,
        uri=settings.siwe_uri,
        chain_id=settings.chain_id,
        nonce=record.nonce,
        issued_at=record.issued_at,
        expires_at=record.expires_at,
    )


def recover_signer(message: str, signature: str) -> str | None:
    """The checksum address that signed ``message`` (EIP-191 personal_sign), or None."""
    match = _SIGNATURE.fullmatch(signature)
    if match is None:
        return None
    # Imported here, not at the top: eth_account (and py_ecc under it) takes half a second
    # to import, and only a sign-in needs it, not every cold start of the API.
    from eth_account import Account
    from eth_account.messages import encode_defunct
    from eth_keys.exceptions import BadSignature

    restore_recursion_limit()  # eth_account's py_ecc raised it: see protocol.jsonlimits
    try:
        signer: str = Account.recover_message(
            encode_defunct(text=message), signature=bytes.fromhex(match.group(2))
        )
    except (BadSignature, ValueError):
        return None
    return signer


def _checksum(address: str) -> str:
    try:
        return to_checksum(address)
    except ProtocolError as error:
        raise InvalidInput(f"address: {error}") from None


class SignInService:
    def __init__(self, nonces: NonceRepository, settings: Settings) -> None:
        self._nonces = nonces
        self._settings = settings

    def _secret(self) -> str:
        secret = self._settings.jwt_secret
        if secret is None:
            raise Unauthorized("sign-in is not configured on this deployment")
        return secret.get_secret_value()

    def issue_nonce(self, address: str, now: int) -> Challenge:
        """A fresh nonce for ``address`` and the message its wallet should sign."""
        self._secret()  # no point handing out messages nobody can exchange for a token
        record = Nonce(
            nonce=new_nonce(),
            address=_checksum(address),
            issued_at=now,
            expires_at=now + self._settings.nonce_ttl_seconds,
        )
        self._nonces.issue(record)
        return Challenge(nonce=record, message=message_for(record, self._settings))

    def verify(self, address: str, signature: str, now: int, nonce: str | None = None) -> str:
        """A session token for ``address`` if ``signature`` signs its outstanding message.

        Without ``nonce`` the address's latest outstanding one is used. Every refusal is an
        Unauthorized with a reason, logged (never with the signature).
        """
        secret = self._secret()
        address = _checksum(address)
        record = self._outstanding(address, nonce, now)
        message = message_for(record, self._settings)
        signer = recover_signer(message, signature)
        if signer is None:
            raise self._refuse(address, "signature is malformed", _SIGNATURE_REFUSED)
        if signer != address:
            raise self._refuse(address, "signed by another address", _SIGNATURE_REFUSED)
        try:
            self._nonces.consume(record.nonce, address, now)
        except Unauthorized as error:
            # A replay or the loser of a race with the same signature.
            raise self._refuse(address, "nonce already consumed", error.message) from None
        return issue_token(address, secret=secret, now=now, ttl=self._settings.jwt_ttl_seconds)

    def _outstanding(self, address: str, nonce: str | None, now: int) -> Nonce:
        if nonce is None:
            latest = self._nonces.latest(address, now)
            if latest is None:
                raise self._refuse(address, "no outstanding nonce", _NONCE_REFUSED)
            nonce = latest.nonce
        elif not _NONCE.fullmatch(nonce):
            raise self._refuse(address, "malformed nonce", _NONCE_REFUSED)
        record = self._nonces.get(nonce, now)
        if record is None:
            raise self._refuse(address, "nonce unknown, expired or used", _NONCE_REFUSED)
        if record.address != address:
            raise self._refuse(address, "nonce issued to another address", _NONCE_REFUSED)
        return record

    @staticmethod
    def _refuse(address: str, reason: str, message: str) -> Unauthorized:
        logger.warning("sign-in refused", extra={"address": address, "reason": reason})
        return Unauthorized(message)
