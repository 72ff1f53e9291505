"""The local XenBlocks node on a real port, driven by the rig's own network client
(``miner.network.XenBlocksNetwork``): a block mined at easy local rules is verified and saved,
the node's refusals and faults reach the client as on the network, and ``xenblocks node``
runs as its own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from functions.local.xenblocks_node import (
    ALREADY_EXISTS,
    SAVED,
    NodeAdmin,
    NodeServer,
)
from miner.network import NetworkError, XenBlocksNetwork
from protocol.addresses import salt_bytes
from protocol.xenblocks import argon2_raw
from tests.factories import PROVIDER
from tests.http_json import call
from tests.local_stack import free_port
from tests.mining import is_normal_block, mine

# What the tests mine (`xenblocks local --block-pattern XEN`): its default, XEN1, takes a
# CPU about 200,000 hashes a block, too slow for a test.
PATTERN = "XEN"
ROOT = Path(__file__).resolve().parents[2]


def _client(url: str, **options: Any) -> XenBlocksNetwork:
    return XenBlocksNetwork(url, sleep=lambda _: None, **options)


def _submit(network: XenBlocksNetwork, key: str, difficulty: int, address: str = PROVIDER) -> Any:
    return network.submit_block(
        hash_raw=argon2_raw(key, salt_bytes(address), difficulty),
        salt=salt_bytes(address),
        difficulty=difficulty,
        key=key,
        account=address,
        attempts=4096,
        hashes_per_second=2500.0,
        worker="rig-1",
    )


def _mined(difficulty: int) -> str:
    def accept(hash_b64: str) -> bool:
        return is_normal_block(hash_b64, PATTERN) and "XUNI" not in hash_b64

    key, _ = mine(PROVIDER, difficulty, accept)
    return key


def test_a_block_mined_at_the_local_rules_is_verified_and_saved(server: NodeServer):
    with _client(server.url) as network:
        assert network.difficulty() == 8
        key = _mined(8)
        accepted = _submit(network, key, 8)
        assert (accepted.accepted, accepted.status, accepted.message) == (True, 200, SAVED)
        again = _submit(network, key, 8)
        # The node's word on a duplicate (the client counts it as the block's acceptance).
        assert (again.status, again.message) == (400, ALREADY_EXISTS)

    entry = call(f"{server.url}/v1/leaderboard/{PROVIDER}")
    assert (entry["account"], entry["blocks"], entry["superBlocks"]) == (PROVIDER, 1, 0)
    stored = call(f"{server.url}/get_block?key={key}")
    assert stored["account"] == PROVIDER.lower()
    assert f"m=8,t=1,p=1${stored['hash_to_verify'].split('$')[4]}$" in stored["hash_to_verify"]


def test_a_moved_difficulty_reaches_the_client_and_refuses_old_work(server: NodeServer):
    admin = NodeAdmin(server.url)
    key = _mined(8)
    admin.set_difficulty(16)
    with _client(server.url) as network:
        assert network.difficulty() == 16
        refused = _submit(network, key, 8)
        assert (refused.accepted, refused.status) == (False, 401)
        assert refused.message.startswith("Hash does not contain 'm=16'.")
        admin.schedule([(0.3, 24)])
        deadline = time.monotonic() + 5
        while network.difficulty() != 24:
            assert time.monotonic() < deadline, "the scheduled step never came"
            time.sleep(0.05)
        assert admin.state()["schedule"] == []


def test_injected_faults_look_like_the_network_failing(server: NodeServer):
    admin = NodeAdmin(server.url)
    key = _mined(8)
    # Two 503s, then the block: the client retries through them.
    admin.fault("/verify", "error", count=2, status=503)
    with _client(server.url, retries=2) as network:
        assert _submit(network, key, 8).accepted
    # More 5xx than retries: the client gives up (the rig keeps the block in its outbox).
    admin.fault("/difficulty", "error", count=3, status=502)
    with _client(server.url, retries=1) as network, pytest.raises(NetworkError, match="502"):
        network.difficulty()
    admin.clear_faults()
    # A hang is a timeout to the client; a slow answer still arrives.
    admin.fault("/difficulty", "hang", seconds=3)
    with _client(server.url, retries=0, timeout=0.5) as network:
        started = time.monotonic()
        with pytest.raises(NetworkError, match="Timeout"):
            network.difficulty()
        assert time.monotonic() - started < 2.5
    admin.fault("*", "slow", seconds=0.4)
    with _client(server.url, retries=0, timeout=5) as network:
        started = time.monotonic()
        assert network.difficulty() == 8
        assert time.monotonic() - started >= 0.4
    admin.fault("/difficulty", "drop")
    with _client(server.url, retries=0) as network, pytest.raises(NetworkError):
        network.difficulty()


def test_xenblocks_node_runs_as_its_own_process(tmp_path: Path):
    port = free_port()
    command = [sys.executable, "-m", "tools.cli", "node", "--port", str(port)]
    command += ["--difficulty", "8", "--block-pattern", PATTERN, "--state-dir", str(tmp_path)]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith(f"XenBlocks node   http://127.0.0.1:{port}"), first
        url = f"http://127.0.0.1:{port}"
        with _client(url) as network:
            assert network.difficulty() == 8
            NodeAdmin(url).set_clock(minute=30)
            assert _submit(network, _mined(8), 8).accepted
        assert (tmp_path / "node.sqlite3").exists()
    finally:
        os.kill(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
