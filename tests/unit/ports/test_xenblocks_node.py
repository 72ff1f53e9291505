"""The XenBlocks node port: the node's answers read strictly (no sockets here; the HTTP
adapter against a real local node is in tests/integration/test_network_follow.py)."""

from __future__ import annotations

import json

import pytest

from functions.ports.xenblocks_node import (
    MAX_BODY_BYTES,
    FakeXenBlocksNode,
    NodeBlock,
    NodeError,
    parse_block,
    parse_difficulty,
)


@pytest.mark.parametrize(
    ("body", "value"),
    [
        (b'{"difficulty": "1727"}', 1727),  # a string, as the reference node writes it
        (b'{"difficulty": 8}', 8),
        (b'{"difficulty": "4294967295"}', 2**32 - 1),
        (b'{"difficulty": "100000", "other": 1}', 100_000),
    ],
)
def test_a_difficulty_is_read(body: bytes, value: int) -> None:
    assert parse_difficulty(body) == value


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html>502 Bad Gateway</html>",
        b'"1727"',
        b"[1727]",
        b'{"error": "Difficulty level not found."}',
        b'{"difficulty": "7"}',
        b'{"difficulty": 0}',
        b'{"difficulty": "4294967296"}',
        b'{"difficulty": "-5"}',
        b'{"difficulty": "+5"}',
        b'{"difficulty": " 1727"}',
        b'{"difficulty": "1727.0"}',
        b'{"difficulty": 1727.0}',
        b'{"difficulty": "1e3"}',
        b'{"difficulty": true}',
        b'{"difficulty": null}',
        b'{"difficulty": "\xef\xbc\x91\xef\xbc\x97"}',  # fullwidth digits
        b"\xff\xfe",
    ],
)
def test_anything_else_is_a_node_error(body: bytes) -> None:
    with pytest.raises(NodeError):
        parse_difficulty(body)


def test_a_stored_block_is_read_with_its_hash_and_memory_cost() -> None:
    encoded = "$argon2id$v=19$m=1727,t=1,p=1$c2FsdHNhbHRzYWx0$XEN11abcDEF+/"
    body = json.dumps(
        {
            "block_id": 7,
            "hash_to_verify": encoded,
            "key": "ab" * 32,
            "account": "0xabc",
            "created_at": "2024-05-10 12:00:00",
        }
    ).encode()
    block = parse_block(body)
    assert block == NodeBlock("ab" * 32, "0xabc", encoded, 7, "2024-05-10 12:00:00")
    assert (block.hash, block.memory_cost) == ("XEN11abcDEF+/", 1727)


@pytest.mark.parametrize(
    "body", [b"{}", b'{"key": "ab", "account": "0x1"}', b"[]", b"nope", b'{"key": 5}']
)
def test_a_block_without_its_fields_is_a_node_error(body: bytes) -> None:
    with pytest.raises(NodeError):
        parse_block(body)


def test_the_fake_answers_from_memory_and_fails_on_demand() -> None:
    node = FakeXenBlocksNode(value=2000, failures=["down"])
    with pytest.raises(NodeError, match="down"):
        node.difficulty()
    assert node.difficulty() == 2000
    assert node.reads == 2
    block = NodeBlock("cd" * 32, "0x1", "$argon2id$v=19$m=8,t=1,p=1$s$h")
    node.hold(block)
    assert node.block("cd" * 32) == block
    assert node.block("ef" * 32) is None


def test_bodies_are_bounded() -> None:
    assert MAX_BODY_BYTES <= 64 * 1024
