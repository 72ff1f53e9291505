"""On-chain deposits (issue #24): an account's deposit address, and each token transfer to
one as the deposit watcher sees it, from first sight to its credit."""

from __future__ import annotations

from enum import StrEnum

from pydantic import StrictInt

from functions.models.base import Record
from functions.models.money import Micro


class DepositAddress(Record):
    """Account ``owner`` deposits to ``deposit_address``: child ``index`` of the xpub."""

    owner: str
    deposit_address: str
    index: StrictInt
    created_at: StrictInt


class DepositStatus(StrEnum):
    # Seen in a block with fewer confirmations than required: not money yet.
    PENDING = "pending"
    # Credited to the owner's balance, once (ledger entry ``chain:<chain>:<tx>:<log>``).
    CREDITED = "credited"
    # Its block left the canonical chain before it was credited (a reorganisation): nothing
    # was credited; should the transfer be mined again, it is pending again.
    ORPHANED = "orphaned"
    # Confirmed, but its token units do not convert exactly into micro-credits (dust
    # below a micro-credit) or exceed what one deposit may credit: held for an operator.
    HELD = "held"


class ChainDeposit(Record):
    """A token transfer to a deposit address, keyed by transaction hash and log index."""

    deposit_id: str  # "<tx hash>:<log index>"
    owner: str
    deposit_address: str
    chain_id: StrictInt
    token_address: str
    tx_hash: str
    log_index: StrictInt
    block_number: StrictInt
    block_hash: str
    from_address: str
    # The transfer's value in token units: a decimal string (a uint256 may exceed what a
    # DynamoDB number holds).
    token_units: str
    # What it credits, in micro-credits; None when the units do not convert exactly or
    # exceed what one deposit may credit (it is then held once confirmed).
    amount: Micro | None = None
    status: DepositStatus = DepositStatus.PENDING
    confirmations: StrictInt = 0
    required_confirmations: StrictInt
    seen_at: StrictInt
    updated_at: StrictInt
    credited_at: StrictInt | None = None
    # The ledger entry that credited it (status credited).
    entry_id: str | None = None
    # Why it is held (status held).
    reason: str | None = None


class WatcherCursor(Record):
    """Where the deposit watcher goes on: every block before ``next_block`` is final."""

    chain_id: StrictInt
    token_address: str
    next_block: StrictInt
    head: StrictInt | None = None  # the chain's head at the last run
    updated_at: StrictInt
