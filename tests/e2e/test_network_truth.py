"""The network moves in the middle of a lease, and the platform and its rig follow it.

``xenblocks local --miners 1`` runs a CPU rig against the local XenBlocks node. A renter
rents it; the node's difficulty then rises mid-lease. The rig must follow within 60 s
(it reads the node every minute), every block it reports must carry the node's verdict,
blocks found after it followed must be accepted by the node, a report at the old difficulty
counts only within the grace, and no block the node refused may ever show as credited.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from functions.local.xenblocks_node import NodeAdmin
from miner.enrolment.platform import PlatformApi
from protocol.codec import encode
from protocol.messages import BlockFound
from protocol.topics import Uplink, topic
from protocol.xenblocks import compute_hash, generate_key
from tests.rig_session import rig_client
from tests.wallet import Wallet

START, RAISED = 8, 16
FOLLOW_SECONDS = 60
GRACE_SECONDS = 30  # the local stack's network grace (functions/local/stack.py)


@pytest.fixture
def platform(start_platform: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return start_platform("--miners=1", f"--difficulty={START}", "--block-pattern=XEN1")


def test_a_difficulty_rise_mid_lease_is_followed_and_billed_truthfully(
    platform: dict[str, Any], tmp_path: Path
):
    api = platform["api_url"]
    (worker_id,) = platform["miners"]
    renter = Wallet()
    session = requests.Session()
    token = PlatformApi(api).sign_in_with_key(bytes(renter.account.key).hex())
    session.headers["Authorization"] = f"Bearer {token}"
    assert session.post(f"{api}/api/accounts/me/deposit", json={"amount": 100_000_000}).ok
    listing = _wait(lambda: _listing_of(session, api, worker_id), "the rig listed", 90)
    rented = session.post(
        f"{api}/api/leases", json={"listing_id": listing["listing_id"], "duration_sec": 1800}
    )
    assert rented.status_code == 201, rented.text
    lease = rented.json()

    # Before the move: a block for the renter, accepted by the node.
    _wait(lambda: _blocks(session, api, lease["lease_id"], accepted_only=True), "a block", 240)

    NodeAdmin(platform["network_url"]).set_difficulty(RAISED)
    moved_at = time.time()

    # The rig follows within a minute (its heartbeats report the difficulty it mines at,
    # which its owner sees).
    provider = requests.Session()
    provider_key = Path(platform["provider_key_path"]).read_text().strip()
    provider.headers["Authorization"] = f"Bearer {PlatformApi(api).sign_in_with_key(provider_key)}"
    _wait(
        lambda: _worker(provider, api, worker_id)["owner_view"]["difficulty"] == RAISED,
        f"the rig mining at {RAISED}",
        FOLLOW_SECONDS + 10,
    )
    assert time.time() - moved_at <= FOLLOW_SECONDS + 10

    # After it followed: a block found at the new difficulty, accepted by the node.
    def raised_block() -> list[dict[str, Any]]:
        return [
            b
            for b in _blocks(session, api, lease["lease_id"], accepted_only=True)
            if b["difficulty"] == RAISED
        ]

    _wait(raised_block, f"an accepted block at {RAISED}", 300)

    # A report at the old difficulty past the grace is refused as below the network's
    # difficulty (before any hashing). Published as the rig, then read back from the lease.
    while time.time() - moved_at < GRACE_SECONDS + 16:  # the job reads every 15 s
        time.sleep(1)
    late = _report_at(platform, lease, worker_id, START, tmp_path)
    refused = _wait(
        lambda: [b for b in _all_blocks(session, api, lease["lease_id"]) if b["hash"] == late],
        "the late report on record",
        30,
    )[0]
    assert refused["verified"] is False
    assert refused["reason"] == "below_difficulty"

    # Every block the rig reported carries the node's answer, and none the node refused is
    # shown as credited; blocks found at the new difficulty were all accepted.
    def settled_verdicts() -> list[dict[str, Any]]:
        blocks = [b for b in _all_blocks(session, api, lease["lease_id"]) if b["verified"]]
        pending = [b for b in blocks if b["network_status"] == "unconfirmed"]
        return blocks if blocks and not pending else []

    blocks = _wait(settled_verdicts, "the node's verdict on every block", 60)
    for block in blocks:
        if block["network_status"] == "refused":
            assert block["network_accepted"] is False
        if block["difficulty"] == RAISED:
            assert block["network_accepted"] is True, block
    node_blocks = requests.get(
        f"{platform['network_url']}/blocks", params={"account": renter.address}, timeout=10
    ).json()["items"]
    credited = {b["hash"] for b in blocks if b["network_accepted"]}
    assert credited <= {item["hash_to_verify"].rsplit("$", 1)[1] for item in node_blocks}


def _report_at(
    platform: dict[str, Any], lease: dict[str, Any], worker_id: str, m: int, probe_dir: Path
) -> str:
    """Publish, as the rig, a block report at memory cost ``m`` for the lease; its hash."""
    fleet = Path(platform["provider_key_path"]).parent / "fleet"
    folder = next(
        path.parent
        for path in fleet.glob("*/worker.json")
        if json.loads(path.read_text())["worker_id"] == worker_id
    )
    key = generate_key(lease["prefix"])
    hash_b64 = compute_hash(key, lease["renter"], m)
    report = BlockFound(
        worker_id=worker_id,
        lease_id=lease["lease_id"],
        hash=hash_b64,
        key=key,
        account=lease["renter"],
        attempts=1,
        hashrate="1.0",
        timestamp=int(time.time()),
        difficulty=m,
    )
    # Its own client id: the rig itself stays connected (the certificate is what the
    # broker's ACL binds to the rig's topics).
    with rig_client(
        probe_dir,
        worker_id=f"{worker_id}-probe",
        certificate_pem=(folder / "certificate.pem").read_text(),
        key_pem=(folder / "private.key").read_text(),
        ca_pem=(folder / "ca.pem").read_text(),
        host=platform["mqtt_host"],
        port=platform["mqtt_port"],
    ) as rig:
        rig.publish(topic(worker_id, Uplink.BLOCK), encode(report))
    return hash_b64


def _listing_of(session: requests.Session, api: str, worker_id: str) -> dict[str, Any] | None:
    items = session.get(f"{api}/api/marketplace", timeout=10).json()["items"]
    return next((item for item in items if item["worker_id"] == worker_id), None)


def _worker(session: requests.Session, api: str, worker_id: str) -> dict[str, Any]:
    answer = session.get(f"{api}/api/workers/{worker_id}", timeout=10)
    answer.raise_for_status()
    return dict(answer.json())


def _all_blocks(session: requests.Session, api: str, lease_id: str) -> list[dict[str, Any]]:
    answer = session.get(f"{api}/api/leases/{lease_id}/blocks", params={"limit": 200}, timeout=10)
    answer.raise_for_status()
    return list(answer.json()["items"])


def _blocks(
    session: requests.Session, api: str, lease_id: str, *, accepted_only: bool
) -> list[dict[str, Any]]:
    blocks = [b for b in _all_blocks(session, api, lease_id) if b["verified"]]
    return [b for b in blocks if b["network_accepted"]] if accepted_only else blocks


def _wait(probe: Callable[[], Any], what: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"no {what} within {timeout:.0f} s")
