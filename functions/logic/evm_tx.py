"""ERC-20 withdrawals as EIP-1559 transactions, and the secp256k1 bits a KMS signer needs.

A withdrawal is one type-2 transaction (EIP-1559) calling the token's
``transfer(address,uint256)``: this module builds its signing hash and, given a
signature, its raw bytes for ``eth_sendRawTransaction`` (``ValueTransferTx`` is the same
for the chain's own coin: the sweep tool's gas top-ups). The key lives in AWS KMS, which
speaks ASN.1: a DER ECDSA-Sig-Value for a signature, a DER SubjectPublicKeyInfo for the
public key. Ethereum wants ``(y_parity, r, s)`` with a low ``s`` (EIP-2), so the helpers
below turn the one into the other; none of them does I/O.

The RLP is the ``rlp`` package's and the hash ``eth_utils``' keccak (both web3.py
dependencies); the tests check every byte against eth_account's own signer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import rlp  # type: ignore[import-untyped]  # rlp ships no type information
from coincurve import PublicKey
from eth_utils.crypto import keccak

from protocol.addresses import to_checksum

TYPE_2 = b"\x02"
# keccak("transfer(address,uint256)")[:4]
TRANSFER_SELECTOR = bytes.fromhex("a9059cbb")
SECP256K1_ORDER = 0xFFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFE_BAAEDCE6_AF48A03B_BFD25E8C_D0364141
_HALF_ORDER = SECP256K1_ORDER // 2
# SubjectPublicKeyInfo { AlgorithmIdentifier { id-ecPublicKey, secp256k1 }, BIT STRING of
# the 65-byte uncompressed point }: the only shape KMS returns for an ECC_SECG_P256K1 key.
_SPKI_PREFIX = bytes.fromhex("3056301006072a8648ce3d020106052b8104000a034200")
_SPKI_LENGTH = len(_SPKI_PREFIX) + 65
_UINT256 = 2**256
_UINT64 = 2**64
_ZERO_ADDRESS = "0x" + "00" * 20


def _check_uint(name: str, value: int, bound: int) -> None:
    # bool is an int to Python; as a fee or a nonce it is a bug somewhere upstream.
    if type(value) is not int:
        raise ValueError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value < bound:
        raise ValueError(f"{name} must be in [0, 2**{bound.bit_length() - 1})")


def _checksum(name: str, value: str) -> str:
    try:
        return to_checksum(value)
    except (ValueError, TypeError) as error:  # ProtocolError is a ValueError
        raise ValueError(f"{name} is not an Ethereum address: {error}") from error


class _Eip1559:
    """What every EIP-1559 transaction here does with its nine fields (``_fields``)."""

    def _fields(self) -> list[object]:
        raise NotImplementedError

    def unsigned_payload(self) -> bytes:
        """``0x02 || rlp([chain_id, nonce, tip, max_fee, gas, to, value, data, access])``."""
        return TYPE_2 + _rlp(self._fields())

    def signing_hash(self) -> bytes:
        """The 32-byte digest the sender's key signs."""
        return keccak(self.unsigned_payload())

    def signed_raw(self, y_parity: int, r: int, s: int) -> bytes:
        """The raw transaction (``eth_sendRawTransaction``) carrying signature
        ``(y_parity, r, s)``, which must be low-s (EIP-2) as nodes require."""
        return _signed(self._fields(), y_parity, r, s)


@dataclass(frozen=True)
class TokenTransferTx(_Eip1559):
    """An EIP-1559 transaction that moves ``units`` (the token's smallest unit) of the
    ERC-20 at ``token`` to ``recipient``. Addresses are stored in checksum form."""

    chain_id: int
    nonce: int
    max_priority_fee_per_gas: int
    max_fee_per_gas: int
    gas_limit: int
    token: str
    recipient: str
    units: int

    def __post_init__(self) -> None:
        _check_envelope(self)
        _check_uint("units", self.units, _UINT256)
        if self.units == 0:
            raise ValueError("units must be positive: a transfer of nothing still costs gas")
        object.__setattr__(self, "token", _checksum("token", self.token))
        object.__setattr__(self, "recipient", _recipient(self.recipient))

    def data(self) -> bytes:
        """The ABI call data: ``transfer(recipient, units)``."""
        return transfer_call_data(self.recipient, self.units)

    def _fields(self) -> list[object]:
        return [
            self.chain_id,
            self.nonce,
            self.max_priority_fee_per_gas,
            self.max_fee_per_gas,
            self.gas_limit,
            _address_bytes(self.token),
            0,  # value: no ether moves, only tokens
            self.data(),
            [],  # access list
        ]


