import pytest
from pydantic import BaseModel, ValidationError

from protocol.addresses import EthAddress, salt_bytes, to_checksum
from protocol.errors import ProtocolError

# From EIP-55 itself.
CHECKSUMMED = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0xde709f2102306220921060314715629080e2fb77",
]


@pytest.mark.parametrize("address", CHECKSUMMED)
def test_checksummed_address_is_kept(address: str) -> None:
    assert to_checksum(address) == address


@pytest.mark.parametrize("address", CHECKSUMMED)
def test_single_case_address_is_normalised(address: str) -> None:
    assert to_checksum(address.lower()) == address
    assert to_checksum("0x" + address[2:].upper()) == address


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "bad EIP-55 checksum"),
        ("0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "bad EIP-55 checksum"),
        ("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beae", "expected 0x and 40 hex digits"),
        ("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaedd", "expected 0x and 40 hex digits"),
        ("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg", "expected 0x and 40 hex digits"),
        ("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed00", "expected 0x and 40 hex digits"),
        ("0X5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "expected 0x and 40 hex digits"),
        ("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed\n", "expected 0x and 40 hex digits"),
        ("", "expected 0x and 40 hex digits"),
    ],
)
def test_bad_address_is_refused(address: str, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        to_checksum(address)


def test_salt_is_the_twenty_address_bytes() -> None:
    salt = salt_bytes("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")

    assert salt == bytes.fromhex("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")
    assert len(salt) == 20


class Payout(BaseModel):
    address: EthAddress


def test_model_field_stores_checksum_form() -> None:
    assert Payout(address=CHECKSUMMED[0].lower()).address == CHECKSUMMED[0]


def test_model_field_refuses_bad_checksum_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        Payout(address="0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD")

    assert caught.value.errors()[0]["loc"] == ("address",)
