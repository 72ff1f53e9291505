"""Balances, withdrawal requests and the ledger of money movements."""

from __future__ import annotations

from dataclasses import dataclass
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
    PENDING = "pending"  # awaiting an admin's decision; the amount is held
    APPROVED = "approved"  # approved and paid by hand (no on-chain payouts): money left
    REJECTED = "rejected"  # the held amount returned to the balance
    # On-chain payouts (issue #24, functions/logic/payouts.py); the amount stays held until
    # the chain settles it:
    QUEUED = "queued"  # approved (automatically or by an admin), waiting for the payouts job
    SIGNING = "signing"  # a nonce is assigned; the transaction is being signed and sent
    SENT = "sent"  # broadcast; not yet mined with enough confirmations
    SETTLED = "settled"  # mined and confirmed: the money left (ledger ``withdrawal:<id>``)
    FAILED = "failed"  # reverted on chain or not payable: the amount returned to the balance


# Where the payouts job still has work to do.
OPEN_PAYOUT_STATUSES = (WithdrawalStatus.QUEUED, WithdrawalStatus.SIGNING, WithdrawalStatus.SENT)


class Approval(StrEnum):
    AUTO = "auto"  # at most ``withdrawal_auto_max``: paid without an admin
    ADMIN = "admin"


@dataclass(frozen=True)
class PayoutTerms:
    """What an on-chain payout pays: ``token_units`` of ``token_address`` on ``chain_id``."""

    chain_id: int
    token_address: str
    token_units: int

    def fields(self) -> dict[str, object]:
        """The withdrawal's fields these set (units as a decimal string)."""
        return {
            "chain_id": self.chain_id,
            "token_address": self.token_address,
            "token_units": str(self.token_units),
        }


class Withdrawal(Record):
    withdrawal_id: str
    address: str
    amount: Annotated[Micro, Field(gt=0)]
    status: WithdrawalStatus = WithdrawalStatus.PENDING
    requested_at: StrictInt
    decided_at: StrictInt | None = None
    decided_by: str | None = None
    # On-chain payouts only (absent on withdrawals paid by hand):
    approval: Approval | None = None
    chain_id: StrictInt | None = None
    token_address: str | None = None
    # The token units paid to ``address``: a decimal string (a uint256 may exceed what a
    # DynamoDB number holds).
    token_units: str | None = None
    hot_wallet: str | None = None
    nonce: StrictInt | None = None
    gas_limit: StrictInt | None = None
    max_fee_per_gas: StrictInt | None = None
    max_priority_fee_per_gas: StrictInt | None = None
    # The latest signed transaction (hex) and every hash broadcast for this nonce (a
    # re-send with higher fees replaces the transaction; any one of them may be mined).
    raw_tx: str | None = None
    tx_hash: str | None = None
    tx_hashes: list[str] = Field(default_factory=list)
    sent_at: StrictInt | None = None
    broadcast_at: StrictInt | None = None
    broadcasts: StrictInt = 0
    # Where the chain mined it (one of ``tx_hashes``), and its confirmations so far.
    mined_tx_hash: str | None = None
    block_number: StrictInt | None = None
    block_hash: str | None = None
    confirmations: StrictInt = 0
    settled_at: StrictInt | None = None
    entry_id: str | None = None
    failure: str | None = None


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
    # On-chain movements: the chain and transaction that moved the money (withdrawals
    # paid on chain; chain deposits carry theirs in ``entry_id``).
    chain_id: StrictInt | None = None
    tx_hash: str | None = None

    @property
    def ts_key(self) -> str:
        return f"{self.created_at:012d}#{self.entry_id}"
