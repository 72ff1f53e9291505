"""Ethereum addresses: validation, EIP-55 checksum form, and the XenBlocks salt."""

import re
from typing import Annotated

from eth_utils.address import is_checksum_address, to_checksum_address
from pydantic import AfterValidator, StrictStr

from protocol.errors import ProtocolError

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def to_checksum(value: str) -> str:
    """Return ``value`` in EIP-55 checksum form, or raise ProtocolError.

    Single-case hex carries no checksum and is accepted; mixed case is a checksum and
    must be right, since a typo in a payout address loses the renter's blocks.
    """
    if not _ADDRESS.fullmatch(value):
        raise ProtocolError("not an Ethereum address: expected 0x and 40 hex digits")
    digits = value[2:]
    if digits not in (digits.lower(), digits.upper()) and not is_checksum_address(value):
        raise ProtocolError("bad EIP-55 checksum")
    return to_checksum_address(value)


def same_address(text: str | None, address: str) -> bool:
    """Whether ``text`` is ``address`` in any letter case (False when it is no address): how
    a rig that types its address freely (the C++ miner) is compared with an owner's."""
    if text is None:
        return False
    try:
        return to_checksum(text.lower()) == to_checksum(address.lower())
    except ProtocolError:
        return False


EthAddress = Annotated[StrictStr, AfterValidator(to_checksum)]
"""A pydantic field type that stores an address in checksum form."""


def salt_bytes(address: str) -> bytes:
    """The 20 raw bytes of ``address``: the Argon2 salt of every XenBlocks hash for it."""
    return bytes.fromhex(to_checksum(address)[2:])
