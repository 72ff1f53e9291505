"""Money in and out of the platform: deposits and withdrawals.

- **Deposits**: on a local stage a faucet credits the caller (at most ``FAUCET_MAX`` a
  call); on a deployed stage only an admin credits an account, with money received outside
  the platform, optionally naming that payment (``reference``), which credits an address
  once whatever the idempotency key.
- **Withdrawals**: a request holds the amount out of the balance (402 when it is short);
  an admin approves (the money leaves) or rejects (it returns to the balance), once. With
  on-chain payouts (issue #24, ``withdrawal_kms_key_id`` set) a request up to
  ``withdrawal_auto_max`` is queued for the payouts job at once, a larger one waits for an
  admin whose approval queues it; the money leaves when the chain settles the payment
  (``functions/logic/payouts.py``). The amount must convert exactly into the token's units.
- **Idempotency**: the ledger entry or withdrawal id is derived from the caller's key, so a
  retry collides with the first movement instead of moving money twice; the first result is
  answered again (``replayed``), unless the key was used for a different movement
  (``Conflict``). Without a key every request is new.

The repository's transactions keep the ledger's invariant; these rules decide what to ask.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from functions.dal.accounts import AccountRepository
from functions.dal.ledger import LedgerRepository
from functions.errors import Conflict, DuplicateEntry, Forbidden, InvalidInput
from functions.models.accounts import (
    Account,
    Approval,
    DepositSource,
    LedgerEntry,
    PayoutTerms,
    Withdrawal,
    WithdrawalStatus,
)
from functions.models.money import MICRO_PER_CREDIT, micro_to_token_units
from functions.settings import Settings
from protocol.addresses import to_checksum
from protocol.errors import ProtocolError

# One faucet call credits at most 1,000 credits (local stage only).
FAUCET_MAX = 1_000 * MICRO_PER_CREDIT
# Where deposits are credited on a deployed stage (named in the faucet's refusal).
ADMIN_DEPOSIT_PATH = "POST /api/accounts/{address}/deposit"


@dataclass(frozen=True)
class Deposited:
    entry: LedgerEntry
    account: Account
    replayed: bool  # the key was seen: the first deposit, no new credit


@dataclass(frozen=True)
class Held:
    withdrawal: Withdrawal
    account: Account
    replayed: bool  # the key was seen: the first request, nothing held again


@dataclass(frozen=True)
class Decided:
    withdrawal: Withdrawal
    account: Account


def keyed_id(kind: str, address: str, key: str | None) -> str:
    """A new id, or one derived from the caller's idempotency key so a retry collides."""
    if key is None:
        return uuid.uuid4().hex
    digest = hashlib.sha256(f"{kind}\n{address}\n{key}".encode()).hexdigest()
    return digest[:32]


def checksum(address: str) -> str:
    """An address as the ledger names it (EIP-55), or InvalidInput."""
    try:
        return to_checksum(address)
    except ProtocolError as error:
        raise InvalidInput(f"address: {error}") from None


