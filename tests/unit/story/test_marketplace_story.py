"""The whole business, as AWS runs it: API Gateway v2 events through Mangum, IoT rule events
through the ingest Lambda, EventBridge events through the settlement Lambda, all on moto.

Provider and renter sign in with their wallets; the provider enrols and lists a rig; an
admin credits the renter; the renter rents; the rig mines real shares and a block for the
lease; the lease expires and settles; every balance is exact to the micro-credit.
"""

from __future__ import annotations

import json
import math
import re
import time
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iot.models import IoTBackend
from moto.iotdata.models import iotdata_backends

from functions.dal.accounts import AccountRepository
from functions.dal.tables import Tables, create_tables
from functions.handlers import api, ingest, jobs
from functions.local.lambda_context import LocalLambdaContext
from functions.models.accounts import TREASURY
from functions.ports.aws_iot import device_policy_document
from functions.ports.csr import generate_key_and_csr
from functions.routing import IngestEvent, route_named
from functions.settings import Settings, load_settings
from protocol.shares import SharePattern
from tests.api_gateway import GatewayClient
from tests.mining import is_normal_block, mine
from tests.moto_iot import _create_certificate_from_csr_like_aws
from tests.wallet import Wallet

REGION = "us-east-1"
PRICE = 1_000_003  # micro-credits per hour: an awkward price, so rounding shows
DURATION = 3000
HASHRATE = 2.0  # H/s: small, so the test mines the shares an honest rig would send
DIFFICULTY = 8

