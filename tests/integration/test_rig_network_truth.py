"""The rig against a real (local) XenBlocks node over HTTP (issue #19): it mines at the
node's difficulty, a 401 naming the memory cost switches it at once, a duplicate counts
as accepted, and the node's verdict on every block goes to the platform after the block."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from functions.local.xenblocks_node import (
    ALREADY_EXISTS,
    SAVED,
    NodeAdmin,
    NodeServer,
)
from miner.network import XenBlocksNetwork
from miner.outbox import Outbox
from miner.rig import NETWORK, PLATFORM, Rig, RigSettings
from miner.search import Find, FindKind
from protocol.codec import encode, parse_uplink
from protocol.downlink import RegisterAck
from protocol.topics import Downlink, Uplink
from protocol.uplink import NetworkStatus, NetworkVerdict
from protocol.xenblocks import BlockKind, BlockRules, argon2_raw, b64_nopad
from tests.factories import PROVIDER
from tests.mining import is_normal_block, mine
from tests.unit.miner.test_rig import FakeConnection, fake_rig

PATTERN = "XEN"
WORKER = "rig-truth"


@pytest.fixture
def rig(server: NodeServer, tmp_path: Path) -> Iterator[tuple[Rig, FakeConnection]]:
    settings = RigSettings(
        worker_id=WORKER,
        owner=PROVIDER,
        rules=BlockRules(difficulty=8, block_pattern=PATTERN),
        network_poll_seconds=60,
    )
    with (
        Outbox(tmp_path / "outbox.sqlite3") as outbox,
        XenBlocksNetwork(server.url, retries=0, sleep=lambda _: None) as network,
    ):
        rig = fake_rig(settings, outbox, network)
        connection = FakeConnection()
        rig.connection = connection
        yield rig, connection


def _block(rig: Rig) -> Find:
    job = rig.engine.job
    assert job is not None

    def accept(hash_b64: str) -> bool:
        return is_normal_block(hash_b64, PATTERN) and "XUNI" not in hash_b64

    key, hash_b64 = mine(job.address, job.difficulty, accept)
    return Find(
        job=job,
        kind=FindKind.BLOCK,
        key=key,
        hash_b64=hash_b64,
        raw=argon2_raw(key, job.salt, job.difficulty),
        found_at=datetime.now(UTC),
        block_kind=BlockKind.NORMAL,
    )


def _verdicts(connection: FakeConnection) -> list[Any]:
    return [
        parse_uplink(Uplink.VERDICT, payload)
        for topic_name, payload in connection.delivered
        if topic_name.endswith("/verdict")
    ]


def test_the_rig_follows_the_node_and_reports_its_verdicts(
    server: NodeServer, rig: tuple[Rig, FakeConnection]
) -> None:
    the_rig, connection = rig
    admin = NodeAdmin(server.url)
    the_rig.on_message(Downlink.TASK, encode(RegisterAck(accepted=True, difficulty=12)))
    the_rig.tick()  # reads the node: 8 beats the platform's 12
    job = the_rig.engine.job
    assert job is not None
    assert (job.difficulty, the_rig.difficulty_source) == (8, "network")

    saved = _block(the_rig)
    the_rig._found(saved)
    the_rig._deliver_network()
    # The same block again, as after a retry whose answer was lost: "already exists".
    the_rig._found(saved)
    the_rig._deliver_network()

    stale = _block(the_rig)  # mined at 8 ...
    admin.set_difficulty(16)  # ... when the network moves
    the_rig._found(stale)
    the_rig._deliver_network()
    job = the_rig.engine.job
    assert job is not None
    assert job.difficulty == 16  # at once: not at the next minute's read

    the_rig._deliver_platform()
    assert the_rig.outbox.count(NETWORK) == the_rig.outbox.count(PLATFORM) == 0
    kinds = [topic_name.rsplit("/", 1)[1] for topic_name, _ in connection.delivered]
    assert kinds == ["block", "verdict", "block", "verdict", "block", "verdict"]
    accepted, duplicate, refused = _verdicts(connection)
    assert all(isinstance(v, NetworkVerdict) for v in (accepted, duplicate, refused))
    assert (accepted.status, accepted.http_status, accepted.message) == (
        NetworkStatus.ACCEPTED,
        200,
        SAVED,
    )
    assert (duplicate.status, duplicate.http_status, duplicate.message) == (
        NetworkStatus.DUPLICATE,
        400,
        ALREADY_EXISTS,
    )
    assert accepted.hash == duplicate.hash == b64_nopad(saved.raw)
    assert (refused.status, refused.http_status) == (NetworkStatus.REFUSED, 401)
    assert refused.message is not None
    assert refused.message.startswith("Hash does not contain 'm=16'.")
    assert (refused.difficulty, refused.network_difficulty) == (8, 16)
    counters = the_rig.counters
    assert (counters.accepted, counters.duplicates, counters.refused) == (2, 1, 1)


def test_an_unreachable_node_leaves_the_platform_difficulty_and_says_so(
    server: NodeServer, rig: tuple[Rig, FakeConnection]
) -> None:
    the_rig, connection = rig
    admin = NodeAdmin(server.url)
    admin.fault("*", "error", count=1000, status=503)
    the_rig.on_message(Downlink.TASK, encode(RegisterAck(accepted=True, difficulty=12)))
    the_rig.tick()
    job = the_rig.engine.job
    assert job is not None
    assert (job.difficulty, the_rig.difficulty_source) == (12, "platform")

    found = _block(the_rig)
    the_rig._found(found)
    the_rig._deliver_network()
    the_rig._deliver_platform()
    assert the_rig.outbox.count(NETWORK) == 1  # kept, retried later
    (verdict,) = _verdicts(connection)
    assert (verdict.status, verdict.http_status, verdict.difficulty) == (
        NetworkStatus.UNREACHABLE,
        None,
        12,
    )
    admin.clear_faults()
