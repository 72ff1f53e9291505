"""A block the XenBlocks network itself published, as a test vector.

Block 962524 of the main network (its record, ``id|hash_to_verify``, is quoted in the
reference node's ``utils/verify_proofs.py``, jacklevin74/xenminer): a 128-hex key, the
network's first salt (``XEN10082022XEN``, before salts were addresses), memory cost 1327.
The platform's Argon2id must give the very hash the network stored, its rules must judge it
a block, and the local node must take it exactly as the network's own difficulty gate did.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import TypeAdapter

from functions.local.xenblocks_node import XenBlocksNode
from protocol.fields import KeyText
from protocol.xenblocks import BlockKind, BlockRules, argon2_raw, classify, encoded_hash

BLOCK_962524 = (
    "$argon2id$v=19$m=1327,t=1,p=1$WEVOMTAwODIwMjJYRU4$"
    "Vn48cF2Es/CmZXEN11upLsyantNjLy7VP4h2v0z5WFBimDH7AE3kf6uP8AGe1umQncuthETqhKh8yJ7oCFUShg"
)
KEY_962524 = (
    "0000da975bd6ec3aa878dadc395943619d23407371bc15066c1505ef23203d87"
    "1633c687a9e5e89f5fc7fb61f05e1ff4ec49ecee28577c5143711185afe2d5a5"
)
FIRST_SALT = b"XEN10082022XEN"
MEMORY_COST = 1327


def test_the_published_hash_recomputes_bit_for_bit():
    raw = argon2_raw(KEY_962524, FIRST_SALT, MEMORY_COST)
    assert encoded_hash(raw, FIRST_SALT, MEMORY_COST) == BLOCK_962524


def test_its_128_hex_key_is_a_key_the_protocol_takes():
    assert len(KEY_962524) == 128
    assert TypeAdapter(KeyText).validate_python(KEY_962524) == KEY_962524
    assert TypeAdapter(KeyText).validate_python(KEY_962524.upper()) == KEY_962524.upper()


def test_the_rules_judge_it_a_block_at_any_minute():
    raw_b64 = BLOCK_962524.rsplit("$", 1)[1]
    for minute in (2, 30, 57):  # XUNI windows do not matter: it holds XEN11, no XUNI
        arrived = datetime(2024, 1, 15, 10, minute, tzinfo=UTC)
        assert classify(raw_b64, arrived, BlockRules()).kind is BlockKind.NORMAL


def _submit(node: XenBlocksNode) -> tuple[int, object]:
    answer = node.verify(
        {
            "hash_to_verify": BLOCK_962524,
            "key": KEY_962524,
            "account": "0x" + "ab" * 20,
            "attempts": 1,
            "hashes_per_second": 1.0,
            "worker": "1",
        }
    )
    return answer.status, answer.body


def test_the_local_node_takes_it_at_or_below_its_memory_cost_and_only_once():
    status, _ = _submit(XenBlocksNode(difficulty=MEMORY_COST + 1))
    assert status == 401  # m below the network's difficulty
    node = XenBlocksNode(difficulty=MEMORY_COST)
    assert _submit(node)[0] == 200
    status, body = _submit(node)
    assert status == 400
    assert "already exists" in str(body)
