"""BIP32 extended keys on secp256k1: deposit addresses from one extended public key.

The platform holds only the **extended public key** (``deposit_xpub``) of the deposit
wallet's external chain, ``m/44'/60'/0'/0`` in the usual Ethereum layout: account number
``i`` deposits to its non-hardened child ``i``, whose private key only the holder of the
seed (offline) can derive (a wallet at ``m/44'/60'/0'/0/i``). Public derivation (CKDpub)
is ``K_i = K + IL·G``, ``c_i = IR`` with ``IL‖IR = HMAC-SHA512(c, serP(K)‖ser32(i))``.

The curve arithmetic is coincurve's (libsecp256k1, Bitcoin Core's library: one wheel);
the BIP32 framing around it (HMAC, Base58Check, the 78-byte serialization) is these few
lines, checked against BIP32's published test vectors. bip-utils would do the same but
brings eight packages (sr25519, ed25519-blake2b, TON…) into the API's Lambda for it.

The private side (seed → master → hardened children) is here for the local stack, which
makes its deposit wallet from a random seed in its state directory, and for tests.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from coincurve import PrivateKey, PublicKey
from eth_utils.crypto import keccak

from protocol.addresses import to_checksum

HARDENED = 0x8000_0000
_XPUB = bytes.fromhex("0488b21e")
_XPRV = bytes.fromhex("0488ade4")
_ORDER = 0xFFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFE_BAAEDCE6_AF48A03B_BFD25E8C_D0364141
_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
# The Ethereum deposit wallet's external chain (BIP44, coin type 60, account 0).
DEPOSIT_CHAIN_PATH = "m/44'/60'/0'/0"


class InvalidKey(ValueError):
    """Not a usable extended key (bad encoding, checksum, version or point)."""


def b58check_encode(payload: bytes) -> str:
    data = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    number = int.from_bytes(data, "big")
    text = ""
    while number:
        number, digit = divmod(number, 58)
        text = _ALPHABET[digit] + text
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + text


def b58check_decode(text: str) -> bytes:
    number = 0
    for char in text:
        digit = _ALPHABET.find(char)
        if digit < 0:
            raise InvalidKey("not Base58")
        number = number * 58 + digit
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    data = b"\0" * zeros + body
    payload, check = data[:-4], data[-4:]
    if len(data) < 5 or hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] != check:
        raise InvalidKey("bad Base58Check checksum")
    return payload


def _hmac(chain_code: bytes, data: bytes) -> tuple[bytes, bytes]:
    digest = hmac.new(chain_code, data, hashlib.sha512).digest()
    return digest[:32], digest[32:]


def _fingerprint(public_key: bytes) -> bytes:
    return hashlib.new("ripemd160", hashlib.sha256(public_key).digest()).digest()[:4]


def eth_address(public_key: bytes) -> str:
    """The EIP-55 address of a (compressed or not) secp256k1 public key."""
    point = PublicKey(public_key).format(compressed=False)[1:]
    return to_checksum("0x" + keccak(point)[-20:].hex())


@dataclass(frozen=True)
class ExtendedPublicKey:
    key: bytes  # the compressed point, 33 bytes
    chain_code: bytes
    depth: int = 0
    parent_fingerprint: bytes = b"\0\0\0\0"
    child_number: int = 0

    @classmethod
    def parse(cls, text: str) -> ExtendedPublicKey:
        """An ``xpub…`` string, checked: version, length, checksum, a point on the curve."""
        data = b58check_decode(text.strip())
        if len(data) != 78 or data[:4] != _XPUB:
            raise InvalidKey("not an xpub (78 bytes, version 0488b21e)")
        key = data[45:78]
        try:
            PublicKey(key)
        except ValueError as error:
            raise InvalidKey("the key is not a point on secp256k1") from error
        if key[0] not in (2, 3):
            raise InvalidKey("the key is not a compressed point")
        return cls(key, data[13:45], data[4], data[5:9], int.from_bytes(data[9:13], "big"))

    def serialize(self) -> str:
        return b58check_encode(
            _XPUB
            + bytes([self.depth])
            + self.parent_fingerprint
            + self.child_number.to_bytes(4, "big")
            + self.chain_code
            + self.key
        )

    def child(self, index: int) -> ExtendedPublicKey:
        """CKDpub: the non-hardened child ``index`` (0 ≤ index < 2³¹)."""
        if not 0 <= index < HARDENED:
            raise ValueError("public derivation reaches non-hardened children only")
        tweak, chain_code = _hmac(self.chain_code, self.key + index.to_bytes(4, "big"))
        if int.from_bytes(tweak, "big") >= _ORDER:
            raise InvalidKey(f"child {index} is invalid (BIP32: use the next index)")
        point = PublicKey(self.key).add(tweak)  # K + IL·G; coincurve refuses infinity
        return ExtendedPublicKey(
            point.format(compressed=True),
            chain_code,
            self.depth + 1,
            _fingerprint(self.key),
            index,
        )

    def address(self) -> str:
        return eth_address(self.key)


@dataclass(frozen=True)
class ExtendedPrivateKey:
    secret: bytes  # 32 bytes
    chain_code: bytes
    depth: int = 0
    parent_fingerprint: bytes = b"\0\0\0\0"
    child_number: int = 0

    @classmethod
    def from_seed(cls, seed: bytes) -> ExtendedPrivateKey:
        if not 16 <= len(seed) <= 64:
            raise ValueError("a BIP32 seed is 16 to 64 bytes")
        secret, chain_code = _hmac(b"Bitcoin seed", seed)
        if not 0 < int.from_bytes(secret, "big") < _ORDER:
            raise InvalidKey("this seed gives no valid master key")
        return cls(secret, chain_code)

    @property
    def public_key(self) -> bytes:
        return PrivateKey(self.secret).public_key.format(compressed=True)

    def child(self, index: int) -> ExtendedPrivateKey:
        """CKDpriv: child ``index`` (hardened from 2³¹)."""
        if not 0 <= index < 2**32:
            raise ValueError("a child index is 0 to 2³²−1")
        if index >= HARDENED:
            data = b"\0" + self.secret + index.to_bytes(4, "big")
        else:
            data = self.public_key + index.to_bytes(4, "big")
        tweak, chain_code = _hmac(self.chain_code, data)
        number = (int.from_bytes(tweak, "big") + int.from_bytes(self.secret, "big")) % _ORDER
        if int.from_bytes(tweak, "big") >= _ORDER or number == 0:
            raise InvalidKey(f"child {index} is invalid (BIP32: use the next index)")
        return ExtendedPrivateKey(
            number.to_bytes(32, "big"),
            chain_code,
            self.depth + 1,
            _fingerprint(self.public_key),
            index,
        )

    def derive(self, path: str) -> ExtendedPrivateKey:
        """``m/44'/60'/0'/0``-style paths (``'`` or ``h`` marks a hardened step)."""
        parts = path.split("/")
        if parts[0] != "m":
            raise ValueError("a path starts at m")
        key = self
        for part in parts[1:]:
            hardened = part.endswith(("'", "h", "H"))
            number = int(part.rstrip("'hH"))
            key = key.child(number + HARDENED if hardened else number)
        return key

    def neuter(self) -> ExtendedPublicKey:
        return ExtendedPublicKey(
            self.public_key,
            self.chain_code,
            self.depth,
            self.parent_fingerprint,
            self.child_number,
        )

    def serialize(self) -> str:
        return b58check_encode(
            _XPRV
            + bytes([self.depth])
            + self.parent_fingerprint
            + self.child_number.to_bytes(4, "big")
            + self.chain_code
            + b"\0"
            + self.secret
        )


def deposit_address(xpub: str | ExtendedPublicKey, index: int) -> str:
    """The EIP-55 deposit address of account number ``index`` under ``xpub``."""
    parent = ExtendedPublicKey.parse(xpub) if isinstance(xpub, str) else xpub
    return parent.child(index).address()


def deposit_xpub_from_seed(seed: bytes) -> str:
    """The deposit wallet's extended public key (``DEPOSIT_CHAIN_PATH``) for ``seed``."""
    return ExtendedPrivateKey.from_seed(seed).derive(DEPOSIT_CHAIN_PATH).neuter().serialize()
