"""BIP32 on secp256k1: the published test vectors, public derivation agreeing with private,
and Ethereum addresses of a well-known wallet (hardhat's mnemonic)."""

from __future__ import annotations

import hashlib

import pytest

from functions.logic.hd_keys import (
    HARDENED,
    ExtendedPrivateKey,
    ExtendedPublicKey,
    InvalidKey,
    b58check_encode,
    deposit_address,
    deposit_xpub_from_seed,
)

# BIP32 test vector 1 (seed 000102…0f).
SEED1 = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
VECTOR1 = {
    "m": (
        "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8",
        "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi",
    ),
    "m/0'/1/2'": (
        "xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5",
        "xprv9z4pot5VBttmtdRTWfWQmoH1taj2axGVzFqSb8C9xaxKymcFzXBDptWmT7FwuEzG3ryjH4ktypQSAewRiNMjANTtpgP4mLTj34bhnZX7UiM",
    ),
    "m/0'/1/2'/2": (
        "xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV",
        "xprvA2JDeKCSNNZky6uBCviVfJSKyQ1mDYahRjijr5idH2WwLsEd4Hsb2Tyh8RfQMuPh7f7RtyzTtdrbdqqsunu5Mm3wDvUAKRHSC34sJ7in334",
    ),
    "m/0'/1/2'/2/1000000000": (
        "xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy",
        "xprvA41z7zogVVwxVSgdKUHDy1SKmdb533PjDz7J6N6mV6uS3ze1ai8FHa8kmHScGpWmj4WggLyQjgPie1rFSruoUihUZREPSL39UNdE3BBDu76",
    ),
}
# hardhat's (and many wallets' test) mnemonic, and its first accounts at m/44'/60'/0'/0/i.
HARDHAT_MNEMONIC = b"test test test test test test test test test test test junk"
HARDHAT_ACCOUNTS = [
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
]


@pytest.mark.parametrize("path", list(VECTOR1))
def test_bip32_vector_1_private_derivation(path: str) -> None:
    xpub, xprv = VECTOR1[path]
    key = ExtendedPrivateKey.from_seed(SEED1).derive(path)
    assert key.serialize() == xprv
    assert key.neuter().serialize() == xpub


def test_bip32_vector_1_public_derivation() -> None:
    """From m/0'/1/2' (hardened: the last a private key can be reached by) onward, the
    public key alone gives the children the vector lists."""
    parent = ExtendedPublicKey.parse(VECTOR1["m/0'/1/2'"][0])
    child = parent.child(2)
    assert child.serialize() == VECTOR1["m/0'/1/2'/2"][0]
    assert child.child(1_000_000_000).serialize() == VECTOR1["m/0'/1/2'/2/1000000000"][0]


def test_public_and_private_derivation_agree() -> None:
    account = ExtendedPrivateKey.from_seed(bytes(range(32))).derive("m/44'/60'/0'/0")
    xpub = account.neuter()
    for index in (0, 1, 7, 2**31 - 1):
        assert xpub.child(index) == account.child(index).neuter()


def test_deposit_addresses_of_a_known_wallet() -> None:
    seed = hashlib.pbkdf2_hmac("sha512", HARDHAT_MNEMONIC, b"mnemonic", 2048)
    xpub = deposit_xpub_from_seed(seed)
    assert [deposit_address(xpub, i) for i in range(3)] == HARDHAT_ACCOUNTS


def test_hardened_children_need_the_private_key() -> None:
    xpub = ExtendedPublicKey.parse(VECTOR1["m"][0])
    with pytest.raises(ValueError, match="non-hardened"):
        xpub.child(HARDENED)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "xpub",
        VECTOR1["m"][0][:-1] + ("9" if VECTOR1["m"][0][-1] != "9" else "8"),  # checksum
        VECTOR1["m"][1],  # a private key is refused where a public one is expected
        "0OIl" + VECTOR1["m"][0][4:],  # not Base58
        b58check_encode(bytes.fromhex("0488b21e") + bytes(41) + b"\x02" + bytes(32)),  # no point
    ],
)
def test_bad_extended_keys_are_refused(text: str) -> None:
    with pytest.raises(InvalidKey):
        ExtendedPublicKey.parse(text)