@dataclass(frozen=True)
class ValueTransferTx(_Eip1559):
    """An EIP-1559 transaction that moves ``value`` wei of the chain's own coin to
    ``recipient`` (gas money for an address; no call data). The recipient is stored in
    checksum form."""

    chain_id: int
    nonce: int
    max_priority_fee_per_gas: int
    max_fee_per_gas: int
    gas_limit: int
    recipient: str
    value: int

    def __post_init__(self) -> None:
        _check_envelope(self)
        _check_uint("value", self.value, _UINT256)
        if self.value == 0:
            raise ValueError("value must be positive: a transfer of nothing still costs gas")
        object.__setattr__(self, "recipient", _recipient(self.recipient))

    def _fields(self) -> list[object]:
        return [
            self.chain_id,
            self.nonce,
            self.max_priority_fee_per_gas,
            self.max_fee_per_gas,
            self.gas_limit,
            _address_bytes(self.recipient),
            self.value,
            b"",  # no call data
            [],  # access list
        ]


class _Envelope(Protocol):
    """What every EIP-1559 transaction here carries besides its payload."""

    @property
    def chain_id(self) -> int: ...
    @property
    def nonce(self) -> int: ...
    @property
    def max_priority_fee_per_gas(self) -> int: ...
    @property
    def max_fee_per_gas(self) -> int: ...
    @property
    def gas_limit(self) -> int: ...


def _check_envelope(tx: _Envelope) -> None:
    _check_uint("nonce", tx.nonce, _UINT64)
    for name in ("chain_id", "max_priority_fee_per_gas", "max_fee_per_gas", "gas_limit"):
        _check_uint(name, getattr(tx, name), _UINT256)
    # Chain id 0 would be valid on no network: a zero here is a missing setting.
    if tx.chain_id == 0:
        raise ValueError("chain_id must be positive")
    # A node rejects such a transaction outright (EIP-1559); fail before signing it.
    if tx.max_priority_fee_per_gas > tx.max_fee_per_gas:
        raise ValueError("max_priority_fee_per_gas exceeds max_fee_per_gas")


def _recipient(value: str) -> str:
    recipient = _checksum("recipient", value)
    # What is sent to the zero address is burnt (or the call reverts): never meant.
    if recipient == _ZERO_ADDRESS:
        raise ValueError("recipient is the zero address")
    return recipient


def _signed(fields: list[object], y_parity: int, r: int, s: int) -> bytes:
    if type(y_parity) is not int or y_parity not in (0, 1):
        raise ValueError("y_parity must be 0 or 1")
    _check_scalar("r", r)
    _check_scalar("s", s)
    if s > _HALF_ORDER:
        raise ValueError("s must be low (s <= n/2, EIP-2): nodes reject a high s")
    return TYPE_2 + _rlp([*fields, y_parity, r, s])


def transfer_call_data(recipient: str, units: int) -> bytes:
    """The ABI call data of ERC-20 ``transfer(recipient, units)``: the selector, then the
    address and the amount as 32-byte words (also what a gas estimate is asked about)."""
    _check_uint("units", units, _UINT256)
    return (
        TRANSFER_SELECTOR
        + bytes(12)
        + _address_bytes(_checksum("recipient", recipient))
        + units.to_bytes(32, "big")
    )


def _check_scalar(name: str, value: int) -> None:
    if type(value) is not int or not 0 < value < SECP256K1_ORDER:
        raise ValueError(f"{name} is not a secp256k1 signature scalar (0 < {name} < n)")


def _rlp(items: list[object]) -> bytes:
    encoded: bytes = rlp.encode(items)
    return encoded


