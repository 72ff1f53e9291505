"""The live functions never load the web framework: not at their cold start, and not when
they build a snapshot or turn table changes into frames (the views they send are plain
pydantic models, ``functions/models/views.py``). Each check runs in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
WEB = ("fastapi", "starlette", "functions.api.routers", "functions.api.app")

# A provider with a leased worker, a verified block and an alert: every view a frame holds.
PROBE = textwrap.dedent(
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


def test_a_snapshot_and_a_fan_out_load_no_web_framework() -> None:
    result = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", f"WEB = {WEB!r}\n{PROBE}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    # The probe built every view: the provider's worker, its lease, the verified block.
    assert found["snapshot"] == [1, 1, 1]
    assert found["sent"] == ["alert", "block", "lease", "worker"]
    assert found["after_import"] == []
    assert found["after_snapshot"] == []
