"""ERC-20 withdrawal transactions (EIP-1559) and the DER/SPKI parsing a KMS signer needs:
every signed byte checked against eth_account's own signer, the parsers against hand-made
encodings, good and bad."""

from __future__ import annotations

import random

import pytest
from coincurve import PrivateKey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from eth_account import Account
from eth_utils.crypto import keccak

from functions.logic.evm_tx import (
    SECP256K1_ORDER,
    TokenTransferTx,
    ValueTransferTx,
    address_of_public_key,
    der_signature_to_rs,
    public_key_from_spki,
    recovery_id,
    transfer_call_data,
    tx_hash,
)

N = SECP256K1_ORDER
TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"  # hardhat's first deployment
RECIPIENT = "0x70997970C51812dC3A010c7D01b50e20d4DC79c8"  # hardhat's second account


def _tx(**changes: object) -> TokenTransferTx:
    fields: dict[str, object] = {
        "chain_id": 31337,
        "nonce": 7,
        "max_priority_fee_per_gas": 1_000_000_000,
        "max_fee_per_gas": 30_000_000_000,
        "gas_limit": 65_000,
        "token": TOKEN,
        "recipient": RECIPIENT,
        "units": 1_234_567,
    }
    fields.update(changes)
    return TokenTransferTx(**fields)  # type: ignore[arg-type]


def _eth_account_dict(tx: TokenTransferTx) -> dict[str, object]:
    return {
        "type": 2,
        "chainId": tx.chain_id,
        "nonce": tx.nonce,
        "maxPriorityFeePerGas": tx.max_priority_fee_per_gas,
        "maxFeePerGas": tx.max_fee_per_gas,
        "gas": tx.gas_limit,
        "to": tx.token,
        "value": 0,
        "data": "0x" + tx.data().hex(),
        "accessList": [],
    }


def _random_tx(rng: random.Random) -> TokenTransferTx:
    max_fee = rng.choice([1, 10**9, rng.getrandbits(80), 2**256 - 1])
    return TokenTransferTx(
        chain_id=rng.choice([1, 137, 31337, 2**32 + 5]),
        nonce=rng.choice([0, 1, rng.getrandbits(20), 2**64 - 1]),
        max_priority_fee_per_gas=rng.randrange(0, max_fee + 1),
        max_fee_per_gas=max_fee,
        gas_limit=rng.choice([21_000, 65_000, rng.getrandbits(40)]),
        token="0x" + rng.randbytes(20).hex(),
        recipient="0x" + rng.randbytes(20).hex(),
        units=rng.choice([1, 10**6, rng.getrandbits(128), 2**256 - 1]),
    )


@pytest.mark.parametrize("seed", range(25))
def test_signed_bytes_are_eth_accounts(seed: int) -> None:
    rng = random.Random(seed)
    key = rng.randrange(1, N).to_bytes(32, "big")
    tx = _random_tx(rng)

    # coincurve's recoverable signature: r || s || v, low-s, RFC 6979 (as eth_account's).
    signature = PrivateKey(key).sign_recoverable(tx.signing_hash(), hasher=None)
    r, s, v = (
        int.from_bytes(signature[:32], "big"),
        int.from_bytes(signature[32:64], "big"),
        signature[64],
    )
    raw = tx.signed_raw(v, r, s)

    expected = Account.sign_transaction(_eth_account_dict(tx), key)
    assert raw == bytes(expected.raw_transaction)
    assert tx_hash(raw) == "0x" + bytes(expected.hash).hex()
    assert Account.recover_transaction(raw) == Account.from_key(key).address


def test_call_data_is_transfer_recipient_units() -> None:
    # transfer(address,uint256): selector, the address left-padded, the amount as a word.
    assert _tx(units=5).data().hex() == (
        "a9059cbb"
        + "000000000000000000000000" + "70997970c51812dc3a010c7d01b50e20d4dc79c8"
        + "00" * 31 + "05"
    )  # fmt: skip


