import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import ProtocolError
from protocol.xenblocks import (
    KEY_LENGTH,
    PREFIX_LENGTH,
    generate_key,
    key_has_prefix,
    new_prefix,
    validate_key,
    validate_prefix,
)

LOWER_HEX_KEY = re.compile(r"[0-9a-f]{64}")
prefixes = st.binary(min_size=8, max_size=8).map(bytes.hex)


def test_generated_key_is_64_lowercase_hex() -> None:
    key = generate_key()

    assert len(key) == KEY_LENGTH
    assert LOWER_HEX_KEY.fullmatch(key)
    assert validate_key(key) == key


@given(prefix=prefixes)
def test_generated_key_starts_with_the_prefix(prefix: str) -> None:
    key = generate_key(prefix)

    assert LOWER_HEX_KEY.fullmatch(key)
    assert key_has_prefix(key, prefix)


def test_keys_and_prefixes_are_random() -> None:
    assert len({generate_key() for _ in range(100)}) == 100
    assert len({new_prefix() for _ in range(100)}) == 100


def test_new_prefix_is_valid() -> None:
    prefix = new_prefix()

    assert len(prefix) == PREFIX_LENGTH
    assert validate_prefix(prefix) == prefix


def test_key_without_the_prefix() -> None:
    assert not key_has_prefix("f" * 64, "a" * 16)


@pytest.mark.parametrize(
    "prefix", ["a" * 15, "a" * 17, "A1B2C3D4E5F6A7B8", "g" * 16, "a1b2c3d4e5f6a7b\n", ""]
)
def test_bad_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        validate_prefix(prefix)

    assert caught.value.field == "prefix"


@pytest.mark.parametrize("prefix", ["a" * 15, "A" * 16])
def test_generate_key_refuses_a_bad_prefix(prefix: str) -> None:
    with pytest.raises(ProtocolError):
        generate_key(prefix)


@pytest.mark.parametrize("key", ["a" * 63, "a" * 65, "A" * 64, "g" * 64, "a" * 112])
def test_bad_key_is_refused(key: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        validate_key(key)

    assert caught.value.field == "key"
