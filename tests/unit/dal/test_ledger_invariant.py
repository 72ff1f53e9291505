"""Random sequences of money operations, with crashes and retries, keep the books exact.

The operations: deposits (an admin's), on-chain deposits (seen pending, then credited once
or orphaned by a reorganisation), rents, stops, settlements, withdrawal requests and
decisions, and on-chain withdrawals (queued automatically or by an admin's approval, given
the hot wallet's next nonce and sent, then settled once or failed back to the balance).

After every step: sum of balances and held funds + sum of escrows == deposits − withdrawals;
every ledger entry is unique and the ledger alone reproduces every balance; the stored
state equals a plain in-memory model of what should have happened.

A crash is injected around ``TransactWriteItems``: before it is sent (nothing happened) or
after it committed (the response was lost). Either way the caller retries the same
operation with the same ids, as the API and the jobs do, and must end with it done once.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
)
from moto import mock_aws

from functions.dal.accounts import AccountRepository
from functions.dal.deposits import DepositRepository
from functions.dal.leases import LeaseRepository
from functions.dal.listings import ListingRepository
from functions.dal.payouts import PayoutRepository
from functions.dal.specs import ACCOUNTS, LEASES, LEDGER
from functions.dal.tables import Tables, create_tables
from functions.errors import (
    AlreadyExists,
    AlreadySettled,
    ConcurrentUpdate,
    DuplicateEntry,
    InsufficientFunds,
    LeaseNotActive,
    ListingUnavailable,
)
from functions.local.moto_dynamodb import serialize_dynamodb_requests
from functions.models.accounts import (
    EXTERNAL,
    TREASURY,
    Approval,
    PayoutTerms,
    Withdrawal,
    WithdrawalStatus,
)
from functions.models.deposits import ChainDeposit
from functions.models.money import fee_of
from functions.settings import Settings
from tests.audit import scan
from tests.factories import NOW, address, lease_for, open_listing

USERS = [address(0xD00 + i) for i in range(3)]
CHAIN_ID, TOKEN, HOT_WALLET = 31337, address(0x70C), address(0x407)
FEE_BP = 500
_stage = itertools.count()


class Crash(Exception):
    """The process died around a DynamoDB call."""


class CrashingClient:
    """Wraps the DynamoDB client; when armed, the next transaction crashes once."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.armed: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        mode, self.armed = self.armed, None
        if mode == "before":
            raise Crash("crashed before the transaction was sent")
        result = self._client.transact_write_items(**kwargs)
        if mode == "after":
            raise Crash("crashed after commit; the response was lost")
        return result


def with_retry(client: CrashingClient, crash: str | None, operation: Any, done: tuple) -> bool:
    """Run ``operation`` with an injected crash, then retry it as a caller would.

    Returns True when the operation took effect (first try, or found done on the retry
    through one of the ``done`` errors); False when it was refused on its merits.
    """
    client.armed = crash
    try:
        operation()
        return True
    except Crash:
        pass
    try:
        operation()
        return True
    except done:
        return crash == "after"


