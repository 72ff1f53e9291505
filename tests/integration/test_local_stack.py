"""``xenblocks local`` on real ports: tables, broker, rule bridge and API working together."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest

from functions.dal.specs import ALL_TABLES
from functions.local.evm_node import ChainAdmin
from functions.local.stack import LocalOptions, PortInUse, run_local
from functions.logic.tokens import issue_token
from functions.ports.csr import generate_key_and_csr
from protocol.codec import encode, parse_task
from protocol.topics import Downlink, Uplink, topic
from tests.factories import PROVIDER, RENTER
from tests.http_json import call
from tests.local_stack import free_port
from tests.rig_session import gpuless_register, rig_client
from tests.waiting import wait_for
from tools.cli import main as reconcile_main


def test_the_local_stack_enrols_a_rig_and_ingests_what_it_publishes(tmp_path: Path):
    dashboard = tmp_path / "dist"
    (dashboard / "assets").mkdir(parents=True)
    (dashboard / "index.html").write_text("<!doctype html><title>dashboard</title>")
    (dashboard / "assets" / "app-1a2b.js").write_text("console.log(1)")
    options = LocalOptions(
        dashboard_dir=dashboard,
        dynamodb_port=free_port(),
        mqtt_port=free_port(),
        api_port=free_port(),
        ws_port=free_port(),
        node_port=free_port(),
        chain_port=free_port(),
        broker="amqtt",
        state_dir=tmp_path,
    )
    stop = threading.Event()
    runner = threading.Thread(target=run_local, args=(options,), kwargs={"stop": stop})
    runner.start()
    try:
        wait_for((tmp_path / "local.json").exists, "local.json", timeout=60)
        local = json.loads((tmp_path / "local.json").read_text())
        dynamodb = boto3.client(
            "dynamodb", endpoint_url=local["dynamodb_endpoint_url"], region_name="us-east-1"
        )
        assert set(dynamodb.list_tables()["TableNames"]) == {
            f"xenblocks-local-{t.name}" for t in ALL_TABLES
        }
        assert call(f"{local['api_url']}/api/health")["stage"] == "local"
        # The dashboard at the API's origin: its config, its files, deep links to the app.
        assert local["dashboard_url"] == f"{local['api_url']}/"
        config = call(f"{local['api_url']}/config.json")
        assert config["api_url"] == local["api_url"]
        assert config["ws_url"] == local["ws_url"]
        # The stack runs the local chain, so the Account page shows the deposit address.
        assert config["deposits"] is True
        # … and pays withdrawals on it from a hot wallet whose key is in moto's KMS.
        assert config["withdrawals_on_chain"] is True
        for path in ("/", "/renter", "/workers/rig-1"):
            with urllib.request.urlopen(local["api_url"] + path, timeout=10) as page:  # noqa: S310
                assert b"<title>dashboard</title>" in page.read()
        with urllib.request.urlopen(f"{local['api_url']}/assets/app-1a2b.js", timeout=10) as js:  # noqa: S310
            assert "immutable" in js.headers["Cache-Control"]
        with pytest.raises(urllib.error.HTTPError) as missing:
            call(f"{local['api_url']}/api/no-such-route")
        assert missing.value.code == 404
        # The local XenBlocks node: the network's /difficulty, at the local rules.
        assert local["network_url"] == f"http://127.0.0.1:{options.node_port}"
        assert call(f"{local['network_url']}/difficulty") == {
            "difficulty": str(local["difficulty"])
        }
        assert set(local["schedules"]) == {
            "settle",
            "fleet_stats",
            "prices",
            "reputation",
            "alerts",
            "network",
            "insights",
            "deposits",
            "payouts",
        }
        # The local chain and its stablecoin (issue #24): a transfer to an account's own
        # deposit address is credited once confirmed.
        assert (local["chain_id"], local["token_decimals"]) == (31337, 6)
        assert local["chain_rpc_url"] == f"http://127.0.0.1:{options.chain_port}"
        secret = (tmp_path / "jwt.secret").read_text().strip()
        renter = issue_token(RENTER, secret=secret, now=int(time.time()), ttl=600)
        target = call(f"{local['api_url']}/api/accounts/me/deposit-address", token=renter)
        assert (target["chain_id"], target["token_address"]) == (31337, local["token_address"])
        chain = ChainAdmin(local["chain_rpc_url"])
        chain.transfer(
            local["token_address"], local["chain_accounts"][1], target["deposit_address"], 5_000_000
        )

        def credited() -> bool:
            account = call(f"{local['api_url']}/api/accounts/me", token=renter)
            return bool(account["balance"] == 5_000_000)

        wait_for(credited, "the deposit credited", timeout=60, every=0.5)
        [deposit] = call(f"{local['api_url']}/api/accounts/me/deposits", token=renter)["items"]
        assert deposit["status"] == "credited"

        # Out again: a small withdrawal is paid on chain without an admin, and settles.
        paid = call(
            f"{local['api_url']}/api/accounts/me/withdraw", token=renter, body={"amount": 2_000_000}
        )["withdrawal"]
        assert (paid["status"], paid["approval"]) == ("queued", "auto")
        mine = f"{local['api_url']}/api/accounts/me/withdrawals"

        def settled() -> bool:
            return bool(call(mine, token=renter)["items"][0]["status"] == "settled")

        wait_for(settled, "the withdrawal settled", timeout=90, every=0.5)
        assert chain.balance_of(local["token_address"], RENTER) == 2_000_000
        assert local["hot_wallet_address"] == call(mine, token=renter)["items"][0]["hot_wallet"]
        # The ledger against the chain: nothing differs.
        assert reconcile_main(["reconcile", "--local-json", str(tmp_path / "local.json")]) == 0

        # Enrol through the API, as `xenblocks-miner enroll` will.
        secret = (tmp_path / "jwt.secret").read_text().strip()
        token = issue_token(PROVIDER, secret=secret, now=int(time.time()), ttl=600)
        key_pem, csr_pem = generate_key_and_csr("rig")
        enrolment = call(f"{local['api_url']}/api/devices", token=token, body={"csr_pem": csr_pem})
        worker_id = enrolment["worker_id"]
        assert (enrolment["mqtt_host"], enrolment["mqtt_port"]) == ("127.0.0.1", options.mqtt_port)
        with rig_client(
            tmp_path,
            worker_id=worker_id,
            certificate_pem=enrolment["certificate_pem"],
            key_pem=key_pem,
            ca_pem=enrolment["ca_pem"],
            host=local["mqtt_host"],
            port=local["mqtt_port"],
        ) as rig:
            acks: list[bytes] = []
            rig.subscribe(topic(worker_id, Downlink.TASK), lambda _t, payload: acks.append(payload))
            register = gpuless_register(worker_id)
            rig.publish(topic(worker_id, Uplink.REGISTER), encode(register))
            wait_for(lambda: bool(acks), "register_ack")
        assert parse_task(acks[0]).accepted
        item = dynamodb.get_item(
            TableName="xenblocks-local-workers", Key={"worker_id": {"S": worker_id}}
        )["Item"]
        assert item["online"] == {"BOOL": True}

        with pytest.raises(PortInUse):
            run_local(LocalOptions(dynamodb_port=options.dynamodb_port, state_dir=tmp_path / "2"))
    finally:
        stop.set()
        runner.join(timeout=30)
    assert not runner.is_alive()
