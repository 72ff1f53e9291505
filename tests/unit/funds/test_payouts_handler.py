"""The payouts job's Lambda: one run at the schedule's time, its figures and alarms as the
metrics CloudWatch alarms on, and one log line (an error line when an alarm is raised)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from functions.dal.accounts import AccountRepository
from functions.dal.ledger import LedgerRepository
from functions.dal.payouts import PayoutRepository
from functions.handlers import payouts as handler_module
from functions.local.lambda_context import LocalLambdaContext
from functions.logic.funds import FundsService
from functions.logic.payouts import Alarm, PayoutJob
from tests.factories import NOW, address
from tests.fake_payout_chain import FakePayoutChain, LocalKeySigner
from tests.unit.funds.test_deposits_handler import _metrics

TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
ALICE = address(0xA11CE)


@pytest.fixture
def chain() -> FakePayoutChain:
    return FakePayoutChain(TOKEN, LocalKeySigner().address, height=3)


@pytest.fixture
def configured(settings, tables, chain, monkeypatch) -> Iterator[FakePayoutChain]:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    handler_module.metrics.clear_metrics()
    chain_settings = settings.model_copy(
        update={
            "deposit_chain_id": 31337,
            "deposit_token_address": TOKEN,
            "withdrawal_kms_key_id": "alias/hot",
            "withdrawal_confirmations": 1,
            "hot_wallet_min_gas_wei": 10**30,  # more than the fake wallet holds: an alarm
        }
    )
    accounts = AccountRepository(tables)
    accounts.deposit(ALICE, 9_000_000, entry_id="seed", now=NOW - 10)
    funds = FundsService(
        settings=chain_settings, accounts=accounts, ledger=LedgerRepository(tables)
    )
    funds.request_withdrawal(ALICE, 4_000_000, now=NOW)
    job = PayoutJob(chain_settings, PayoutRepository(tables), chain, LocalKeySigner())
    handler_module.configure(job)
    yield chain
    handler_module.configure(None)


def _event(at: int) -> dict[str, str]:
    slot = datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")
    return {"id": f"run-{at}", "time": slot}


def test_a_run_pays_counts_and_raises_its_alarms_as_metrics(configured, tables, capsys, caplog):
    context = LocalLambdaContext(function_name="payouts")
    answer = handler_module.handler(_event(NOW + 60), context)
    assert (answer["sent"], answer["settled"]) == (1, 0)
    assert answer["alarms"] == [Alarm.GAS_LOW]
    out = capsys.readouterr().out
    metrics = _metrics(out)
    assert (metrics["WithdrawalsSent"], metrics["HotWalletGasLow"]) == (1, 1)
    assert (metrics["HotWalletTokenLow"], metrics["HotWalletNonceMismatch"]) == (0, 0)
    [line] = [r for r in caplog.records if r.getMessage() == "payouts run"]
    assert line.levelname == "ERROR"  # an alarm is raised: the run's line says so

    configured.mine_pending()
    answer = handler_module.handler(_event(NOW + 120), context)
    assert answer["settled"] == 1
    metrics = _metrics(capsys.readouterr().out)
    assert (metrics["WithdrawalsSettled"], metrics["WithdrawalsSettledMicro"]) == (1, 4_000_000)
    assert AccountRepository(tables).get(ALICE).withdrawn == 4_000_000
