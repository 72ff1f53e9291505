"""Balances, withdrawal requests and the ledger of money movements."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StrictInt

from functions.models.base import Record
from functions.models.money import Micro

# Accounts that are not a user's address.
TREASURY = "treasury"  # the platform's fees
EXTERNAL = "external"  # outside the platform: where deposits come from, withdrawals go


def escrow_account(lease_id: str) -> str:
    return f"escrow:{lease_id}"


def held_account(address: str) -> str:
    return f"held:{address}"


class Account(Record):
    address: str
    balance: Micro = 0
    # Withdrawals requested and not yet decided: out of the balance, still in the platform.
    held: Micro = 0
    deposited: Micro = 0
    withdrawn: Micro = 0
    updated_at: StrictInt | None = None
    # The owner's settings (logic/profit.py), on the same item; absent on older items.
    # What a kWh costs the owner, in micro-units of ``currency`` (None: not set).
    electricity_micro_per_kwh: Micro | None = None
    currency: str | None = None
    settings_updated_at: StrictInt | None = None


class WithdrawalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Withdrawal(Record):
    withdrawal_id: str
    address: str
    amount: Annotated[Micro, Field(gt=0)]
    status: WithdrawalStatus = WithdrawalStatus.PENDING
    requested_at: StrictInt
    decided_at: StrictInt | None = None
    decided_by: str | None = None


class EntryKind(StrEnum):
    DEPOSIT = "deposit"  # external → address
    ESCROW = "escrow"  # renter → escrow:lease
    PAYOUT = "payout"  # escrow:lease → provider
    FEE = "fee"  # escrow:lease → treasury
    REFUND = "refund"  # escrow:lease → renter
    WITHDRAWAL_HOLD = "withdrawal_hold"  # address → held:address
    WITHDRAWAL_RELEASE = "withdrawal_release"  # held:address → address (rejected)
    WITHDRAWAL = "withdrawal"  # held:address → external (approved)


class DepositSource(StrEnum):
    """Where a deposit's money came from (deposit entries only)."""

    FAUCET = "faucet"  # the local stage's faucet
    # An admin's credit of money received outside the platform: an operator's correction.
    OPERATOR = "operator_correction"
    CHAIN = "chain"  # a confirmed stablecoin transfer to the account's deposit address


class LedgerEntry(Record):
    """One immutable movement of money; ``entry_id`` is deterministic so retries collide."""

    entry_id: str
    kind: EntryKind
    amount: Annotated[Micro, Field(gt=0)]
    from_account: str
    to_account: str
    # Whose history the entry shows in, on each side (None for external).
    from_party: str | None = None
    to_party: str | None = None
    lease_id: str | None = None
    created_at: StrictInt
    # Deposits: where the money came from (absent on entries written before issue #24).
    source: DepositSource | None = None

    @property
    def ts_key(self) -> str:
        return f"{self.created_at:012d}#{self.entry_id}"
