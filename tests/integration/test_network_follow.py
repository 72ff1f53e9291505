"""The platform's side of following the network, against the local XenBlocks node on a
real port: the HTTP adapter reads ``/difficulty`` and ``/get_block`` as the node writes
them, and the network job keeps up with a moving node and through its faults."""

from __future__ import annotations

import pytest
from moto import mock_aws

from functions.dal.network import NetworkRepository
from functions.dal.tables import Tables, create_tables
from functions.local.xenblocks_node import NodeAdmin, NodeServer
from functions.logic.jobs import Jobs
from functions.ports.devices import RecordingPublisher
from functions.ports.xenblocks_node import HttpXenBlocksNode, NodeError
from functions.settings import Settings
from protocol.addresses import salt_bytes
from protocol.xenblocks import BlockRules, argon2_raw, encoded_hash
from tests.factories import NOW, PROVIDER
from tests.mining import is_normal_block, mine


def test_the_adapter_reads_the_nodes_difficulty_and_blocks(server: NodeServer) -> None:
    node = HttpXenBlocksNode(server.url, timeout=2)
    admin = NodeAdmin(server.url)
    assert node.difficulty() == 8
    admin.set_difficulty(2727)
    assert node.difficulty() == 2727
    admin.set_difficulty(8)

    key, hash_b64 = mine(PROVIDER, 8, is_normal_block)
    salt = salt_bytes(PROVIDER)
    encoded = encoded_hash(argon2_raw(key, salt, 8), salt, 8)
    answer = server.node.verify({"hash_to_verify": encoded, "key": key, "account": PROVIDER})
    assert answer.status == 200
    held = node.block(key)
    assert held is not None
    assert (held.hash, held.account, held.memory_cost) == (hash_b64, PROVIDER.lower(), 8)
    assert node.block("ab" * 32) is None


@pytest.mark.parametrize(
    ("kind", "options"), [("error", {"status": 503}), ("drop", {}), ("hang", {"seconds": 3})]
)
def test_faults_are_node_errors(server: NodeServer, kind: str, options: dict) -> None:
    NodeAdmin(server.url).fault("/difficulty", kind, **options)  # type: ignore[arg-type]
    with pytest.raises(NodeError):
        HttpXenBlocksNode(server.url, timeout=1).difficulty()


def test_the_job_follows_a_moving_node_and_keeps_the_value_through_faults(
    server: NodeServer,
) -> None:
    settings = Settings(
        stage="test", rules=BlockRules(difficulty=8, block_pattern="XEN"), network_url=server.url
    )
    admin = NodeAdmin(server.url)
    with mock_aws():
        tables = Tables(settings)
        create_tables(tables)
        jobs = Jobs(settings, tables, RecordingPublisher())
        assert isinstance(jobs.node, HttpXenBlocksNode)
        assert jobs.follow_network(NOW).status == "unchanged"  # 8, as the fallback
        admin.set_difficulty(16)
        run = jobs.follow_network(NOW + 60)
        assert (run.status, run.previous, run.difficulty) == ("changed", 8, 16)
        admin.fault("/difficulty", "error", status=502)
        failed = jobs.follow_network(NOW + 120)
        assert (failed.status, failed.difficulty) == ("failed", 16)
        state = NetworkRepository(tables).state()
        assert state is not None
        assert (state.difficulty, state.failures, state.checked_at) == (16, 1, NOW + 60)
        assert [c.difficulty for c in state.changes] == [16, 8]