def _address_bytes(address: str) -> bytes:
    return bytes.fromhex(address[2:])


def tx_hash(raw: bytes) -> str:
    """The transaction hash of a signed raw transaction, as explorers and nodes show it."""
    return "0x" + keccak(raw).hex()


def _der_length(der: bytes, at: int) -> tuple[int, int]:
    # ECDSA over secp256k1 never needs a long-form length (the whole value is < 128 bytes).
    if at >= len(der) or der[at] >= 0x80:
        raise ValueError("DER signature: bad length")
    return der[at], at + 1


def _der_integer(der: bytes, at: int) -> tuple[int, int]:
    if at >= len(der) or der[at] != 0x02:
        raise ValueError("DER signature: expected an INTEGER")
    length, at = _der_length(der, at + 1)
    body = der[at : at + length]
    if length == 0 or len(body) != length or length > 33:
        raise ValueError("DER signature: bad INTEGER length")
    if body[0] & 0x80:
        raise ValueError("DER signature: negative INTEGER")
    if length > 1 and body[0] == 0 and not body[1] & 0x80:
        raise ValueError("DER signature: INTEGER not minimally encoded")
    value = int.from_bytes(body, "big")
    if not 0 < value < SECP256K1_ORDER:
        raise ValueError("DER signature: value out of range for secp256k1")
    return value, at + length


def der_signature_to_rs(der: bytes) -> tuple[int, int]:
    """``(r, s)`` of a DER ECDSA-Sig-Value (what KMS Sign returns), ``s`` made low (EIP-2:
    ``(r, n - s)`` is the same signature, and Ethereum accepts only the smaller ``s``)."""
    if len(der) < 2 or der[0] != 0x30:
        raise ValueError("DER signature: expected a SEQUENCE")
    length, at = _der_length(der, 1)
    if at + length != len(der):
        raise ValueError("DER signature: SEQUENCE length does not match (trailing bytes?)")
    r, at = _der_integer(der, at)
    s, at = _der_integer(der, at)
    if at != len(der):
        raise ValueError("DER signature: trailing bytes inside the SEQUENCE")
    if s > _HALF_ORDER:
        s = SECP256K1_ORDER - s
    return r, s


def public_key_from_spki(der: bytes) -> bytes:
    """The 65-byte uncompressed point of a secp256k1 SubjectPublicKeyInfo (what KMS
    GetPublicKey returns for an ECC_SECG_P256K1 key)."""
    if len(der) != _SPKI_LENGTH or not der.startswith(_SPKI_PREFIX):
        raise ValueError("not a secp256k1 public key (uncompressed SubjectPublicKeyInfo)")
    point = der[len(_SPKI_PREFIX) :]
    try:
        PublicKey(point)  # the prefix says secp256k1; the point must also lie on it
    except ValueError as error:
        raise ValueError("not a secp256k1 public key: the point is not on the curve") from error
    return point


def address_of_public_key(point65: bytes) -> str:
    """The checksum address of an uncompressed secp256k1 point (``04 || X || Y``)."""
    if len(point65) != 65 or point65[0] != 0x04:
        raise ValueError("expected a 65-byte uncompressed secp256k1 point")
    return to_checksum("0x" + keccak(point65[1:])[-20:].hex())


def recovery_id(digest: bytes, r: int, s: int, point65: bytes) -> int:
    """The y-parity (0 or 1) with which ``(r, s)`` over ``digest`` recovers ``point65``.

    KMS returns no recovery id; trying both is also the check that it signed this digest
    with this key, since any other signature recovers some other point."""
    if len(digest) != 32:
        raise ValueError("digest must be 32 bytes")
    _check_scalar("r", r)
    _check_scalar("s", s)
    compact = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    for parity in (0, 1):
        try:
            recovered = PublicKey.from_signature_and_message(
                compact + bytes([parity]), digest, hasher=None
            )
        except ValueError:  # no point for this parity (r is not an x on the curve)
            continue
        if recovered.format(compressed=False) == point65:
            return parity
    raise ValueError("the signature does not recover the expected public key")
