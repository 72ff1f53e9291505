"""Proof-of-work shares: hashes that contain a lease's easy ``share_pattern``.

A share proves work the way a block does, only far more often, so the platform can
estimate the hashrate a rig delivers. The pattern language is deliberately tiny so a GPU
kernel can check it too: a literal of 1-8 base64 characters, optionally followed by one
bracketed set of explicitly listed base64 characters (no ranges), e.g. ``Xe`` or
``Xe[ABCD]``. Like the block pattern, a hash matches if the pattern occurs anywhere in it.
"""

import math
import re
import secrets
from dataclasses import dataclass
from functools import cached_property
from typing import Self

from protocol.errors import ProtocolError
from protocol.xenblocks import BASE64_CHARS

HASH_CHARS = 86  # base64 characters of a 64-byte hash without padding
MAX_LITERAL = 8
MAX_SET = len(BASE64_CHARS) - 1  # a set of all 64 characters would just be a wildcard

_BASE64 = frozenset(BASE64_CHARS)
_SYNTAX = re.compile(r"([A-Za-z0-9+/]+)(?:\[([A-Za-z0-9+/]+)\])?")


@dataclass(frozen=True)
class SharePattern:
    literal: str
    char_set: str = ""  # the bracketed set's characters; empty when there is none

    def __post_init__(self) -> None:
        if not 1 <= len(self.literal) <= MAX_LITERAL or not _is_base64(self.literal):
            raise ProtocolError(
                f"literal must be 1-{MAX_LITERAL} base64 characters", field="share_pattern"
            )
        if len(self.char_set) > MAX_SET or not _is_base64(self.char_set):
            raise ProtocolError(
                f"set must be at most {MAX_SET} base64 characters", field="share_pattern"
            )
        if len(set(self.char_set)) != len(self.char_set):
            raise ProtocolError("set lists a character twice", field="share_pattern")

    @classmethod
    def parse(cls, text: str) -> Self:
        syntax = _SYNTAX.fullmatch(text)
        if syntax is None:
            raise ProtocolError(
                "expected a literal, optionally with one [set]", field="share_pattern"
            )
        return cls(literal=syntax[1], char_set=syntax[2] or "")

    def __str__(self) -> str:
        return f"{self.literal}[{self.char_set}]" if self.char_set else self.literal

    @cached_property
    def _regex(self) -> re.Pattern[str]:
        tail = f"[{re.escape(self.char_set)}]" if self.char_set else ""
        return re.compile(re.escape(self.literal) + tail)

    def matches(self, hash_b64: str) -> bool:
        return self._regex.search(hash_b64) is not None

    def probability(self, hash_chars: int = HASH_CHARS) -> float:
        """The chance that one random hash of ``hash_chars`` base64 characters matches.

        Treats the positions as independent, 1 - (1 - q)^positions: accurate while q is
        small, which is every useful pattern (self-overlapping literals such as ``AA``
        and the last character carrying only 2 bits make it slightly off).
        """
        positions = hash_chars - len(self.literal) - (1 if self.char_set else 0) + 1
        if positions <= 0:
            return 0.0
        alphabet = len(BASE64_CHARS)
        per_position = alphabet ** -len(self.literal)
        if self.char_set:
            per_position *= len(self.char_set) / alphabet
        # expm1/log1p keep precision when q is tiny.
        return -math.expm1(positions * math.log1p(-per_position))

    def expected_hashes(self) -> float:
        """How many hashes it takes on average to find one share."""
        return 1 / self.probability()


def share_pattern_for(
    hashrate_hs: float, target_interval_s: float = 60.0, seed_chars: str | None = None
) -> SharePattern:
    """A pattern a rig at ``hashrate_hs`` matches about once per ``target_interval_s``.

    Each extra literal character makes a share 64 times rarer; the set's size (1-63)
    fills in between, so the expected interval lands within a factor of about 1.4 of
    the target (for targets between about 2 and 10^14 hashes per share). Literal and
    set characters are random unless ``seed_chars`` is given; then the literal repeats
    ``seed_chars`` and the set is the alphabet's start (deterministic, for tests and
    local runs).
    """
    if not (math.isfinite(hashrate_hs) and hashrate_hs > 0):
        raise ValueError("hashrate must be a positive number")
    if not (math.isfinite(target_interval_s) and target_interval_s > 0):
        raise ValueError("target interval must be a positive number of seconds")
    target_hashes = hashrate_hs * target_interval_s
    shapes = [
        (length, set_size)
        for length in range(1, MAX_LITERAL + 1)
        for set_size in range(MAX_SET + 1)
    ]
    length, set_size = min(
        shapes,
        key=lambda shape: abs(math.log(_expected_hashes(*shape) / target_hashes)),
    )
    return _pattern_of_shape(length, set_size, seed_chars)


def block_literal_for(
    hashrate_hs: float, min_interval_s: float = 30.0, block_pattern: str = "XEN11"
) -> SharePattern:
    """A pattern for a rig that reports a literal like a block (the C++ miner's
    ``block_pattern``): the start of ``block_pattern`` (XEN11 on the network), so every
    block still matches and none is lost; the most frequent such start a rig at
    ``hashrate_hs`` matches no more often than once per ``min_interval_s`` on average (such
    a rig also submits each match to the node, one at a time, so matches must stay rare);
    the whole block pattern for a rig faster than that even there (its blocks are then its
    only proof, as for a rig that sends no shares)."""
    if not (math.isfinite(hashrate_hs) and hashrate_hs > 0):
        raise ValueError("hashrate must be a positive number")
    literals = [block_pattern[:length] for length in range(1, len(block_pattern) + 1)]
    for literal in literals[:MAX_LITERAL]:
        pattern = SharePattern(literal)
        if pattern.expected_hashes() / hashrate_hs >= min_interval_s:
            return pattern
    return SharePattern(block_pattern[:MAX_LITERAL])


def _expected_hashes(length: int, set_size: int) -> float:
    return SharePattern("A" * length, BASE64_CHARS[:set_size]).expected_hashes()


def _pattern_of_shape(length: int, set_size: int, seed_chars: str | None) -> SharePattern:
    if seed_chars is None:
        literal = "".join(secrets.choice(BASE64_CHARS) for _ in range(length))
        char_set = "".join(secrets.SystemRandom().sample(BASE64_CHARS, set_size))
        return SharePattern(literal, char_set)
    if not seed_chars:
        raise ValueError("seed_chars must not be empty")
    literal = (seed_chars * length)[:length]
    return SharePattern(literal, BASE64_CHARS[:set_size])


def _is_base64(text: str) -> bool:
    return _BASE64.issuperset(text)