provider, renter, admin = Wallet.numbered(11), Wallet.numbered(12), Wallet.numbered(13)


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setattr(
        IoTBackend, "create_certificate_from_csr", _create_certificate_from_csr_like_aws
    )
    with mock_aws():
        secret_arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="jwt", SecretString="story-secret-story-secret-story-secret!"
        )["ARN"]
        boto3.client("iot", region_name=REGION).create_policy(
            policyName="devices",
            policyDocument=json.dumps(
                device_policy_document(region=REGION, account=DEFAULT_ACCOUNT_ID)
            ),
        )
        env = {
            "XENBLOCKS_STAGE": "prod",
            "XENBLOCKS_JWT_SECRET_ARN": secret_arn,
            "XENBLOCKS_IOT_POLICY_NAME": "devices",
            # moto's iot-data answers on this host only (not on per-account endpoints).
            "XENBLOCKS_MQTT_HOST": f"data-ats.iot.{REGION}.amazonaws.com",
            "XENBLOCKS_ADMIN_ADDRESSES": admin.address,
            "XENBLOCKS_RULES__DIFFICULTY": str(DIFFICULTY),
            "XENBLOCKS_RULES__BLOCK_PATTERN": "XEN",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        load_settings.cache_clear()
        create_tables(Tables(Settings()))
        for module in (api,):
            monkeypatch.setattr(module, "_handler", None)
        ingest.configure(None)
        jobs.configure(None)
        yield Tables(load_settings())
        ingest.configure(None)
        jobs.configure(None)
    load_settings.cache_clear()


def rig_says(route: str, worker_id: str, payload: dict, at: int) -> dict:
    event = IngestEvent(route_named(route), worker_id, json.dumps(payload).encode(), at * 1000)
    return ingest.handler(event.to_event(), LocalLambdaContext(function_name="ingest"))


def published(topic_suffix: str) -> list[dict]:
    backend = iotdata_backends[DEFAULT_ACCOUNT_ID][REGION]
    return [json.loads(p) for t, p in backend.published_payloads if t.endswith(topic_suffix)]


def test_sign_in_enrol_list_fund_rent_mine_expire_settle(aws):
    client = GatewayClient(api.handler)
    as_provider = {"Authorization": f"Bearer {provider.sign_in(client)}"}
    as_renter = {"Authorization": f"Bearer {renter.sign_in(client)}"}
    as_admin = {"Authorization": f"Bearer {admin.sign_in(client)}"}
    assert client.get("/api/auth/me", headers=as_admin).json()["is_admin"] is True

    # The provider enrols a rig with its own key; the rig registers and heartbeats.
    _, csr_pem = generate_key_and_csr("rig")
    enrolled = client.post("/api/devices", json={"csr_pem": csr_pem}, headers=as_provider)
    assert enrolled.status_code == 201, enrolled.text
    worker_id = enrolled.json()["worker_id"]
    t0 = int(time.time())
    register = {
        "worker_id": worker_id,
        "eth_address": provider.address,
        "gpu_count": 1,
        "total_memory_gb": 24,
        "gpus": [{"index": 0, "name": "RTX 4090", "memory_gb": 24, "bus_id": 1}],
        "version": "2.0.0",
        "timestamp": t0,
    }
    assert rig_says("register", worker_id, register, t0)["accepted"]
    heartbeat = {
        "worker_id": worker_id,
        "hashrate": HASHRATE,
        "active_gpus": 1,
        "accepted_blocks": 0,
        "difficulty": DIFFICULTY,
        "uptime_sec": 60,
        "timestamp": t0,
    }
    # Summaries are written once per slot (the deployed one): a slot of 30 s heartbeats
    # writes one.
    slot = load_settings().heartbeat_write_seconds
    for beat in range(slot // 30 + 1):
        assert rig_says("heartbeat", worker_id, heartbeat, t0 - slot + 30 * beat)["accepted"]

    # It is listed at its measured hashrate.
    listing = client.post(
        "/api/listings",
        json={"worker_id": worker_id, "price_per_hour": PRICE, "min_duration_sec": 600},
        headers=as_provider,
    )
    assert listing.status_code == 201, listing.text
    assert listing.json()["advertised_hashrate"] == HASHRATE
    listing_id = listing.json()["listing_id"]

    # A deployed stage has no faucet: an admin credits the renter.
    assert (
        client.post(
            "/api/accounts/me/deposit", json={"amount": 10_000_000}, headers=as_renter
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/api/accounts/{renter.address}/deposit",
            json={"amount": 10_000_000},
            headers=as_renter,
        ).status_code
        == 403
    )
    credited = client.post(
        f"/api/accounts/{renter.address}/deposit", json={"amount": 10_000_000}, headers=as_admin
    )
    assert credited.status_code in (200, 201), credited.text

    # Rent: the maximum cost goes into escrow and the rig gets its task over IoT Core.
    rented = client.post(
        "/api/leases",
        json={"listing_id": listing_id, "duration_sec": DURATION},
        headers={**as_renter, "Idempotency-Key": "story-rent-1"},
    )
    assert rented.status_code == 201, rented.text
    lease = rented.json()
    max_cost = math.ceil(PRICE * DURATION / 3600)
    assert lease["max_cost"] == lease["escrow"] == max_cost == 833_336
    task = published(f"{worker_id}/task")[-1]
    assert (task["command"], task["lease_id"], task["prefix"]) == (
        "assign_task",
        lease["lease_id"],
        lease["prefix"],
    )
    assert client.get("/api/accounts/me", headers=as_renter).json()["balance"] == (
        10_000_000 - max_cost
    )

    # The rig mines for the renter under the lease's prefix: the shares an honest rig at
    # its advertised rate sends, and one block.
    pattern = SharePattern.parse(lease["share_pattern"])
    honest_shares = math.ceil(HASHRATE * DURATION / pattern.expected_hashes())
    created = lease["created_at"]
    for n in range(honest_shares):
        key, found = mine(renter.address, DIFFICULTY, pattern.matches, prefix=lease["prefix"])
        at = created + (n + 1) * (DURATION - 10) // honest_shares
        share = {
            "worker_id": worker_id,
            "lease_id": lease["lease_id"],
            "hash": found,
            "key": key,
            "account": renter.address,
            "difficulty": DIFFICULTY,
            "timestamp": at,
        }
        assert rig_says("share", worker_id, share, at) == {"accepted": True, "reason": "verified"}
    key, block_hash = mine(renter.address, DIFFICULTY, is_normal_block, prefix=lease["prefix"])
    block = {
        "worker_id": worker_id,
        "lease_id": lease["lease_id"],
        "hash": block_hash,
        "key": key,
        "account": renter.address,
        "attempts": 5000,
        "hashrate": str(HASHRATE),
        "timestamp": created + 100,
    }
    assert rig_says("block", worker_id, block, created + 101)["accepted"]
    blocks = client.get(f"/api/leases/{lease['lease_id']}/blocks", headers=as_renter).json()
    assert [(b["hash"], b["verified"]) for b in blocks["items"]] == [(block_hash, True)]

    # Before the end nothing settles; after it (and the grace for late shares) it does.
    ends_at = lease["ends_at"]
    too_early = datetime.fromtimestamp(ends_at - 60, UTC).isoformat()
    on_time = datetime.fromtimestamp(ends_at + 60, UTC).isoformat()
    context = LocalLambdaContext(function_name="settle")
    assert jobs.settle_handler({"time": too_early}, context)["settled"] == 0
    assert jobs.settle_handler({"time": on_time}, context)["settled"] == 1
    assert jobs.settle_handler({"time": on_time}, context)["settled"] == 0  # idempotent

    fee = max_cost * 500 // 10_000
    settled = client.get(f"/api/leases/{lease['lease_id']}", headers=as_renter).json()
    assert settled["status"] == "settled"
    assert (settled["payout"], settled["fee"], settled["refund"]) == (max_cost - fee, fee, 0)
    assert settled["blocks"] == 1
    assert client.get("/api/accounts/me", headers=as_renter).json()["balance"] == (
        10_000_000 - max_cost
    )
    assert client.get("/api/accounts/me", headers=as_provider).json()["balance"] == (max_cost - fee)
    assert AccountRepository(aws).get(TREASURY).balance == fee == 41_666
    release = published(f"{worker_id}/task")[-1]
    assert re.fullmatch(r"[0-9a-f]{32}", release.pop("correlation_id"))  # the run's own
    assert release == {"command": "release", "lease_id": lease["lease_id"]}
    # The listing is back on the market.
    assert client.get(f"/api/listings/{listing_id}").json()["status"] == "open"
