"""What each Lambda imports at its cold start: only what its handler needs on every request.

``bench/coldstart.py`` times these imports from the built bundle; these tests keep the
heavy packages off the paths that do not need them (each in a fresh interpreter).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from protocol.jsonlimits import SAFE_RECURSION_LIMIT
from tests.infra.conftest import ROOT

WEB = {"fastapi", "starlette", "mangum", "functions.api.routers"}
SIGN_IN = {"eth_account", "py_ecc", "eth_keys"}
# Handler module → what must not be imported when it is.
NOT_AT_COLD_START = {
    "functions.handlers.api": SIGN_IN,
    "functions.handlers.jobs": WEB | SIGN_IN,
    "functions.handlers.live": WEB | SIGN_IN,
    "functions.handlers.ingest": WEB | SIGN_IN,
    "functions.handlers.alerts": WEB | SIGN_IN,
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
