"""moto's KMS with ``functions/local/moto_kms_digest.py`` installed (tests/conftest.py does):
a DIGEST message is signed and verified as the hash it is, RAW is hashed as before, and a
digest of the wrong length is refused the way AWS refuses it."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from functions.local.moto_kms_digest import install

REGION = "us-east-1"
MESSAGE = b"a withdrawal of 2.5 tUSD"
DIGEST = hashlib.sha256(MESSAGE).digest()


@pytest.fixture
def kms() -> Iterator[Any]:
    from moto import mock_aws

    with mock_aws():
        yield boto3.client("kms", region_name=REGION)


def _key(kms: Any, key_spec: str) -> tuple[str, Any]:
    key_id = kms.create_key(KeySpec=key_spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    der = kms.get_public_key(KeyId=key_id)["PublicKey"]
    return key_id, serialization.load_der_public_key(der)


def _sign(kms: Any, key_id: str, message: bytes, message_type: str, algorithm: str) -> bytes:
    signature: bytes = kms.sign(
        KeyId=key_id, Message=message, MessageType=message_type, SigningAlgorithm=algorithm
    )["Signature"]
    return signature


def _verify(
    kms: Any, key_id: str, message: bytes, signature: bytes, message_type: str, algorithm: str
) -> bool:
    valid: bool = kms.verify(
        KeyId=key_id,
        Message=message,
        MessageType=message_type,
        Signature=signature,
        SigningAlgorithm=algorithm,
    )["SignatureValid"]
    return valid


@pytest.mark.parametrize("key_spec", ["ECC_SECG_P256K1", "ECC_NIST_P256"])
def test_a_digest_is_signed_as_it_is(kms: Any, key_spec: str) -> None:
    key_id, public = _key(kms, key_spec)
    signature = _sign(kms, key_id, DIGEST, "DIGEST", "ECDSA_SHA_256")
    # Over the digest itself, as AWS signs it; not over SHA-256(digest), as stock moto does.
    public.verify(signature, DIGEST, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    public.verify(signature, MESSAGE, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        public.verify(signature, DIGEST, ec.ECDSA(hashes.SHA256()))
    assert _verify(kms, key_id, DIGEST, signature, "DIGEST", "ECDSA_SHA_256")
    assert _verify(kms, key_id, MESSAGE, signature, "RAW", "ECDSA_SHA_256")
    assert not _verify(kms, key_id, DIGEST, signature, "RAW", "ECDSA_SHA_256")


def test_raw_is_still_hashed(kms: Any) -> None:
    key_id, public = _key(kms, "ECC_SECG_P256K1")
    for message_type in ("RAW", None):  # RAW is the default
        request = {"MessageType": message_type} if message_type else {}
        signature = kms.sign(
            KeyId=key_id, Message=MESSAGE, SigningAlgorithm="ECDSA_SHA_256", **request
        )["Signature"]
        public.verify(signature, MESSAGE, ec.ECDSA(hashes.SHA256()))
        assert _verify(kms, key_id, DIGEST, signature, "DIGEST", "ECDSA_SHA_256")


@pytest.mark.parametrize("operation", ["sign", "verify"])
@pytest.mark.parametrize("size", [31, 33, 1])
def test_a_digest_of_the_wrong_length_is_refused_as_aws_does(
    kms: Any, operation: str, size: int
) -> None:
    key_id, _ = _key(kms, "ECC_SECG_P256K1")
    request = {"KeyId": key_id, "Message": b"\x01" * size, "MessageType": "DIGEST"}
    if operation == "verify":
        request["Signature"] = _sign(kms, key_id, MESSAGE, "RAW", "ECDSA_SHA_256")
    with pytest.raises(ClientError) as raised:
        getattr(kms, operation)(**request, SigningAlgorithm="ECDSA_SHA_256")
    assert raised.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "Digest is invalid length for algorithm ECDSA_SHA_256.",
    }


def test_moto_still_checks_the_algorithm_of_a_digest(kms: Any) -> None:
    key_id, _ = _key(kms, "ECC_SECG_P256K1")
    with pytest.raises(ClientError, match="ValidationException"):
        _sign(kms, key_id, DIGEST, "DIGEST", "RSASSA_PSS_SHA_256")


@pytest.mark.parametrize(
    ("algorithm", "pad"),
    [
        ("RSASSA_PKCS1_V1_5_SHA_256", padding.PKCS1v15()),
        (
            "RSASSA_PSS_SHA_256",
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO),
        ),
    ],
)
def test_rsa_digests_are_signed_as_they_are(
    kms: Any, algorithm: str, pad: padding.AsymmetricPadding
) -> None:
    key_id, public = _key(kms, "RSA_2048")
    assert isinstance(public, rsa.RSAPublicKey)
    signature = _sign(kms, key_id, DIGEST, "DIGEST", algorithm)
    public.verify(signature, DIGEST, pad, utils.Prehashed(hashes.SHA256()))
    assert _verify(kms, key_id, DIGEST, signature, "DIGEST", algorithm)
    assert _verify(kms, key_id, MESSAGE, signature, "RAW", algorithm)


def test_install_is_idempotent() -> None:
    from moto.kms.responses import KmsResponse
    from moto.kms.utils import ECDSAPrivateKey

    before = (KmsResponse.sign, KmsResponse.verify, ECDSAPrivateKey.sign)
    install()
    install()
    assert (KmsResponse.sign, KmsResponse.verify, ECDSAPrivateKey.sign) == before


def test_stock_moto_still_hashes_a_digest_again(kms: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bug the patch is for (getmoto/moto PR #10202). When a moto upgrade fails this
    test, moto signs digests itself: drop functions/local/moto_kms_digest.py."""
    import functions.local.moto_kms_digest as patch

    monkeypatch.setattr(patch, "_digest_if_asked", lambda response: contextlib.nullcontext())
    key_id, public = _key(kms, "ECC_SECG_P256K1")
    signature = _sign(kms, key_id, DIGEST, "DIGEST", "ECDSA_SHA_256")
    public.verify(signature, DIGEST, ec.ECDSA(hashes.SHA256()))  # over SHA-256(digest)
    with pytest.raises(InvalidSignature):
        public.verify(signature, DIGEST, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
