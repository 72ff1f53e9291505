"""The withdrawal wallet's signer: a secp256k1 key that never leaves AWS KMS.

KMS holds an ``ECC_SECG_P256K1`` / ``SIGN_VERIFY`` key; the platform sends it 32-byte
digests (``MessageType=DIGEST``: KMS must not hash them again) and gets back DER
signatures, which ``functions.logic.evm_tx`` turns into Ethereum's ``(y_parity, r, s)``.
KMS gives no recovery id, so each signature is recovered against the key's public key;
one that recovers neither way was not made over this digest by this key, and is refused
rather than broadcast.

The boto3 client is passed in (built by the caller, never at import): anything with
boto3's ``get_public_key`` and ``sign`` will do, such as moto's in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from functions.logic.evm_tx import (
    TokenTransferTx,
    address_of_public_key,
    der_signature_to_rs,
    public_key_from_spki,
    recovery_id,
)
from functions.observability import logger

KEY_SPEC = "ECC_SECG_P256K1"
KEY_USAGE = "SIGN_VERIFY"
SIGNING_ALGORITHM = "ECDSA_SHA_256"
_T = TypeVar("_T")


class SigningError(RuntimeError):
    """The KMS key cannot sign Ethereum transactions, or KMS failed or misbehaved."""


class KmsClient(Protocol):
    """The two calls of boto3's KMS client used here (boto3-stubs[kms] is not installed)."""

    def get_public_key(self, *, KeyId: str) -> Mapping[str, Any]: ...  # noqa: N803

    def sign(
        self,
        *,
        KeyId: str,  # noqa: N803
        Message: bytes,  # noqa: N803
        MessageType: str,  # noqa: N803
        SigningAlgorithm: str,  # noqa: N803
    ) -> Mapping[str, Any]: ...


class KmsSigner:
    """Signs Ethereum transactions with the KMS key ``key_id`` (id, ARN or alias)."""

    def __init__(self, client: KmsClient, key_id: str) -> None:
        self._client = client
        self._key_id = key_id
        self._point: bytes | None = None
        self._address: str | None = None

    @property
    def key_id(self) -> str:
        return self._key_id

    def public_key(self) -> bytes:
        """The key's 65-byte uncompressed point, fetched once: a key's public half never
        changes (KMS does not rotate asymmetric keys)."""
        if self._point is None:
            answer = self._call(
                "GetPublicKey", lambda: self._client.get_public_key(KeyId=self._key_id)
            )
            self._point = self._checked_point(answer)
        return self._point

    @property
    def address(self) -> str:
        """The checksum address that the key's signatures send from."""
        if self._address is None:
            self._address = address_of_public_key(self.public_key())
        return self._address

    def sign_digest(self, digest: bytes) -> tuple[int, int, int]:
        """``(y_parity, r, s)``, low-s, of the key's signature over the 32-byte ``digest``."""
        if len(digest) != 32:
            raise ValueError("digest must be 32 bytes")
        point = self.public_key()
        answer = self._call(
            "Sign",
            lambda: self._client.sign(
                KeyId=self._key_id,
                Message=digest,
                MessageType="DIGEST",
                SigningAlgorithm=SIGNING_ALGORITHM,
            ),
        )
        try:
            r, s = der_signature_to_rs(answer["Signature"])
        except (KeyError, TypeError, ValueError) as error:
            raise SigningError(f"KMS key {self._key_id} returned no usable signature") from error
        try:
            parity = recovery_id(digest, r, s, point)
        except ValueError as error:
            # Typically a KMS (or a stand-in) that hashed the digest again: the signature is
            # valid, but over some other message, and would send from a stranger's address.
            raise SigningError(
                f"the signature from KMS key {self._key_id} does not recover its public key "
                "over this digest"
            ) from error
        logger.info(
            "KMS signed a digest",
            extra={"key_id": self._key_id, "digest_prefix": digest[:8].hex()},
        )
        return parity, r, s

    def sign_transaction(self, tx: TokenTransferTx) -> bytes:
        """The signed raw transaction, ready for ``eth_sendRawTransaction``."""
        return tx.signed_raw(*self.sign_digest(tx.signing_hash()))

    def _checked_point(self, answer: Mapping[str, Any]) -> bytes:
        # CustomerMasterKeySpec is KeySpec's deprecated name, which AWS still returns too;
        # moto (5.2.5) returns only it.
        spec = answer.get("KeySpec", answer.get("CustomerMasterKeySpec"))
        usage = answer.get("KeyUsage")
        if spec != KEY_SPEC or usage != KEY_USAGE:
            raise SigningError(
                f"KMS key {self._key_id} is {spec}/{usage}; Ethereum signing needs "
                f"{KEY_SPEC}/{KEY_USAGE}"
            )
        try:
            return public_key_from_spki(answer["PublicKey"])
        except (KeyError, TypeError, ValueError) as error:
            raise SigningError(f"KMS key {self._key_id}: {error}") from error

    def _call(self, operation: str, call: Callable[[], _T]) -> _T:
        """Run one KMS call; its failures (denied, disabled key, throttled, network) become
        SigningError, the one error a caller of this port handles."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return call()
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            raise SigningError(f"KMS {operation} failed for key {self._key_id}: {code}") from error
        except BotoCoreError as error:
            raise SigningError(
                f"KMS {operation} failed for key {self._key_id}: {type(error).__name__}"
            ) from error
