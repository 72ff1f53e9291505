"""The Argon2id reference hash, cross-checked against argon2-cffi's other APIs."""

import argon2
import pytest
from argon2.low_level import Type, hash_secret
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.addresses import salt_bytes, to_checksum
from protocol.errors import ProtocolError
from protocol.xenblocks import argon2_raw, b64_nopad, compute_hash, encoded_hash

KEY = "0123456789abcdef" * 4
ADDRESS = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
# Computed once with argon2-cffi (Argon2id v1.3, m=8, t=1, p=1, 64 bytes); pinned so a
# change of parameters or encoding cannot go unnoticed.
PINNED_HASH = (
    "ctgXml3GZ9KlJFFL20R83tSeMSEyCk/SwGdKmrIQ16kVC0SB7ODfNhvwM5BFUkWtbxJ2NTVOJnLSwq1sfiWpzw"
)

keys = st.binary(min_size=32, max_size=32).map(bytes.hex)
addresses = st.binary(min_size=20, max_size=20).map(lambda raw: "0x" + raw.hex())


def verifies(encoded: str, key: str, memory_cost: int) -> bool:
    hasher = argon2.PasswordHasher(time_cost=1, memory_cost=memory_cost, parallelism=1, hash_len=64)
    return hasher.verify(encoded, key)


def test_pinned_vector() -> None:
    assert compute_hash(KEY, ADDRESS, 8) == PINNED_HASH


def test_encoded_form_matches_argon2_cffi_encoding() -> None:
    salt = salt_bytes(ADDRESS)
    reference = hash_secret(
        secret=KEY.encode(),
        salt=salt,
        time_cost=1,
        memory_cost=8,
        parallelism=1,
        hash_len=64,
        type=Type.ID,
        version=19,
    ).decode()

    encoded = encoded_hash(argon2_raw(KEY, salt, 8), salt, 8)

    assert encoded == reference
    assert encoded == f"$argon2id$v=19$m=8,t=1,p=1${b64_nopad(salt)}${PINNED_HASH}"


def test_encoded_form_verifies_with_password_hasher() -> None:
    salt = salt_bytes(ADDRESS)

    assert verifies(encoded_hash(argon2_raw(KEY, salt, 64), salt, 64), KEY, 64)


@settings(max_examples=40, deadline=None)
@given(key=keys, address=addresses)
def test_any_key_and_address_verify(key: str, address: str) -> None:
    salt = salt_bytes(address)
    raw = argon2_raw(key, salt, 8)

    assert verifies(encoded_hash(raw, salt, 8), key, 8)
    assert compute_hash(key, address, 8) == b64_nopad(raw)


def test_hash_is_86_unpadded_base64_characters() -> None:
    assert len(PINNED_HASH) == 86
    assert "=" not in PINNED_HASH


def test_address_case_does_not_change_the_hash() -> None:
    assert compute_hash(KEY, ADDRESS.lower(), 8) == compute_hash(KEY, to_checksum(ADDRESS), 8)


def test_memory_cost_below_argon2_minimum_is_refused() -> None:
    with pytest.raises(ProtocolError) as caught:
        argon2_raw(KEY, salt_bytes(ADDRESS), 7)

    assert caught.value.field == "difficulty"


def test_b64_nopad_strips_padding() -> None:
    assert b64_nopad(b"\x00") == "AA"
    assert b64_nopad(b"\xff\xff\xff") == "////"
