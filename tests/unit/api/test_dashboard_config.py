"""The dashboard's ``config.json`` (``functions/models/dashboard.py``): its one shape, and
that ``frontend/src/config.ts`` reads every key of it."""

from __future__ import annotations

import re
from pathlib import Path

from functions.models.dashboard import dashboard_config

CONFIG_TS = Path(__file__).resolve().parents[3] / "frontend" / "src" / "config.ts"
PLATFORM = {
    "api_url": "https://api.example",
    "ws_url": "wss://live.example/live",
    "region": "eu-west-1",
    "stage": "prod",
    "chain_id": 8453,
}


def test_withdrawals_are_paid_by_hand_unless_said_otherwise():
    assert dashboard_config(**PLATFORM, deposits=False) == {
        **PLATFORM,
        "deposits": False,
        "withdrawals_on_chain": False,
        "withdrawal_auto_max": None,
    }


def test_withdrawals_on_chain_carry_the_auto_pay_limit():
    config = dashboard_config(
        **PLATFORM, deposits=True, withdrawals_on_chain=True, withdrawal_auto_max=100_000_000
    )
    assert config == {
        **PLATFORM,
        "deposits": True,
        "withdrawals_on_chain": True,
        "withdrawal_auto_max": 100_000_000,
    }


def test_the_limit_means_nothing_without_payouts_on_chain():
    # Settings always have a limit; the page must not promise automatic payment by hand.
    config = dashboard_config(**PLATFORM, deposits=True, withdrawal_auto_max=100_000_000)
    assert config["withdrawal_auto_max"] is None


def test_the_dashboard_reads_every_key():
    read = set(re.findall(r"\bbody\.([a-z_]+)", CONFIG_TS.read_text(encoding="utf-8")))
    assert read == set(dashboard_config(**PLATFORM, deposits=False))