def test_call_data_alone_is_the_same_and_checks_its_inputs() -> None:
    assert transfer_call_data(RECIPIENT.lower(), 5) == _tx(units=5).data()
    with pytest.raises(ValueError, match="recipient"):
        transfer_call_data("0xabc", 5)
    with pytest.raises(ValueError, match="units"):
        transfer_call_data(RECIPIENT, 2**256)


def test_unsigned_payload_is_type_2_rlp() -> None:
    tx = _tx(chain_id=1, nonce=0, max_priority_fee_per_gas=0, max_fee_per_gas=1, gas_limit=0)
    payload = tx.unsigned_payload()
    data = tx.data()  # 68 bytes: an RLP string with a one-byte length (0xb8 0x44)
    body = (
        b"\x01\x80\x80\x01\x80"  # chain id 1, nonce 0, tip 0, max fee 1, gas 0
        + b"\x94" + bytes.fromhex(TOKEN[2:])
        + b"\x80"  # value 0
        + b"\xb8\x44" + data
        + b"\xc0"  # empty access list
    )  # fmt: skip
    assert payload == b"\x02" + bytes([0xF8, len(body)]) + body
    assert tx.signing_hash() == keccak(payload)


def test_addresses_are_stored_in_checksum_form() -> None:
    tx = _tx(token=TOKEN.lower(), recipient=RECIPIENT.upper().replace("0X", "0x"))
    assert (tx.token, tx.recipient) == (TOKEN, RECIPIENT)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"nonce": -1}, "nonce"),
        ({"nonce": 2**64}, "nonce"),
        ({"chain_id": 0}, "chain_id"),
        ({"chain_id": 2**256}, "chain_id"),
        ({"max_fee_per_gas": -1}, "max_fee_per_gas"),
        ({"gas_limit": 2**256}, "gas_limit"),
        ({"gas_limit": 1.5}, "gas_limit"),
        ({"nonce": True}, "nonce"),
        ({"units": 0}, "units"),
        ({"units": 2**256}, "units"),
        ({"max_priority_fee_per_gas": 31_000_000_000}, "exceeds max_fee_per_gas"),
        ({"token": "0x123"}, "token is not an Ethereum address"),
        ({"token": "5FbDB2315678afecb367f032d93F642f64180aa3"}, "token"),
        # A mixed-case address is a checksum; this one has a letter's case flipped.
        ({"recipient": "0x70997970c51812dC3A010c7D01b50e20d4DC79c8"}, "recipient"),
        ({"recipient": "0x" + "00" * 20}, "zero address"),
    ],
)
def test_bad_fields_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _tx(**changes)


