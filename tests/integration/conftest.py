"""Fixtures shared by the integration tests: the local XenBlocks node on a real port, the
local EVM chain (hardhat) with the test token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions.local.evm_node import EvmNode, hardhat_installed, local_chain
from functions.local.xenblocks_node import NodeRules, NodeServer, XenBlocksNode


@pytest.fixture
def server() -> Iterator[NodeServer]:
    """The local XenBlocks node on a free port: difficulty 8, the block pattern the tests
    mine (``XEN``, as ``tests.mining`` does), its clock outside the XUNI window."""
    node = XenBlocksNode(difficulty=8, rules=NodeRules(block_pattern="XEN"))
    node.clock.set_minute(30)  # outside the XUNI window, whatever the hour
    with NodeServer(node) as served:
        yield served


@pytest.fixture(scope="module")
def chain() -> Iterator[EvmNode]:
    """The local EVM chain with the test stablecoin deployed, one per test module."""
    if not hardhat_installed():
        pytest.skip("hardhat is not installed: npm ci in chain/ (scripts/dev)")
    with local_chain() as node:
        yield node
