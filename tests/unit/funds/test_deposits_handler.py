"""The deposit watcher's Lambda: one run at the schedule's time, its figures as metrics and
one log line; and ``xenblocks local --no-chain`` / ``xenblocks chain`` on the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from functions.dal.accounts import AccountRepository
from functions.dal.deposits import DepositRepository
from functions.handlers import deposits as handler_module
from functions.local.lambda_context import LocalLambdaContext
from functions.logic.deposits import DepositAddresses, DepositWatcher
from functions.logic.hd_keys import deposit_xpub_from_seed
from tests.factories import NOW, address
from tests.fake_chain import FakeChain
from tools.cli import build_parser

TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
ALICE = address(0xA11CE)


@pytest.fixture
def chain() -> FakeChain:
    return FakeChain(TOKEN, height=3)


@pytest.fixture
def configured(settings, tables, chain, monkeypatch) -> Iterator[DepositRepository]:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    handler_module.metrics.clear_metrics()
    chain_settings = settings.model_copy(
        update={
            "deposit_xpub": deposit_xpub_from_seed(bytes(range(32))),
            "deposit_chain_id": 31337,
            "deposit_token_address": TOKEN,
            "deposit_confirmations": 1,
        }
    )
    repo = DepositRepository(tables)
    target = DepositAddresses(chain_settings, repo).of(ALICE, now=NOW).deposit_address
    chain.transfer(address(0x5), target, 4_000_000)
    handler_module.configure(DepositWatcher(chain_settings, repo, chain))
    yield repo
    handler_module.configure(None)


def _metrics(out: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for line in out.splitlines():
        document = json.loads(line) if line.startswith("{") else {}
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                values[metric["Name"]] = sum(value) if isinstance(value, list) else value
    return values


def test_a_run_credits_at_the_scheduled_time_and_counts(configured, tables, capsys):
    slot = datetime.fromtimestamp(NOW + 60, UTC).isoformat().replace("+00:00", "Z")
    event = {"id": "run-1", "time": slot}
    answer = handler_module.handler(event, LocalLambdaContext(function_name="deposits"))
    assert (answer["seen"], answer["credited"], answer["held"]) == (1, 1, 0)
    account = AccountRepository(tables).get(ALICE)
    assert account.balance == 4_000_000
    [deposit] = configured.deposits(ALICE, limit=5).items
    assert deposit.credited_at == NOW + 60
    metrics = _metrics(capsys.readouterr().out)
    assert metrics["DepositsCredited"] == 1
    assert metrics["DepositsCreditedMicro"] == 4_000_000
    assert metrics["DepositsHeld"] == 0


def test_the_command_line_runs_the_chain_or_leaves_it_out() -> None:
    local = build_parser().parse_args(["local", "--chain-port", "9545"])
    assert (local.chain, local.chain_port) == (True, 9545)
    assert build_parser().parse_args(["local", "--no-chain"]).chain is False
    alone = build_parser().parse_args(["chain", "--port", "18545", "--block-seconds", "2"])
    assert (alone.command, alone.port, alone.block_seconds) == ("chain", 18545, 2.0)
