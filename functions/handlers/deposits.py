"""The deposit watcher's Lambda (an EventBridge schedule, issue #24): reads the stablecoin's
transfers to deposit addresses and credits each once it is confirmed
(``functions/logic/deposits.py``). Its own function, so web3.py (``functions/ports/chain``)
is in no other handler's import path.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from functions.dal.deposits import DepositRepository
from functions.dal.tables import Tables
from functions.handlers.schedule import correlated_run, scheduled_time
from functions.logic.deposits import DepositWatcher, WatchRun
from functions.observability import logger
from functions.settings import Settings, load_settings

metrics = Metrics(namespace="XenBlocks", service="deposits")

_watcher: DepositWatcher | None = None


def configure(watcher: DepositWatcher | None) -> None:
    """Use ``watcher`` for the following invocations (tests); None resets."""
    global _watcher
    _watcher = watcher


def build_watcher(settings: Settings, tables: Tables) -> DepositWatcher:
    """The watcher on ``deposit_rpc_url`` (web3.py's HTTP provider)."""
    from functions.ports.chain import Web3ChainReader

    if settings.deposit_rpc_url is None:
        raise ValueError("the deposits job needs deposit_rpc_url")
    chain = Web3ChainReader(settings.deposit_rpc_url, timeout=settings.deposit_rpc_timeout_seconds)
    return DepositWatcher(settings, DepositRepository(tables), chain)


def _default_watcher() -> DepositWatcher:
    global _watcher
    if _watcher is None:  # cold start
        settings = load_settings()
        _watcher = build_watcher(settings, Tables(settings))
    return _watcher


def report(run: WatchRun) -> dict[str, Any]:
    """The run's figures as metrics and one log line; what the handler answers."""
    figures = {
        "DepositsSeen": run.seen,
        "DepositsCredited": run.credited,
        "DepositsCreditedMicro": run.credited_micro,
        "DepositsOrphaned": run.orphaned,
        "DepositsMoved": run.moved,
        "DepositsHeld": run.held,
        "DepositsPending": run.pending,
    }
    for name, value in figures.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    summary = {
        "head": run.head,
        "scanned": [run.scanned_from, run.scanned_to],
        "transfers": run.transfers,
        "seen": run.seen,
        "credited": run.credited,
        "orphaned": run.orphaned,
        "moved": run.moved,
        "held": run.held,
        "pending": run.pending,
    }
    (logger.error if run.held else logger.info)("deposits run", extra=summary)
    return summary


@metrics.log_metrics
@logger.inject_lambda_context
@correlated_run
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return report(_default_watcher().run(scheduled_time(event)))
