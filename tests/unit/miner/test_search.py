"""Finding blocks and shares in a batch of raw hashes, as the devices do."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

import pytest

from miner.backends.base import KeyRange, new_stem
from miner.search import FindKind, Job, encode_batch, scan
from protocol.shares import SharePattern
from protocol.xenblocks import BlockKind, BlockRules, argon2_raw, b64_nopad
from tests.factories import PROVIDER, RENTER

NOT_XUNI_TIME = datetime(2026, 11, 21, 12, 30, tzinfo=UTC)
XUNI_TIME = datetime(2026, 11, 21, 12, 57, tzinfo=UTC)


def _hash_with(text: str, at: int = 10) -> bytes:
    """64 random bytes whose base64 shows ``text`` at character ``at`` (``at`` % 4 == 0)."""
    assert at % 4 == 0
    assert len(text) % 4 == 0
    raw = bytearray(secrets.token_bytes(64))
    raw[at // 4 * 3 : at // 4 * 3 + len(text) // 4 * 3] = base64.b64decode(text)
    assert text in b64_nopad(bytes(raw))
    return bytes(raw)


def _plain_hash() -> bytes:
    """Random bytes that show none of the test patterns."""
    while True:
        raw = secrets.token_bytes(64)
        text = b64_nopad(raw)
        if not any(p in text for p in ("XEN1", "XUNI", "Qz")):
            return raw


def test_encode_batch_matches_base64_of_each_hash():
    hashes = [secrets.token_bytes(64) for _ in range(50)]
    text = encode_batch(b"".join(hashes))
    assert len(text) == 50 * 88
    for index, raw in enumerate(hashes):
        chunk = text[index * 88 : (index + 1) * 88]
        assert chunk[:86] == b64_nopad(raw)
        assert chunk[86:] == ".."


def test_scan_finds_a_block_and_names_its_key():
    job = Job(address=PROVIDER, difficulty=8, rules=BlockRules(difficulty=8, block_pattern="XEN1"))
    keys = KeyRange(job.stem, 0, 5)
    hashes = [_plain_hash() for _ in range(5)]
    hashes[3] = _hash_with("XEN1", at=20)
    finds = scan(job, keys, b"".join(hashes), NOT_XUNI_TIME)
    assert len(finds) == 1
    (find,) = finds
    assert find.kind is FindKind.BLOCK
    assert find.block_kind is BlockKind.NORMAL
    assert find.key == keys.key(3)
    assert find.raw == hashes[3]
    assert find.hash_b64 == b64_nopad(hashes[3])


def test_a_pattern_never_matches_across_two_hashes():
    # Without the blanks, hash one's last character "A", the two padding characters "AA"
    # and hash two's first characters "XE" would spell "AAXE".
    job = Job(address=PROVIDER, difficulty=8, rules=BlockRules(difficulty=8, block_pattern="AAXE"))
    first = bytearray(_plain_hash())
    first[63] &= 0b11111100  # the last base64 character becomes "A"
    second = _hash_with("XEAB", at=0)
    assert "AAXE" not in b64_nopad(bytes(first))
    assert "AAXE" not in b64_nopad(second)
    assert scan(job, KeyRange(job.stem, 0, 2), bytes(first) + second, NOT_XUNI_TIME) == []


def test_xuni_counts_only_inside_its_window():
    job = Job(address=PROVIDER, difficulty=8, rules=BlockRules(difficulty=8, block_pattern="XEN1"))
    raw = _hash_with("XUNI4AAB", at=8)
    keys = KeyRange(job.stem, 0, 1)
    assert scan(job, keys, raw, NOT_XUNI_TIME) == []
    (find,) = scan(job, keys, raw, XUNI_TIME)
    assert find.block_kind is BlockKind.XUNI


def test_under_a_lease_shares_are_found_and_blocks_that_match_are_shares_too():
    prefix = "0123456789abcdef"
    job = Job(
        address=RENTER,
        difficulty=8,
        rules=BlockRules(difficulty=8, block_pattern="XEN1"),
        lease_id="lease-1",
        prefix=prefix,
        share_pattern=SharePattern.parse("Qz"),
    )
    assert job.stem.startswith(prefix)
    hashes = [_plain_hash(), _hash_with("AAQz", at=40), _hash_with("XEN1Qz00", at=4)]
    finds = scan(job, KeyRange(job.stem, 7, 3), b"".join(hashes), NOT_XUNI_TIME)
    kinds = [(find.kind, find.key[-1]) for find in finds]
    assert (FindKind.SHARE, "8") in kinds
    assert (FindKind.BLOCK, "9") in kinds
    assert (FindKind.SHARE, "9") in kinds
    assert all(find.key.startswith(prefix) for find in finds)


def test_self_mining_reports_no_shares():
    job = Job(
        address=PROVIDER,
        difficulty=8,
        rules=BlockRules(difficulty=8, block_pattern="XEN1"),
        share_pattern=SharePattern.parse("Qz"),
    )
    raw = _hash_with("AAQz", at=40)
    assert scan(job, KeyRange(job.stem, 0, 1), raw, NOT_XUNI_TIME) == []


def test_real_argon2_hashes_scan_like_the_reference_classifier():
    """Real hashes at the test difficulty, judged by scan and by protocol.classify alike."""
    rules = BlockRules(difficulty=8, block_pattern="X")
    job = Job(address=PROVIDER, difficulty=8, rules=rules)
    keys = KeyRange(new_stem(), 0, 200)
    raw = b"".join(argon2_raw(key, job.salt, 8) for key in keys.all_keys())
    finds = scan(job, keys, raw, NOT_XUNI_TIME)
    expected = [key for key in keys.all_keys() if "X" in b64_nopad(argon2_raw(key, job.salt, 8))]
    assert [find.key for find in finds] == expected
    assert finds  # "X" appears in most 86-character hashes


def test_a_job_keeps_its_stem_when_only_the_difficulty_moves():
    job = Job(address=PROVIDER, difficulty=8, rules=BlockRules(difficulty=8))
    harder = job.with_difficulty(64)
    assert harder.stem == job.stem
    assert harder.rules.difficulty == 64
    with pytest.raises(ValueError, match="prefix"):
        Job(
            address=PROVIDER,
            difficulty=8,
            rules=BlockRules(difficulty=8),
            prefix="0123456789abcdef",
            stem="f" * 48,
        )
