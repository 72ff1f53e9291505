"""Fixtures shared by the integration tests that run the local XenBlocks node on a real port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions.local.xenblocks_node import NodeRules, NodeServer, XenBlocksNode


@pytest.fixture
def server() -> Iterator[NodeServer]:
    """The local XenBlocks node on a free port: difficulty 8, the block pattern the tests
    mine (``XEN``, as ``tests.mining`` does), its clock outside the XUNI window."""
    node = XenBlocksNode(difficulty=8, rules=NodeRules(block_pattern="XEN"))
    node.clock.set_minute(30)  # outside the XUNI window, whatever the hour
    with NodeServer(node) as served:
        yield served
