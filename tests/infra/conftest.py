"""One synthesis of the CDK app for the whole infra suite (it takes tens of seconds).

The synth runs the pinned CDK CLI (``npx cdk synth``, from ``npm ci``) when it is installed,
exactly as an operator would, and the app directly otherwise (the CLI-only test then skips).
It runs with ``xenblocks:dependencies=none`` so no pip install happens in tests, and with a
stand-in built dashboard so the assertions do not depend on the state of ``frontend/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.assembly import Assembly

ROOT = Path(__file__).resolve().parents[2]
CDK_CLI = ROOT / "node_modules" / ".bin" / "cdk"
STAGE = "ci"
ADMIN = "0x00000000000000000000000000000000000000a1"
SYNTH_TIMEOUT = 600
DEPOSIT_TOKEN = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
# BIP32 test vector 1's m/0'/1/2'/2: any valid xpub.
DEPOSIT_XPUB = (
    "xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37"
    "sR62cfN7fe5JnJ7dh8zL4fiyLHV"
)

CONTEXT = {
    "xenblocks:stage": STAGE,
    "xenblocks:dependencies": "none",
    "xenblocks:adminAddresses": ADMIN,
    "xenblocks:chainId": "8453",
    "xenblocks:alarmEmail": "ops@example.com",
    "xenblocks:alertEmailSender": "alerts@example.com",
    # On-chain deposits (issue #24): USDC on Base, a deposit wallet's xpub, a node.
    "xenblocks:depositChainId": "8453",
    "xenblocks:depositTokenAddress": DEPOSIT_TOKEN,
    "xenblocks:depositXpub": DEPOSIT_XPUB,
    "xenblocks:depositRpcUrl": "https://base.example.com/rpc",
    "xenblocks:depositConfirmations": "20",
    # On-chain withdrawals (issue #24): a hot wallet key the stack creates, a lower auto-pay.
    "xenblocks:withdrawalKmsKey": "create",
    "xenblocks:withdrawalAutoMax": "50000000",
}


@pytest.fixture(scope="session")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    if shutil.which("node") is None:
        pytest.skip("the CDK needs Node.js (scripts/dev test installs it)")
    work = tmp_path_factory.mktemp("cdk")
    dist = work / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html><title>stand-in</title>")
    # A config.json in the build must lose to the generated one.
    (dist / "config.json").write_text('{"api_url": "http://stale"}')
    out = work / "cdk.out"
    context = {**CONTEXT, "xenblocks:dashboardDir": str(dist)}
    env = {
        **os.environ,
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    }
    app = f"{sys.executable} -m infra.app"
    if CDK_CLI.exists():
        command = [str(CDK_CLI), "synth", "--quiet", "--app", app, "--output", str(out)]
        for key, value in context.items():
            command += ["--context", f"{key}={value}"]
        via_cli = True
    else:
        cdk_json = json.loads((ROOT / "cdk.json").read_text())
        env["CDK_OUTDIR"] = str(out)
        env["CDK_CONTEXT_JSON"] = json.dumps({**cdk_json["context"], **context})
        command = [sys.executable, "-m", "infra.app"]
        via_cli = False
    result = subprocess.run(  # noqa: S603 (our own command line)
        command,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SYNTH_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"synth failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
        )
    return Assembly.load(out, f"xenblocks-{STAGE}", via_cli=via_cli, output=result.stderr)
