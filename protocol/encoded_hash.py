"""The encoded Argon2id hash ``$argon2id$v=19$m=<memory cost>,t=1,p=1$<salt>$<hash>``.

It is what the XenBlocks node's ``/verify`` takes, and what the XenblocksMiner C++ rigs put in
a ``block`` report's ``hash`` (the v2 files and this platform's rigs send the raw part
alone). A report in the encoded form is judged on its raw part, once the form agrees with
the rest of the report: its salt is the claimed account, its ``m`` the claimed difficulty.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from protocol.addresses import salt_bytes, to_checksum
from protocol.errors import ProtocolError
from protocol.xenblocks import ARGON2_VERSION, HASH_LENGTH, MIN_DIFFICULTY

_ENCODED = re.compile(
    r"\$argon2id\$v=(?P<v>[0-9]{1,3})\$m=(?P<m>[0-9]{1,10}),t=(?P<t>[0-9]{1,3}),p=(?P<p>[0-9]{1,3})"
    r"\$(?P<salt>[A-Za-z0-9+/]{1,128})\$(?P<hash>[A-Za-z0-9+/]{1,200})"
)
MAX_ENCODED_LENGTH = 150  # the node refuses a longer hash_to_verify


class EncodedHashError(ProtocolError):
    """An encoded hash that is malformed or disagrees with its report. ``code`` is short and
    stable (logs, counters): ``bad_encoding``, ``bad_account``, ``salt_mismatch``,
    ``difficulty_mismatch``."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail, field="hash")
        self.code = code


@dataclass(frozen=True)
class EncodedHash:
    memory_cost: int
    salt: bytes
    hash_b64: str  # the raw hash, base64 without padding: what the platform judges


def is_encoded_hash(text: str) -> bool:
    return text.startswith("$argon2")


def parse_encoded_hash(text: str) -> EncodedHash:
    """The parts of an XenBlocks encoded hash; EncodedHashError (``bad_encoding``) if it is
    not one: Argon2id v=19, t=1, p=1, a memory cost, a salt and a 64-byte hash in base64."""
    match = _ENCODED.fullmatch(text) if len(text) <= MAX_ENCODED_LENGTH else None
    if match is None:
        raise EncodedHashError("bad_encoding", "not $argon2id$v=19$m=…,t=1,p=1$<salt>$<hash>")
    if (match["v"], match["t"], match["p"]) != (str(ARGON2_VERSION), "1", "1"):
        raise EncodedHashError("bad_encoding", "XenBlocks hashes are v=19, t=1, p=1")
    memory_cost = int(match["m"])
    if not MIN_DIFFICULTY <= memory_cost <= 2**32 - 1:
        raise EncodedHashError("bad_encoding", f"m={memory_cost} is not a memory cost")
    salt = _b64decode(match["salt"])
    raw = _b64decode(match["hash"])
    if salt is None or raw is None or len(raw) != HASH_LENGTH:
        raise EncodedHashError("bad_encoding", f"no salt, or no {HASH_LENGTH}-byte hash, in base64")
    return EncodedHash(memory_cost, salt, match["hash"].rstrip("="))


def decode_block_hash(report: dict[str, Any]) -> dict[str, Any]:
    """A ``block`` report's fields with an encoded ``hash`` replaced by its raw part and
    ``difficulty`` set to its ``m``; EncodedHashError when the form is bad, its salt is
    not the report's ``account`` or its ``m`` not the report's ``difficulty``."""
    encoded = parse_encoded_hash(report["hash"])
    account = report.get("account")
    try:
        salt = salt_bytes(to_checksum(account.lower())) if isinstance(account, str) else None
    except ProtocolError:
        salt = None
    if salt is None:
        raise EncodedHashError("bad_account", f"account {str(account)[:60]!r} is no address")
    if encoded.salt != salt:
        raise EncodedHashError("salt_mismatch", f"the hash's salt is not the account {account}")
    claimed = report.get("difficulty")
    if claimed is not None and claimed != encoded.memory_cost:
        raise EncodedHashError(
            "difficulty_mismatch", f"the hash has m={encoded.memory_cost}, the report {claimed}"
        )
    return {**report, "hash": encoded.hash_b64, "difficulty": encoded.memory_cost}


def _b64decode(text: str) -> bytes | None:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