class FundsService:
    def __init__(
        self, *, settings: Settings, accounts: AccountRepository, ledger: LedgerRepository
    ) -> None:
        self._settings = settings
        self._accounts = accounts
        self._ledger = ledger

    # -- deposits -------------------------------------------------------------------------

    def faucet(
        self, address: str, amount: int, *, now: int, idempotency_key: str | None = None
    ) -> Deposited:
        """Local stage only: credit the caller, at most ``FAUCET_MAX`` a call."""
        if not self._settings.is_local:
            raise Forbidden(
                f"deposits are credited by an admin on this stage: {ADMIN_DEPOSIT_PATH}"
            )
        if amount > FAUCET_MAX:
            raise InvalidInput(f"the faucet gives at most {FAUCET_MAX} micro-credits a call")
        entry_id = "deposit:" + keyed_id("faucet", address, idempotency_key)
        return self._credit(address, amount, entry_id, now, DepositSource.FAUCET)

    def credit(
        self,
        address: str,
        amount: int,
        *,
        now: int,
        reference: str | None = None,
        idempotency_key: str | None = None,
    ) -> Deposited:
        """An admin credits ``address`` with money received outside the platform; a
        ``reference`` (the outside payment) credits the address once."""
        target = checksum(address)
        if reference is not None:
            entry_id = f"deposit:{target}:ref:{reference}"
        else:
            entry_id = "deposit:" + keyed_id("admin", target, idempotency_key)
        # Marked in the ledger as an operator's correction: on-chain deposits credit
        # themselves (functions/logic/deposits.py), with source "chain".
        return self._credit(target, amount, entry_id, now, DepositSource.OPERATOR)

    def _credit(
        self, address: str, amount: int, entry_id: str, now: int, source: DepositSource
    ) -> Deposited:
        """Deposit once per ``entry_id``; a replay answers the first entry."""
        try:
            entry = self._accounts.deposit(
                address, amount, entry_id=entry_id, now=now, source=source
            )
            replayed = False
        except DuplicateEntry:
            found = self._ledger.get(entry_id)
            if found is None or (found.to_party, found.amount) != (address, amount):
                raise Conflict("this key was already used for a different deposit") from None
            entry, replayed = found, True
        return Deposited(entry, self._accounts.get(address), replayed)

    # -- withdrawals ----------------------------------------------------------------------

    def request_withdrawal(
        self, address: str, amount: int, *, now: int, idempotency_key: str | None = None
    ) -> Held:
        """Hold ``amount`` out of the balance (InsufficientFunds when the balance is short)
        until an admin decides, or, paid on chain and small enough, queued to be paid."""
        withdrawal_id = keyed_id("withdraw", address, idempotency_key)
        requested = self._new_withdrawal(address, amount, withdrawal_id, now)
        try:
            withdrawal = self._accounts.hold_withdrawal(requested)
            replayed = False
        except DuplicateEntry:
            found = self._accounts.get_withdrawal(address, withdrawal_id)
            if found is None or found.amount != amount:
                raise Conflict("this key was already used for a different withdrawal") from None
            withdrawal, replayed = found, True
        return Held(withdrawal, self._accounts.get(address), replayed)

    def _new_withdrawal(
        self, address: str, amount: int, withdrawal_id: str, now: int
    ) -> Withdrawal:
        pending = Withdrawal(
            withdrawal_id=withdrawal_id, address=address, amount=amount, requested_at=now
        )
        if not self._settings.withdrawals_on_chain:
            return pending
        terms = self.payout_terms(amount)  # refused now if the token cannot pay it exactly
        if amount > self._settings.withdrawal_auto_max:
            return pending
        return pending.model_copy(
            update={
                **terms.fields(),
                "status": WithdrawalStatus.QUEUED,
                "approval": Approval.AUTO,
                "decided_at": now,
            }
        )

    def payout_terms(self, amount: int) -> PayoutTerms:
        """What paying ``amount`` on chain pays (InvalidInput when the token cannot hold
        it exactly)."""
        settings = self._settings
        if settings.deposit_chain_id is None or settings.deposit_token_address is None:
            raise ValueError("on-chain payouts need deposit_chain_id and deposit_token_address")
        units = micro_to_token_units(amount, settings.deposit_token_decimals)
        if units is None or units <= 0:
            step = 10 ** (6 - settings.deposit_token_decimals)
            raise InvalidInput(
                f"the token has {settings.deposit_token_decimals} decimals: withdraw a "
                f"multiple of {step} micro-credits"
            )
        return PayoutTerms(settings.deposit_chain_id, settings.deposit_token_address, units)

    def decide_withdrawal(
        self, address: str, withdrawal_id: str, *, approve: bool, admin: str, now: int
    ) -> Decided:
        """Approve (paid out to the address: queued for the payouts job when payouts are on
        chain) or reject (back to its balance), once: a decided withdrawal is a Conflict,
        an unknown one NotFound."""
        target = checksum(address)
        payout = None
        if approve and self._settings.withdrawals_on_chain:
            current = self._accounts.get_withdrawal(target, withdrawal_id)
            if current is not None:
                payout = self.payout_terms(current.amount)
        try:
            decided = self._accounts.decide_withdrawal(
                target, withdrawal_id, approve=approve, admin=admin, now=now, payout=payout
            )
        except DuplicateEntry:
            current = self._accounts.get_withdrawal(target, withdrawal_id)
            status = current.status if current is not None else "decided"
            raise Conflict(f"withdrawal {withdrawal_id} is already {status}") from None
        return Decided(decided, self._accounts.get(target))
