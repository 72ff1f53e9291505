"""The KMS signer against moto's KMS (made to sign DIGEST messages as AWS does,
``functions/local/moto_kms_digest.py``, installed by tests/conftest.py): transactions that
eth_account recovers to the key's address, keys that cannot sign for Ethereum refused, and
a KMS that signs something other than the digest caught before anything is broadcast."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import pytest
from eth_account import Account

from functions.logic.evm_tx import SECP256K1_ORDER, TokenTransferTx
from functions.ports.kms_signer import KmsSigner, SigningError

REGION = "us-east-1"
TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
RECIPIENT = "0x70997970C51812dC3A010c7D01b50e20d4DC79c8"


@pytest.fixture
def kms() -> Iterator[Any]:
    from moto import mock_aws

    with mock_aws():
        yield boto3.client("kms", region_name=REGION)


def _key(kms: Any, key_spec: str = "ECC_SECG_P256K1", usage: str = "SIGN_VERIFY") -> str:
    key_id: str = kms.create_key(KeySpec=key_spec, KeyUsage=usage)["KeyMetadata"]["KeyId"]
    return key_id


def _tx(nonce: int = 0, units: int = 2_500_000) -> TokenTransferTx:
    return TokenTransferTx(
        chain_id=31337,
        nonce=nonce,
        max_priority_fee_per_gas=10**9,
        max_fee_per_gas=3 * 10**10,
        gas_limit=65_000,
        token=TOKEN,
        recipient=RECIPIENT,
        units=units,
    )


def test_a_signed_transfer_recovers_to_the_keys_address(kms: Any) -> None:
    signer = KmsSigner(kms, _key(kms))
    raw = signer.sign_transaction(_tx())
    assert Account.recover_transaction(raw) == signer.address
    assert raw.startswith(b"\x02")


def test_an_alias_or_arn_names_the_same_key(kms: Any) -> None:
    key_id = _key(kms)
    arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/withdrawals", TargetKeyId=key_id)
    addresses = {KmsSigner(kms, name).address for name in (key_id, arn, "alias/withdrawals")}
    assert len(addresses) == 1


def test_many_signatures_are_all_low_s_and_recoverable(kms: Any) -> None:
    signer = KmsSigner(kms, _key(kms))
    parities = set()
    for nonce in range(50):
        tx = _tx(nonce=nonce, units=nonce + 1)
        y_parity, r, s = signer.sign_digest(tx.signing_hash())
        assert 0 < r < SECP256K1_ORDER
        assert 0 < s <= SECP256K1_ORDER // 2
        parities.add(y_parity)
        raw = tx.signed_raw(y_parity, r, s)
        assert Account.recover_transaction(raw) == signer.address
    # KMS gives no recovery id: both parities occur, so both are worked out (2**-49 to fail).
    assert parities == {0, 1}


@pytest.mark.parametrize(
    ("key_spec", "usage"),
    [
        ("ECC_NIST_P256", "SIGN_VERIFY"),
        ("RSA_2048", "SIGN_VERIFY"),
        ("RSA_2048", "ENCRYPT_DECRYPT"),
    ],
)
def test_a_key_of_another_kind_is_refused(kms: Any, key_spec: str, usage: str) -> None:
    key_id = _key(kms, key_spec, usage)
    signer = KmsSigner(kms, key_id)
    with pytest.raises(SigningError, match=f"KMS key {key_id} is {key_spec}/{usage}"):
        signer.sign_transaction(_tx())


def test_a_symmetric_key_is_refused(kms: Any) -> None:
    key_id = _key(kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    with pytest.raises(SigningError, match=key_id):
        _ = KmsSigner(kms, key_id).address


def test_a_missing_key_is_a_signing_error(kms: Any) -> None:
    with pytest.raises(SigningError, match="GetPublicKey failed for key alias/nothing"):
        _ = KmsSigner(kms, "alias/nothing").address


def test_the_public_key_is_fetched_once(kms: Any) -> None:
    client = _Counting(kms)
    signer = KmsSigner(client, _key(kms))
    for nonce in range(3):
        signer.sign_transaction(_tx(nonce=nonce))
    assert client.public_key_calls == 1


def test_a_kms_that_hashes_the_digest_again_is_caught(kms: Any) -> None:
    """What stock moto (and a KMS sent ``MessageType=RAW``) does: a valid signature over
    SHA-256(digest), which would recover to a stranger's address."""
    signer = KmsSigner(_HashingAgain(kms), _key(kms))
    with pytest.raises(SigningError, match="does not recover its public key"):
        signer.sign_transaction(_tx())


def test_a_digest_of_the_wrong_size_is_refused_before_kms(kms: Any) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        KmsSigner(kms, _key(kms)).sign_digest(b"\x01" * 31)


def test_each_signature_is_logged_without_secrets(
    kms: Any, caplog: pytest.LogCaptureFixture
) -> None:
    key_id = _key(kms)
    tx = _tx()
    KmsSigner(kms, key_id).sign_transaction(tx)
    [record] = [r for r in caplog.records if r.getMessage() == "KMS signed a digest"]
    assert record.key_id == key_id  # type: ignore[attr-defined]
    assert record.digest_prefix == tx.signing_hash()[:8].hex()  # type: ignore[attr-defined]


class _Counting:
    """A real (moto) client that counts GetPublicKey calls."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.public_key_calls = 0

    def get_public_key(self, *, KeyId: str) -> Mapping[str, Any]:  # noqa: N803
        self.public_key_calls += 1
        answer: Mapping[str, Any] = self._client.get_public_key(KeyId=KeyId)
        return answer

    def sign(self, **request: Any) -> Mapping[str, Any]:
        answer: Mapping[str, Any] = self._client.sign(**request)
        return answer


class _HashingAgain(_Counting):
    """A KMS that treats every message as RAW, hashing the digest before signing it."""

    def sign(self, **request: Any) -> Mapping[str, Any]:
        return super().sign(**{**request, "MessageType": "RAW"})
