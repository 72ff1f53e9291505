"""The hot wallet that pays on-chain withdrawals (issue #24): its nonce, as the platform
assigns them, and what the payouts job last saw of it."""

from __future__ import annotations

import time

from pydantic import StrictInt

from functions.models.base import Record
from functions.models.money import Micro


class HotWallet(Record):
    """One hot wallet on one chain. ``next_nonce`` is the platform's: the next payout
    takes it, in the same transaction that moves it on, so no two payouts share one."""

    chain_id: StrictInt
    address: str
    next_nonce: StrictInt
    created_at: StrictInt
    updated_at: StrictInt
    # What the payouts job saw at its last run (the admins' view; alarms are metrics).
    head: StrictInt | None = None
    token_units: str | None = None  # the token balance (a decimal string: a uint256)
    gas_wei: str | None = None  # the chain's coin, for gas
    chain_nonce: StrictInt | None = None  # the chain's count of mined transactions
    alarms: tuple[str, ...] = ()
    checked_at: StrictInt | None = None


class DailyOutflow(Record):
    """What the hot wallet was given to pay on one UTC day (counted when a payout takes its
    nonce; a failed payout still counts: the limit is on what was sent)."""

    day: str  # YYYY-MM-DD (UTC)
    amount: Micro = 0
    payouts: StrictInt = 0


def utc_day(now: int) -> str:
    """The UTC day ``now`` falls in, as ``DailyOutflow.day`` names it."""
    return time.strftime("%Y-%m-%d", time.gmtime(now))
