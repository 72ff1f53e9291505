"""``xenblocks local --miners 2`` as a newcomer runs it: live updates from real CPU miners.

The stack runs as a subprocess. The test signs in as the local provider (its key is in the
state directory), watches the WebSocket, rents one of the miners as a new renter, and sees
the lease and a block mined for it arrive live. Ctrl-C must then leave nothing running.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from websockets.sync.client import ClientConnection, connect

from miner.enrolment.platform import PlatformApi
from tests.wallet import Wallet


class LiveFeed:
    """A signed-in WebSocket, unpacking batch frames into messages."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], what: str, timeout: float
    ) -> dict[str, Any]:
        for message in self.seen:
            if predicate(message):
                return message
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                frame = json.loads(self.ws.recv(timeout=left))
            except TimeoutError:
                break
            for message in frame["data"] if frame["type"] == "batch" else [frame]:
                self.seen.append(message)
                if predicate(message):
                    return message
        raise AssertionError(f"no {what} within {timeout:.0f}s; saw {self._summary()}")

    def _summary(self) -> str:
        return ", ".join(m["type"] for m in self.seen[-30:]) or "nothing"


@pytest.fixture
def platform(start_platform: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return start_platform("--miners=2", "--difficulty=8", "--block-pattern=XEN1")


def test_two_local_miners_stream_heartbeats_a_lease_and_a_block(platform: dict[str, Any]):
    api, miners = platform["api_url"], set(platform["miners"])
    assert platform["ws_url"].startswith("ws://")
    key = Path(platform["provider_key_path"]).read_text().strip()
    provider_token = PlatformApi(api).sign_in_with_key(key)

    with connect(f"{platform['ws_url']}/?token={provider_token}", open_timeout=10) as ws:
        feed = LiveFeed(ws)
        snapshot = feed.wait_for(lambda m: m["type"] == "snapshot", "snapshot", 10)
        assert snapshot["data"]["subject"] == platform["provider_address"]

        heard: set[str] = set()

        def heartbeat_of_both(message: dict[str, Any]) -> bool:
            if message["type"] == "worker" and message["data"]["hashrate"] > 0:
                heard.add(message["data"]["worker_id"])
            return heard >= miners

        # Two CPU miners measure their first hashrate on a loaded 2-core machine: allow time.
        feed.wait_for(heartbeat_of_both, "worker events with a hashrate from both miners", 45)

        renter = Wallet()
        session = requests.Session()
        renter_token = PlatformApi(api).sign_in_with_key(bytes(renter.account.key).hex())
        session.headers["Authorization"] = f"Bearer {renter_token}"
        deposit = session.post(f"{api}/api/accounts/me/deposit", json={"amount": 100_000_000})
        assert deposit.status_code == 201, deposit.text
        listing = _wait_for_listing(session, api, miners)
        rented = session.post(
            f"{api}/api/leases", json={"listing_id": listing["listing_id"], "duration_sec": 900}
        )
        assert rented.status_code == 201, rented.text
        lease_id = rented.json()["lease_id"]

        lease = feed.wait_for(
            lambda m: m["type"] == "lease" and m["data"]["lease_id"] == lease_id, "lease event", 10
        )
        assert lease["data"]["renter"] == renter.address
        block = feed.wait_for(
            lambda m: m["type"] == "block" and m["data"]["account"] == renter.address,
            "a verified block mined for the renter",
            180,
        )
        assert block["data"]["worker_id"] == listing["worker_id"]


def _wait_for_listing(session: requests.Session, api: str, miners: set[str]) -> dict[str, Any]:
    """The stack lists each miner once it has measured a hashrate."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = session.get(f"{api}/api/marketplace", timeout=10)
        answer.raise_for_status()
        for item in answer.json()["items"]:
            if item["worker_id"] in miners:
                return dict(item)
        time.sleep(1)
    raise AssertionError("the local miners were never listed")