class Books(RuleBasedStateMachine):
    leases = Bundle("leases")
    withdrawals = Bundle("withdrawals")
    chain_deposits = Bundle("chain_deposits")
    payouts = Bundle("payouts")  # queued on-chain withdrawals
    sent_payouts = Bundle("sent_payouts")

    def __init__(self) -> None:
        super().__init__()
        self.client: CrashingClient
        self.tables: Tables
        self.ids = itertools.count()
        # The model: what every balance, hold and escrow should be.
        self.balance: dict[str, int] = defaultdict(int)
        self.held: dict[str, int] = defaultdict(int)
        self.escrow: dict[str, int] = {}
        self.deposited = 0
        self.withdrawn = 0
        self.listing_of: dict[str, Any] = {}
        self.leased: set[str] = set()
        self.stopped: set[str] = set()
        self.nonces: list[int] = []  # every nonce a payout took, in order

    @initialize()
    def open_books(self) -> None:
        tables = Tables(Settings(stage=f"inv{next(_stage)}"))
        create_tables(tables)
        self.client = CrashingClient(tables.client)
        tables.client = self.client  # type: ignore[assignment]
        self.tables = tables
        self.accounts = AccountRepository(tables)
        self.listings = ListingRepository(tables)
        self.lease_repo = LeaseRepository(tables)
        self.chain = DepositRepository(tables)
        self.payout_repo = PayoutRepository(tables)
        self.payout_repo.create_wallet(CHAIN_ID, HOT_WALLET, next_nonce=0, now=NOW)
        # Cheap listings and funded users, so rents, stops and settlements happen often.
        self.market = [
            open_listing(tables, owner=USERS[i % 2], price_per_hour=600_000) for i in range(2)
        ]
        for user in USERS:
            self.accounts.deposit(user, 5_000_000, entry_id=f"seed-{user}", now=NOW)
            self.balance[user] += 5_000_000
            self.deposited += 5_000_000

    crashes = st.sampled_from([None, None, "before", "after"])

    @rule(user=st.sampled_from(USERS), amount=st.integers(1, 20_000_000), crash=crashes)
    def deposit(self, user: str, amount: int, crash: str | None) -> None:
        entry_id = f"dep-{next(self.ids)}"
        done = with_retry(
            self.client,
            crash,
            lambda: self.accounts.deposit(user, amount, entry_id=entry_id, now=NOW),
            (DuplicateEntry,),
        )
        assert done
        self.balance[user] += amount
        self.deposited += amount

    @rule(
        target=leases,
        renter=st.sampled_from(USERS),
        which=st.integers(0, 1),
        hours=st.integers(1, 6),
        crash=crashes,
    )
    def rent(self, renter: str, which: int, hours: int, crash: str | None) -> Any:
        listing = self.listings.require(self.market[which].listing_id)
        lease = lease_for(
            listing, renter=renter, duration_sec=hours * 3600, lease_id=f"L{next(self.ids)}"
        )
        can = listing.listing_id not in self.leased and self.balance[renter] >= lease.max_cost
        try:
            done = with_retry(
                self.client,
                crash,
                lambda: self.lease_repo.create(lease, listing),
                (AlreadyExists,),
            )
        except (ListingUnavailable, InsufficientFunds):
            done = False
        assert done == can
        if not done:
            return multiple()
        self.balance[renter] -= lease.max_cost
        self.escrow[lease.lease_id] = lease.max_cost
        self.leased.add(listing.listing_id)
        self.listing_of[lease.lease_id] = listing.listing_id
        return lease

    @rule(lease=leases, crash=crashes)
    def stop(self, lease: Any, crash: str | None) -> None:
        try:
            done = with_retry(
                self.client,
                crash,
                lambda: self.lease_repo.stop(lease.lease_id, renter=lease.renter, now=NOW + 1),
                (LeaseNotActive,),
            )
        except LeaseNotActive:
            done = False
        assert done == (lease.lease_id not in self.stopped)
        self.stopped.add(lease.lease_id)

    @rule(lease=consumes(leases), delivered_pct=st.integers(0, 100), crash=crashes)
    def settle(self, lease: Any, delivered_pct: int, crash: str | None) -> None:
        escrow = self.escrow.pop(lease.lease_id)
        delivered = escrow * delivered_pct // 100
        fee = fee_of(delivered, FEE_BP)
        split = {"payout": delivered - fee, "fee": fee, "refund": escrow - delivered}
        stored = self.lease_repo.require(lease.lease_id)
        assert with_retry(
            self.client,
            crash,
            lambda: self.lease_repo.settle(stored, now=NOW + 2, **split),
            (AlreadySettled,),
        )
        self.balance[lease.provider] += split["payout"]
        self.balance[TREASURY] += split["fee"]
        self.balance[lease.renter] += split["refund"]
        self.leased.discard(self.listing_of[lease.lease_id])

    @rule(
        target=withdrawals,
        user=st.sampled_from(USERS),
        amount=st.integers(1, 30_000_000),
        crash=crashes,
    )
    def request_withdrawal(self, user: str, amount: int, crash: str | None) -> Any:
        withdrawal_id = f"W{next(self.ids)}"
        can = self.balance[user] >= amount
        try:
            done = with_retry(
                self.client,
                crash,
                lambda: self.accounts.request_withdrawal(
                    user, amount, withdrawal_id=withdrawal_id, now=NOW
                ),
                (DuplicateEntry,),
            )
        except InsufficientFunds:
            done = False
        assert done == can
        if not done:
            return multiple()
        self.balance[user] -= amount
        self.held[user] += amount
        return (user, withdrawal_id, amount)

    @rule(withdrawal=consumes(withdrawals), approve=st.booleans(), crash=crashes)
    def decide_withdrawal(self, withdrawal: Any, approve: bool, crash: str | None) -> None:
        user, withdrawal_id, amount = withdrawal
        assert with_retry(
            self.client,
            crash,
            lambda: self.accounts.decide_withdrawal(
                user, withdrawal_id, approve=approve, admin="admin", now=NOW
            ),
            (DuplicateEntry,),
        )
        self.held[user] -= amount
        if approve:
            self.withdrawn += amount
        else:
            self.balance[user] += amount

    # -- on-chain deposits (issue #24): seen pending, then credited once or orphaned --------

    @rule(target=chain_deposits, user=st.sampled_from(USERS), amount=st.integers(1, 20_000_000))
    def see_chain_deposit(self, user: str, amount: int) -> Any:
        n = next(self.ids)
        deposit = ChainDeposit(
            deposit_id=f"0x{n:064x}:0",
            owner=user,
            deposit_address=address(0xDE0000 + n),
            chain_id=31337,
            token_address=address(0x70C),
            tx_hash=f"0x{n:064x}",
            log_index=0,
            block_number=100 + n,
            block_hash=f"0x{n + 1:064x}",
            from_address=address(0xF00),
            token_units=str(amount),
            amount=amount,
            required_confirmations=3,
            seen_at=NOW,
            updated_at=NOW,
        )
        assert self.chain.add_pending(deposit)
        assert not self.chain.add_pending(deposit)  # seen again: nothing new
        return deposit

    @rule(deposit=consumes(chain_deposits), crash=crashes)
    def credit_chain_deposit(self, deposit: ChainDeposit, crash: str | None) -> None:
        assert with_retry(
            self.client,
            crash,
            lambda: self.chain.credit(deposit, confirmations=3, now=NOW),
            (DuplicateEntry, ConcurrentUpdate),
        )
        # Another run holding the pending copy it read before: nothing moves twice.
        with pytest.raises((DuplicateEntry, ConcurrentUpdate)):
            self.chain.credit(deposit, confirmations=4, now=NOW + 1)
        assert deposit.amount is not None
        self.balance[deposit.owner] += deposit.amount
        self.deposited += deposit.amount

    @rule(deposit=consumes(chain_deposits))
    def orphan_chain_deposit(self, deposit: ChainDeposit) -> None:
        """A reorganisation dropped its block before it was credited: it never credits."""
        assert self.chain.orphan(deposit, now=NOW)
        with pytest.raises(ConcurrentUpdate):
            self.chain.credit(deposit, confirmations=3, now=NOW + 1)

    # -- on-chain withdrawals (issue #24): queued, sent with a nonce, settled or failed ------

    @rule(
        target=payouts,
        user=st.sampled_from(USERS),
        amount=st.integers(1, 30_000_000),
        crash=crashes,
    )
    def request_payout(self, user: str, amount: int, crash: str | None) -> Any:
        """A withdrawal under the auto-pay limit: queued at once, the amount held."""
        withdrawal = Withdrawal(
            withdrawal_id=f"P{next(self.ids)}",
            address=user,
            amount=amount,
            requested_at=NOW,
            status=WithdrawalStatus.QUEUED,
            approval=Approval.AUTO,
            **PayoutTerms(CHAIN_ID, TOKEN, amount).fields(),  # type: ignore[arg-type]
        )
        can = self.balance[user] >= amount
        try:
            done = with_retry(
                self.client,
                crash,
                lambda: self.accounts.hold_withdrawal(withdrawal),
                (DuplicateEntry,),
            )
        except InsufficientFunds:
            done = False
        assert done == can
        if not done:
            return multiple()
        self.balance[user] -= amount
        self.held[user] += amount
        return withdrawal

    @rule(target=payouts, withdrawal=consumes(withdrawals), crash=crashes)
    def approve_payout(self, withdrawal: Any, crash: str | None) -> Any:
        """An admin approves a large one: queued, still held, no money moves yet."""
        user, withdrawal_id, amount = withdrawal
        assert with_retry(
            self.client,
            crash,
            lambda: self.accounts.decide_withdrawal(
                user,
                withdrawal_id,
                approve=True,
                admin="admin",
                now=NOW,
                payout=PayoutTerms(CHAIN_ID, TOKEN, amount),
            ),
            (DuplicateEntry,),
        )
        queued = self.payout_repo.get(user, withdrawal_id)
        assert queued is not None
        assert queued.status is WithdrawalStatus.QUEUED
        return queued

    @rule(target=sent_payouts, payout=consumes(payouts), crash=crashes)
    def send_payout(self, payout: Withdrawal, crash: str | None) -> Any:
        """The payouts job takes the wallet's next nonce (with the day's outflow), then
        records the signed transaction."""
        wallet = self.payout_repo.wallet(CHAIN_ID, HOT_WALLET)
        assert wallet is not None
        assert with_retry(
            self.client,
            crash,
            lambda: self.payout_repo.take_nonce(
                payout,
                wallet,
                gas_limit=60_000,
                max_fee_per_gas=2 * 10**9,
                max_priority_fee_per_gas=10**9,
                day="2026-12-03",
                daily_limit=10**15,
                now=NOW,
            ),
            (ConcurrentUpdate,),
        )
        signing = self.payout_repo.get(payout.address, payout.withdrawal_id)
        assert signing is not None
        assert (signing.status, signing.nonce) == (WithdrawalStatus.SIGNING, wallet.next_nonce)
        self.nonces.append(wallet.next_nonce)
        sent = self.payout_repo.mark_sent(
            signing,
            raw_tx="0x02",
            tx_hash=f"0x{wallet.next_nonce:064x}",
            max_fee_per_gas=2 * 10**9,
            max_priority_fee_per_gas=10**9,
            now=NOW,
        )
        assert sent.status is WithdrawalStatus.SENT
        return sent

    @rule(payout=consumes(sent_payouts), crash=crashes)
    def settle_payout(self, payout: Withdrawal, crash: str | None) -> None:
        """Mined and confirmed: the money leaves, once."""
        assert payout.tx_hash is not None

        def settle(confirmations: int = 3) -> Any:
            assert payout.tx_hash is not None
            return self.payout_repo.settle(
                payout,
                tx_hash=payout.tx_hash,
                block_number=200,
                block_hash="0x" + "ab" * 32,
                confirmations=confirmations,
                now=NOW,
            )

        assert with_retry(self.client, crash, settle, (ConcurrentUpdate, DuplicateEntry))
        with pytest.raises((ConcurrentUpdate, DuplicateEntry)):
            settle(4)  # another run with the copy it read: nothing leaves twice
        self.held[payout.address] -= payout.amount
        self.withdrawn += payout.amount

    @rule(payout=consumes(sent_payouts), crash=crashes)
    def fail_payout(self, payout: Withdrawal, crash: str | None) -> None:
        """Reverted on chain: the held amount returns to the balance, once."""

        def fail() -> Any:
            return self.payout_repo.fail(payout, reason="reverted", now=NOW)

        assert with_retry(self.client, crash, fail, (ConcurrentUpdate, DuplicateEntry))
        with pytest.raises((ConcurrentUpdate, DuplicateEntry)):
            fail()
        self.held[payout.address] -= payout.amount
        self.balance[payout.address] += payout.amount

    @invariant()
    def books_balance(self) -> None:
        if not hasattr(self, "tables"):
            return
        accounts = {i["address"]: i for i in scan(self.tables, ACCOUNTS) if i["sk"] == "ACCOUNT"}
        escrows = {i["lease_id"]: i["escrow"] for i in scan(self.tables, LEASES)}
        entries = scan(self.tables, LEDGER)

        total = sum(a.get("balance", 0) + a.get("held", 0) for a in accounts.values())
        deposits = sum(a.get("deposited", 0) for a in accounts.values())
        withdrawals = sum(a.get("withdrawn", 0) for a in accounts.values())
        assert total + sum(escrows.values()) == deposits - withdrawals
        assert (deposits, withdrawals) == (self.deposited, self.withdrawn)

        # The stored state is the model's, to the micro-credit.
        for who in {*USERS, TREASURY}:
            stored = accounts.get(who, {})
            assert stored.get("balance", 0) == self.balance[who], who
            assert stored.get("held", 0) == self.held[who], who
        assert {k: v for k, v in escrows.items() if v} == {
            k: v for k, v in self.escrow.items() if v
        }

        # The ledger alone reproduces every balance: each movement recorded once.
        ids = [e["entry_id"] for e in entries]
        assert len(ids) == len(set(ids))
        flow: dict[str, int] = defaultdict(int)
        for entry in entries:
            flow[entry["from_account"]] -= entry["amount"]
            flow[entry["to_account"]] += entry["amount"]
        for who in {*USERS, TREASURY}:
            assert flow[who] == self.balance[who], who
            assert flow[f"held:{who}"] == self.held[who], who
        assert flow[EXTERNAL] == self.withdrawn - self.deposited

        # Every payout took its own nonce, in order, and the wallet's counter is past them.
        assert self.nonces == list(range(len(self.nonces)))
        wallet = self.payout_repo.wallet(CHAIN_ID, HOT_WALLET)
        assert wallet is not None
        assert wallet.next_nonce == len(self.nonces)


@pytest.fixture
def moto_dynamodb():
    serialize_dynamodb_requests()
    with mock_aws():
        yield


def test_books_stay_balanced_through_crashes_and_retries(moto_dynamodb):
    machine_settings = settings(
        max_examples=25,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    machine_settings(Books).TestCase().runTest()