@pytest.mark.parametrize(
    ("y_parity", "r", "s"),
    [(2, 1, 1), (True, 1, 1), (0, 0, 1), (0, N, 1), (0, 1, 0), (0, 1, N // 2 + 1)],
)
def test_signed_raw_refuses_an_impossible_or_high_s_signature(
    y_parity: int, r: int, s: int
) -> None:
    with pytest.raises(ValueError, match=r"y_parity|secp256k1|low"):
        _tx().signed_raw(y_parity, r, s)


def test_tx_hash_is_lowercase_keccak() -> None:
    assert tx_hash(b"") == "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


# -- DER signatures -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(10))
def test_der_round_trip_and_low_s(seed: int) -> None:
    rng = random.Random(seed)
    r, s = rng.randrange(1, N), rng.randrange(1, N // 2 + 1)
    assert der_signature_to_rs(encode_dss_signature(r, s)) == (r, s)
    # (r, n - s) is the same signature; Ethereum takes only the low s (EIP-2).
    assert der_signature_to_rs(encode_dss_signature(r, N - s)) == (r, s)


def test_der_small_values_and_the_half_order_boundary() -> None:
    assert der_signature_to_rs(bytes.fromhex("3006020101020101")) == (1, 1)
    assert der_signature_to_rs(encode_dss_signature(1, N // 2)) == (1, N // 2)
    assert der_signature_to_rs(encode_dss_signature(1, N // 2 + 1)) == (1, N - N // 2 - 1)


GOOD = bytes.fromhex("3006020101020102")


@pytest.mark.parametrize(
    "der",
    [
        b"",
        GOOD + b"\x00",  # trailing byte after the SEQUENCE
        bytes.fromhex("3007020101020102") + b"\x00",  # trailing byte inside it
        bytes.fromhex("3106020101020102"),  # a SET, not a SEQUENCE
        bytes.fromhex("3006030101020102"),  # BIT STRING, not INTEGER
        bytes.fromhex("3006020101030102"),
        bytes.fromhex("3005020101020102"),  # SEQUENCE length too short
        bytes.fromhex("300602010102"),  # truncated
        bytes.fromhex("3008020101020100"),  # SEQUENCE length past the end
        bytes.fromhex("3006020100020102"),  # r = 0
        bytes.fromhex("3006020181020102"),  # negative r
        bytes.fromhex("300702020001020102"),  # r with a needless leading zero
        bytes.fromhex("30050200020101"),  # empty INTEGER
        bytes.fromhex("308106020101020102"),  # long-form length
        encode_dss_signature(N, 1),  # r not below the order
        encode_dss_signature(1, N),
        encode_dss_signature(2**264 - 1, 1),  # 34-byte INTEGER
    ],
)
def test_bad_der_is_refused(der: bytes) -> None:
    with pytest.raises(ValueError, match="DER signature"):
        der_signature_to_rs(der)


# -- public keys ----------------------------------------------------------------------------


def _spki(curve: ec.EllipticCurve) -> tuple[bytes, bytes]:
    public = ec.generate_private_key(curve).public_key()
    spki = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    point = public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return spki, point


def test_spki_of_a_secp256k1_key_gives_its_point() -> None:
    spki, point = _spki(ec.SECP256K1())
    assert len(spki) == 88
    assert public_key_from_spki(spki) == point


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1()])
def test_spki_of_another_curve_is_refused(curve: ec.EllipticCurve) -> None:
    spki, _ = _spki(curve)
    with pytest.raises(ValueError, match="not a secp256k1 public key"):
        public_key_from_spki(spki)


def test_spki_of_the_wrong_length_shape_or_off_the_curve_is_refused() -> None:
    spki, point = _spki(ec.SECP256K1())
    compressed = PrivateKey().public_key.format(compressed=True)
    # The same key type with a compressed point: valid DER, but not what KMS returns.
    compressed_spki = bytes.fromhex("3036301006072a8648ce3d020106052b8104000a032200") + compressed
    for bad in (
        spki[:-1],
        spki + b"\x00",
        spki[:23] + b"\x04" + b"\x01" * 64,  # not a point on the curve
        spki[:23] + b"\x05" + point[1:],  # not an uncompressed point
        compressed_spki,
        point,
    ):
        with pytest.raises(ValueError, match="not a secp256k1 public key"):
            public_key_from_spki(bad)


def test_address_of_a_public_key_is_eth_accounts() -> None:
    key = PrivateKey()
    point = key.public_key.format(compressed=False)
    assert address_of_public_key(point) == Account.from_key(key.secret).address
    with pytest.raises(ValueError, match="uncompressed"):
        address_of_public_key(key.public_key.format(compressed=True))


@pytest.mark.parametrize("seed", range(10))
def test_recovery_id_finds_the_parity_and_refuses_another_digest(seed: int) -> None:
    rng = random.Random(seed)
    key = PrivateKey(rng.randrange(1, N).to_bytes(32, "big"))
    digest = rng.randbytes(32)
    point = key.public_key.format(compressed=False)
    signature = key.sign_recoverable(digest, hasher=None)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")
    assert recovery_id(digest, r, s, point) == signature[64]
    with pytest.raises(ValueError, match="does not recover"):
        recovery_id(keccak(digest), r, s, point)
    with pytest.raises(ValueError, match="does not recover"):
        recovery_id(digest, r, s, PrivateKey().public_key.format(compressed=False))


# -- plain value transfers (the sweep's gas top-ups) ----------------------------------------


def _value_tx(**changes: object) -> ValueTransferTx:
    fields: dict[str, object] = {
        "chain_id": 31337,
        "nonce": 3,
        "max_priority_fee_per_gas": 1_000_000_000,
        "max_fee_per_gas": 30_000_000_000,
        "gas_limit": 21_000,
        "recipient": RECIPIENT,
        "value": 10**15,
    }
    fields.update(changes)
    return ValueTransferTx(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(15))
def test_value_transfer_signed_bytes_are_eth_accounts(seed: int) -> None:
    rng = random.Random(seed)
    key = rng.randrange(1, N).to_bytes(32, "big")
    max_fee = rng.choice([1, 10**9, rng.getrandbits(80)])
    tx = ValueTransferTx(
        chain_id=rng.choice([1, 137, 31337, 2**32 + 5]),
        nonce=rng.choice([0, 1, rng.getrandbits(20), 2**64 - 1]),
        max_priority_fee_per_gas=rng.randrange(0, max_fee + 1),
        max_fee_per_gas=max_fee,
        gas_limit=rng.choice([21_000, rng.getrandbits(40)]),
        recipient="0x" + rng.randbytes(20).hex(),
        value=rng.choice([1, 10**18, rng.getrandbits(128), 2**256 - 1]),
    )
    signature = PrivateKey(key).sign_recoverable(tx.signing_hash(), hasher=None)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")
    raw = tx.signed_raw(signature[64], r, s)

    expected = Account.sign_transaction(
        {
            "type": 2,
            "chainId": tx.chain_id,
            "nonce": tx.nonce,
            "maxPriorityFeePerGas": tx.max_priority_fee_per_gas,
            "maxFeePerGas": tx.max_fee_per_gas,
            "gas": tx.gas_limit,
            "to": tx.recipient,
            "value": tx.value,
            "data": "0x",
            "accessList": [],
        },
        key,
    )
    assert raw == bytes(expected.raw_transaction)
    assert tx_hash(raw) == "0x" + bytes(expected.hash).hex()


def test_value_transfer_payload_is_type_2_rlp_without_data() -> None:
    tx = _value_tx(chain_id=1, nonce=0, max_priority_fee_per_gas=0, max_fee_per_gas=1, value=1)
    body = (
        b"\x01\x80\x80\x01\x82\x52\x08"  # chain id 1, nonce 0, tip 0, max fee 1, gas 21000
        + b"\x94" + bytes.fromhex(RECIPIENT[2:])
        + b"\x01"  # value 1
        + b"\x80"  # no data
        + b"\xc0"  # empty access list
    )  # fmt: skip
    assert tx.unsigned_payload() == b"\x02" + bytes([0xC0 + len(body)]) + body
    assert _value_tx(recipient=RECIPIENT.lower()).recipient == RECIPIENT


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"nonce": 2**64}, "nonce"),
        ({"chain_id": 0}, "chain_id"),
        ({"gas_limit": 1.5}, "gas_limit"),
        ({"value": 0}, "value must be positive"),
        ({"value": 2**256}, "value"),
        ({"value": True}, "value"),
        ({"max_priority_fee_per_gas": 31_000_000_000}, "exceeds max_fee_per_gas"),
        ({"recipient": "0x70997970c51812dC3A010c7D01b50e20d4DC79c8"}, "recipient"),
        ({"recipient": "0x" + "00" * 20}, "zero address"),
    ],
)
def test_value_transfer_bad_fields_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _value_tx(**changes)


def test_value_transfer_refuses_a_high_s() -> None:
    with pytest.raises(ValueError, match="low"):
        _value_tx().signed_raw(0, 1, N // 2 + 1)
