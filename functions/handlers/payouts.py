"""The payouts job's Lambda (an EventBridge schedule, issue #24): pays queued withdrawals
from the hot wallet, follows them to settlement and watches the wallet
(``functions/logic/payouts.py``). Its own function: the only one allowed to sign with the
hot wallet's KMS key, and with web3.py (``functions/ports/chain``) in its import path.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from functions.dal.payouts import PayoutRepository
from functions.dal.tables import Tables
from functions.handlers.schedule import correlated_run, scheduled_time
from functions.logic.payouts import Alarm, PayoutJob, PayoutRun
from functions.observability import logger
from functions.settings import Settings, load_settings

metrics = Metrics(namespace="XenBlocks", service="payouts")

_job: PayoutJob | None = None

# Each alarm's metric (1 when raised this run, else 0): CloudWatch alarms on them.
ALARM_METRICS = {
    Alarm.TOKEN_LOW: "HotWalletTokenLow",
    Alarm.GAS_LOW: "HotWalletGasLow",
    Alarm.DAILY_LIMIT: "DailyLimitReached",
    Alarm.NONCE_MISMATCH: "HotWalletNonceMismatch",
    Alarm.FEES_OVER_CAP: "FeesOverCap",
    Alarm.UNEXPECTED_RECEIPT: "UnexpectedReceipt",
}


def configure(job: PayoutJob | None) -> None:
    """Use ``job`` for the following invocations (tests); None resets."""
    global _job
    _job = job


def build_job(settings: Settings, tables: Tables) -> PayoutJob:
    """The job on ``deposit_rpc_url`` (web3.py) signing with ``withdrawal_kms_key_id``."""
    import boto3

    from functions.ports.chain import Web3Chain
    from functions.ports.kms_signer import KmsSigner

    if settings.deposit_rpc_url is None or settings.withdrawal_kms_key_id is None:
        raise ValueError("the payouts job needs deposit_rpc_url and withdrawal_kms_key_id")
    chain = Web3Chain(settings.deposit_rpc_url, timeout=settings.deposit_rpc_timeout_seconds)
    kms = boto3.client(
        "kms", region_name=settings.aws_region, endpoint_url=settings.kms_endpoint_url
    )
    signer = KmsSigner(kms, settings.withdrawal_kms_key_id)
    return PayoutJob(settings, PayoutRepository(tables), chain, signer)


def _default_job() -> PayoutJob:
    global _job
    if _job is None:  # cold start
        settings = load_settings()
        _job = build_job(settings, Tables(settings))
    return _job


def report(run: PayoutRun) -> dict[str, Any]:
    """The run's figures as metrics and one log line; what the handler answers."""
    figures = {
        "WithdrawalsSent": run.sent,
        "WithdrawalsSettled": run.settled,
        "WithdrawalsSettledMicro": run.settled_micro,
        "WithdrawalsFailed": run.failed,
        "WithdrawalsRebroadcast": run.rebroadcast,
        "WithdrawalsWaiting": run.waiting,
        "WithdrawalsConfirming": run.confirming,
        "WithdrawalsStuck": run.stuck,
        "WithdrawalBroadcastErrors": run.broadcast_errors,
        **{name: int(alarm in run.alarms) for alarm, name in ALARM_METRICS.items()},
    }
    for name, value in figures.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    summary = {
        "head": run.head,
        "chain_nonce": run.chain_nonce,
        "next_nonce": run.next_nonce,
        "token_units": str(run.token_units),
        "gas_wei": str(run.gas_wei),
        "sent": run.sent,
        "settled": run.settled,
        "failed": run.failed,
        "rebroadcast": run.rebroadcast,
        "confirming": run.confirming,
        "waiting": run.waiting,
        "stuck": run.stuck,
        "alarms": sorted(run.alarms),
    }
    (logger.error if run.alarms else logger.info)("payouts run", extra=summary)
    return summary


@metrics.log_metrics
@logger.inject_lambda_context
@correlated_run
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return report(_default_job().run(scheduled_time(event)))
