"""What each Lambda imports at its cold start: only what its handler needs on every request.

``bench/coldstart.py`` times these imports from the built bundle; these tests keep the
heavy packages off the paths that do not need them (each in a fresh interpreter).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from protocol.jsonlimits import SAFE_RECURSION_LIMIT
from tests.infra.conftest import ROOT

WEB = {"fastapi", "starlette", "mangum", "functions.api.routers"}
SIGN_IN = {"eth_account", "py_ecc", "eth_keys"}
# Signing and sending transactions: the payouts job's alone (issue #24).
CHAIN = {"web3", "rlp", "functions.logic.evm_tx", "functions.ports.kms_signer"}
# Handler module → what must not be imported when it is.
NOT_AT_COLD_START = {
    "functions.handlers.api": SIGN_IN | CHAIN,
    "functions.handlers.jobs": WEB | SIGN_IN | CHAIN,
    "functions.handlers.live": WEB | SIGN_IN | CHAIN,
    "functions.handlers.ingest": WEB | SIGN_IN | CHAIN,
    "functions.handlers.alerts": WEB | SIGN_IN | CHAIN,
    # The deposit watcher (issue #24): web3.py comes with its first run's port, no web.
    "functions.handlers.deposits": WEB | SIGN_IN | CHAIN,
    # The payouts job: its transaction encoding at import; web3 and KMS at its first run.
    "functions.handlers.payouts": WEB | SIGN_IN | {"web3", "functions.ports.kms_signer"},
}


def _run(code: str) -> str:
    result = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("module", sorted(NOT_AT_COLD_START))
def test_a_cold_start_imports_only_what_its_handler_needs(module: str) -> None:
    unwanted = sorted(NOT_AT_COLD_START[module])
    code = (
        f"import json, sys, {module}\n"
        f"print(json.dumps([m for m in {unwanted!r} if m in sys.modules]))"
    )
    assert json.loads(_run(code)) == []


def test_the_fleet_jobs_broadcast_needs_no_web_framework() -> None:
    # The fleet job pushes the public figures through the live service: it builds no view
    # of the HTTP API, so FastAPI stays out of the scheduled jobs entirely.
    code = (
        "import json, sys\n"
        "from functions.handlers import jobs, live\n"
        "from functions.logic.live_updates import fleet_message\n"
        "fleet_message({'hashrate': 1.0}, as_of=1, now=2.0)\n"
        f"print(json.dumps([m for m in {sorted(WEB)!r} if m in sys.modules]))"
    )
    assert json.loads(_run(code)) == []


# A provider with a leased worker, a verified block and an alert: every view a frame holds.
LIVE_PROBE = textwrap.dedent(
    """
    import json, sys
    from moto import mock_aws
    from pydantic import SecretStr

    from functions.handlers import live as handler
    from functions.logic.tokens import issue_token

    after_import = sorted(m for m in WEB if m in sys.modules)

    from functions.dal.accounts import AccountRepository
    from functions.dal.alerts import AlertRepository
    from functions.dal.blocks import BlockRepository
    from functions.dal.leases import LeaseRepository
    from functions.dal.specs import ALERTS, BLOCKS, LEASES, WORKERS
    from functions.dal.tables import Tables, create_tables
    from functions.local.lambda_context import LocalLambdaContext
    from functions.local.streams import StreamTap
    from functions.logic.live_updates import LiveService
    from functions.models.alerts import AlertEvent, AlertKind, DeliveryStatus
    from functions.models.blocks import Block
    from functions.ports.broadcast import RecordingBroadcaster
    from functions.settings import Settings
    from protocol.xenblocks import BlockKind
    from tests.factories import NOW, PROVIDER, RENTER, lease_for, open_listing

    SECRET = "s" * 48
    context = LocalLambdaContext(function_name="live")
    with mock_aws():
        settings = Settings(stage="test", jwt_secret=SecretStr(SECRET))
        tables = Tables(settings)
        create_tables(tables)
        broadcaster = RecordingBroadcaster()
        service = LiveService(settings, tables, broadcaster, clock=lambda: float(NOW))
        handler.configure(service)
        records = []
        names = [tables.name(spec) for spec in (WORKERS, LEASES, BLOCKS, ALERTS)]
        tap = StreamTap(names, records.extend, region=settings.aws_region)
        tap.start()
        listing = open_listing(tables, owner=PROVIDER)
        AccountRepository(tables).deposit(RENTER, 10**8, entry_id="fund", now=NOW)
        lease = LeaseRepository(tables).create(lease_for(listing), listing)
        BlockRepository(tables).record(
            Block(
                hash="AAAA" * 4, worker_id=listing.worker_id, owner=PROVIDER,
                lease_id=lease.lease_id, account=RENTER, key="ab" * 32, difficulty=8,
                attempts=1000, reported_hashrate=100.0, kind=BlockKind.NORMAL, verified=True,
                reason="normal", found_at=NOW, recorded_at=NOW,
            )
        )
        AlertRepository(tables).fire(
            AlertEvent(
                event_id="e1", rule_id="r1", rule_name="hot", owner=PROVIDER,
                worker_id=listing.worker_id, kind=AlertKind.TEMPERATURE, message="hot",
                value=91.0, threshold=85.0, ts=NOW, delivery=DeliveryStatus.NONE,
                expires_at=NOW + 86_400,
            ),
            cooldown_seconds=3600,
        )
        tap.stop()
        token = issue_token(PROVIDER, secret=SECRET, now=NOW, ttl=3600)
        route = {"requestContext": {"connectionId": "c1"}}
        connect = {**route, "queryStringParameters": {"token": token}}
        assert handler.connect_handler(connect, context)["statusCode"] == 200
        ask = {**route, "body": '{"action": "snapshot"}'}
        handler.default_handler(ask, context)
        handler.stream_handler({"Records": records}, context)
    frames = [json.loads(frame) for _, frame in broadcaster.sent]
    snapshot = frames[0]["data"]
    sent = [m["type"] for f in frames[1:] for m in (f["data"] if f["type"] == "batch" else [f])]
    print(json.dumps({
        "after_import": after_import,
        "after_snapshot": sorted(m for m in WEB if m in sys.modules),
        "snapshot": [len(snapshot[k]) for k in ("workers", "leases", "blocks")],
        "sent": sorted(set(sent)),
    }))
    """
)


def test_a_live_snapshot_and_fan_out_load_no_web_framework() -> None:
    # The views a live frame carries are plain pydantic (functions/models/views.py): building
    # a snapshot and turning table changes into frames loads no web framework either.
    found = json.loads(_run(f"WEB = {sorted(WEB)!r}\n{LIVE_PROBE}"))
    # The probe built every view: the provider's worker, its lease, the verified block.
    assert found["snapshot"] == [1, 1, 1]
    assert found["sent"] == ["alert", "block", "lease", "worker"]
    assert found["after_import"] == []
    assert found["after_snapshot"] == []


def test_verifying_a_sign_in_loads_eth_account_and_puts_the_recursion_limit_back() -> None:
    key = "0x" + "11" * 32
    message = "example.org wants you to sign in"
    signed = Account.sign_message(encode_defunct(text=message), private_key=key)
    code = (
        "import json, sys\n"
        "from functions.logic.siwe import recover_signer\n"
        "before = 'eth_account' in sys.modules\n"
        f"signer = recover_signer({message!r}, {signed.signature.hex()!r})\n"
        "print(json.dumps([before, 'eth_account' in sys.modules, signer, "
        "sys.getrecursionlimit()]))"
    )
    before, after, signer, limit = json.loads(_run(code))
    assert (before, after) == (False, True)
    assert signer == Account.from_key(key).address
    # py_ecc raised the limit to 100,000 when it was imported; siwe put it back.
    assert limit <= SAFE_RECURSION_LIMIT
