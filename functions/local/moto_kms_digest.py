"""Make moto's KMS honour ``MessageType=DIGEST`` in Sign and Verify, as AWS does.

AWS KMS signs a ``DIGEST`` message as the hash it already is; moto 5.2.5 ignores
``MessageType`` and hashes every message again, so a signature over a transaction's
keccak digest comes back over SHA-256(digest): valid, but recovering a stranger's address
(``functions/ports/kms_signer.py`` refuses it). Upstream fix: getmoto/moto PR #10202,
open when this was written; drop this module once a released moto has it.

The patch keeps moto's own request handling (key id, key usage and algorithm checks) and
changes only the hashing: ``KmsResponse.sign``/``verify`` mark a DIGEST request in a
context variable for the duration of the call, and the private key classes then sign or
verify with ``Prehashed`` after checking the digest's length, with AWS's
ValidationException ("Digest is invalid length for algorithm ECDSA_SHA_256."). RSA keys
get the same treatment (KMS accepts DIGEST for them too), with the algorithm's padding.
``RAW`` requests are untouched. Both in-process ``mock_aws`` and ``ThreadedMotoServer``
route through ``KmsResponse``, and a request runs on one thread, so the mark reaches the
key that signs it and no other request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moto.kms.responses import KmsResponse

_MARK = "_xenblocks_digest_patched"
_DIGEST: ContextVar[bool] = ContextVar("moto_kms_digest", default=False)


@contextmanager
def _digest_if_asked(response: KmsResponse) -> Iterator[None]:
    message_type = json.loads(response.body).get("MessageType") or "RAW"
    token = _DIGEST.set(message_type == "DIGEST")
    try:
        yield
    finally:
        _DIGEST.reset(token)


def _prehashed(hash_algorithm: Any, message: bytes, signing_algorithm: str) -> Any:
    """``Prehashed(hash_algorithm)`` for a digest of the right length, else AWS's error."""
    from cryptography.hazmat.primitives.asymmetric import utils
    from moto.kms.exceptions import ValidationException

    if len(message) != hash_algorithm.digest_size:
        raise ValidationException(f"Digest is invalid length for algorithm {signing_algorithm}.")
    return utils.Prehashed(hash_algorithm)


def install() -> None:
    """Patch moto's KMS Sign and Verify to honour ``MessageType=DIGEST`` (idempotent)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec
    from moto.kms.responses import KmsResponse
    from moto.kms.utils import (
        ECDSAPrivateKey,
        RSAPrivateKey,
        SigningAlgorithm,
        validate_signing_algorithm,
    )

    if getattr(KmsResponse, _MARK, False):
        return
    response_sign, response_verify = KmsResponse.sign, KmsResponse.verify

    def sign(self: KmsResponse) -> str:
        with _digest_if_asked(self):
            return response_sign(self)

    def verify(self: KmsResponse) -> str:
        with _digest_if_asked(self):
            return response_verify(self)

    KmsResponse.sign = sign  # type: ignore[method-assign]
    KmsResponse.verify = verify  # type: ignore[method-assign]

    ecdsa_sign, ecdsa_verify = ECDSAPrivateKey.sign, ECDSAPrivateKey.verify
    rsa_sign, rsa_verify = RSAPrivateKey.sign, RSAPrivateKey.verify

    # moto's own (name-mangled) helpers pick the hash, and for RSA the padding.
    def ecdsa_parts(key: Any, message: bytes, algorithm: str) -> Any:
        validate_signing_algorithm(algorithm, key.valid_signing_algorithms)
        hash_algorithm = key._ECDSAPrivateKey__hash_algorithm(algorithm)
        return ec.ECDSA(_prehashed(hash_algorithm, message, algorithm))

    def rsa_parts(key: Any, message: bytes, algorithm: str) -> tuple[Any, Any]:
        validate_signing_algorithm(algorithm, SigningAlgorithm.rsa_signing_algorithms())
        pad, hash_algorithm = key._RSAPrivateKey__padding_and_hash_algorithm(algorithm)
        return pad, _prehashed(hash_algorithm, message, algorithm)

    def sign_ecdsa(self: Any, message: bytes, signing_algorithm: str) -> bytes:
        if not _DIGEST.get():
            return ecdsa_sign(self, message, signing_algorithm)
        signature: bytes = self.private_key.sign(
            message, ecdsa_parts(self, message, signing_algorithm)
        )
        return signature

    def verify_ecdsa(self: Any, message: bytes, signature: bytes, signing_algorithm: str) -> bool:
        if not _DIGEST.get():
            return ecdsa_verify(self, message, signature, signing_algorithm)
        scheme = ecdsa_parts(self, message, signing_algorithm)
        try:
            self.private_key.public_key().verify(signature, message, scheme)
        except InvalidSignature:
            return False
        return True

    def sign_rsa(self: Any, message: bytes, signing_algorithm: str) -> bytes:
        if not _DIGEST.get():
            return rsa_sign(self, message, signing_algorithm)
        pad, prehashed = rsa_parts(self, message, signing_algorithm)
        signature: bytes = self.private_key.sign(message, pad, prehashed)
        return signature

    def verify_rsa(self: Any, message: bytes, signature: bytes, signing_algorithm: str) -> bool:
        if not _DIGEST.get():
            return rsa_verify(self, message, signature, signing_algorithm)
        pad, prehashed = rsa_parts(self, message, signing_algorithm)
        try:
            self.private_key.public_key().verify(signature, message, pad, prehashed)
        except InvalidSignature:
            return False
        return True

    ECDSAPrivateKey.sign = sign_ecdsa  # type: ignore[method-assign]
    ECDSAPrivateKey.verify = verify_ecdsa  # type: ignore[method-assign]
    RSAPrivateKey.sign = sign_rsa  # type: ignore[method-assign]
    RSAPrivateKey.verify = verify_rsa  # type: ignore[method-assign]
    setattr(KmsResponse, _MARK, True)
