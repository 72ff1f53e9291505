"""``xenblocks local`` takes its children with it however it dies, SIGKILL included.

Killed outright (the OOM killer, ``kill -9``, a crash) the stack stops nothing in order, so
its children must go by themselves: the broker, the local chain (hardhat) and the miners'
fleet on the kernel's parent-death signal or the fleet's lifeline pipe, and the fleet's
hashing workers after it.
Nothing of the state directory, and nothing of the miners' process group, may be left
running (the conftest's ``_assert_nothing_left``, which polls for a while).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
import requests

from tests.e2e.conftest import LocalPlatform, _assert_nothing_left, _survivors

RUNNING_TIMEOUT = 90  # seconds until the miner is listed: it hashed and reported a hashrate


@pytest.mark.parametrize("killed", ["the stack", "the stack and the fleet"])
def test_nothing_outlives_a_killed_stack(
    launch_platform: Callable[..., LocalPlatform], killed: str
) -> None:
    platform = launch_platform("--miners=1")
    miners_pid = int(platform.local["miners_pid"])
    _wait_until_listed(platform.local["api_url"], set(platform.local["miners"]))
    # The fleet, and its hashing workers: what would mine into nothing if left behind.
    assert len(_survivors(platform.state, miners_pid)) >= 3, _survivors(platform.state, None)

    # The local chain: a node process of its own, named by its port.
    chain_port = urlsplit(platform.local["chain_rpc_url"]).port
    chain = (f"hardhat/internal/cli/bootstrap.js node --hostname 127.0.0.1 --port {chain_port} ",)
    assert _survivors(platform.state, None, chain), "the local chain runs"

    if killed == "the stack and the fleet":
        os.kill(miners_pid, signal.SIGKILL)  # its workers are left on their own too
    platform.kill()

    _assert_nothing_left(platform.state, miners_pid, chain)


def _wait_until_listed(api: str, miners: set[str]) -> None:
    """The local stack lists a miner once it has hashed and reported a hashrate."""
    deadline = time.monotonic() + RUNNING_TIMEOUT
    while True:
        answer = requests.get(f"{api}/api/marketplace", timeout=10)
        answer.raise_for_status()
        if {item["worker_id"] for item in answer.json()["items"]} >= miners:
            return
        assert time.monotonic() < deadline, f"the miner was not listed in {RUNNING_TIMEOUT}s"
        time.sleep(0.5)
