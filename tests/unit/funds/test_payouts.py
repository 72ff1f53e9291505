"""The payouts job's state machine on a fake chain and moto: a withdrawal is paid once, from
queued to settled after N confirmations, each with its own nonce; a reverted payment
returns the money; an unmined one is replaced with higher fees (never above the cap); the
hot wallet's limits hold payouts back and raise alarms; a crash between taking a nonce and
signing leaves no gap."""

from __future__ import annotations

import pytest

from functions.dal.accounts import AccountRepository
from functions.dal.ledger import LedgerRepository
from functions.dal.payouts import PayoutRepository
from functions.errors import InvalidInput
from functions.logic.deposits import ChainDataError
from functions.logic.funds import FundsService
from functions.logic.payout_resync import resync
from functions.logic.payouts import Alarm, PayoutJob
from functions.models.accounts import Approval, EntryKind, WithdrawalStatus
from functions.models.payouts import utc_day
from tests.factories import NOW, address
from tests.fake_payout_chain import GWEI, FakePayoutChain, LocalKeySigner

TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
ALICE, BOB = address(0xA11CE), address(0xB0B)
ADMIN = address(0xAD)
N = 3
CREDIT = 1_000_000


@pytest.fixture
def chain_settings(settings):
    return settings.model_copy(
        update={
            "deposit_rpc_url": "http://127.0.0.1:8545",
            "deposit_chain_id": 31337,
            "deposit_token_address": TOKEN,
            "deposit_token_decimals": 6,
            "withdrawal_kms_key_id": "alias/test-hot-wallet",
            "withdrawal_confirmations": N,
            "withdrawal_auto_max": 100 * CREDIT,
            "withdrawal_daily_limit": 500 * CREDIT,
            "withdrawal_rebroadcast_seconds": 60,
            "withdrawal_max_fee_gwei": 100,
            "hot_wallet_min_balance": 1_000 * CREDIT,
            "hot_wallet_min_gas_wei": 10**16,
        }
    )


@pytest.fixture
def signer():
    return LocalKeySigner()


@pytest.fixture
def chain(signer):
    return FakePayoutChain(TOKEN, signer.address, height=10)


@pytest.fixture
def accounts(tables):
    return AccountRepository(tables)


@pytest.fixture
def funds(chain_settings, accounts, tables):
    return FundsService(settings=chain_settings, accounts=accounts, ledger=LedgerRepository(tables))


@pytest.fixture
def payouts(tables):
    return PayoutRepository(tables)


@pytest.fixture
def job(chain_settings, payouts, chain, signer):
    return PayoutJob(chain_settings, payouts, chain, signer)


def _fund(accounts, who=ALICE, amount=1_000 * CREDIT):
    accounts.deposit(who, amount, entry_id=f"deposit:{who}:{amount}", now=NOW - 100)


def _withdraw(funds, amount, who=ALICE, key=None, now=NOW):
    return funds.request_withdrawal(who, amount, now=now, idempotency_key=key).withdrawal


def test_a_small_withdrawal_is_paid_and_settled_once_after_n_confirmations(
    funds, accounts, payouts, job, chain, tables
):
    _fund(accounts)
    requested = _withdraw(funds, 25 * CREDIT)
    assert (requested.status, requested.approval) == (WithdrawalStatus.QUEUED, Approval.AUTO)
    assert requested.token_units == str(25 * 10**6)

    run = job.run(NOW + 1)
    assert (run.sent, run.settled) == (1, 0)
    [sent] = chain.sent
    assert (sent.nonce, sent.recipient, sent.units, sent.token) == (0, ALICE, 25 * 10**6, TOKEN)
    stored = payouts.get(ALICE, requested.withdrawal_id)
    assert stored.status is WithdrawalStatus.SENT
    assert (stored.tx_hash, stored.tx_hashes, stored.nonce) == (sent.tx_hash, [sent.tx_hash], 0)

    chain.mine_pending()
    for confirmations in range(1, N):
        run = job.run(NOW + 1 + confirmations)
        assert (run.confirming, run.settled) == (1, 0)
        assert payouts.get(ALICE, requested.withdrawal_id).confirmations == confirmations
        assert accounts.get(ALICE).held == 25 * CREDIT
        chain.mine()
    run = job.run(NOW + 10)
    assert (run.settled, run.settled_micro) == (1, 25 * CREDIT)
    for later in range(3):
        chain.mine()
        assert job.run(NOW + 11 + later).settled == 0

    settled = payouts.get(ALICE, requested.withdrawal_id)
    assert settled.status is WithdrawalStatus.SETTLED
    assert settled.entry_id == f"withdrawal:{requested.withdrawal_id}"
    entry = LedgerRepository(tables).get(settled.entry_id)
    assert (entry.kind, entry.amount, entry.to_account) == (
        EntryKind.WITHDRAWAL,
        25 * CREDIT,
        "external",
    )
    assert (entry.chain_id, entry.tx_hash) == (31337, sent.tx_hash)
    account = accounts.get(ALICE)
    assert (account.balance, account.held, account.withdrawn) == (975 * CREDIT, 0, 25 * CREDIT)
    assert chain.sent == [sent]  # one transaction, one payment


def test_each_payout_takes_its_own_nonce_in_order(funds, accounts, payouts, job, chain):
    _fund(accounts)
    _fund(accounts, BOB)
    ids = [
        _withdraw(funds, (i + 1) * CREDIT, who, key=str(i), now=NOW - 10 + i).withdrawal_id
        for i, who in enumerate((ALICE, BOB, ALICE))
    ]
    run = job.run(NOW + 1)
    assert (run.sent, run.next_nonce) == (3, 3)
    assert [tx.nonce for tx in chain.sent] == [0, 1, 2]
    assert [tx.units for tx in chain.sent] == [1 * 10**6, 2 * 10**6, 3 * 10**6]
    chain.mine_pending()
    chain.mine(N)
    assert job.run(NOW + 2).settled == 3
    assert {payouts.get(w, i).status for w, i in zip((ALICE, BOB, ALICE), ids, strict=True)} == {
        WithdrawalStatus.SETTLED
    }
    assert payouts.wallet(31337, chain.wallet).next_nonce == 3


def test_a_large_withdrawal_waits_for_an_admin_then_is_paid(funds, accounts, payouts, job, chain):
    _fund(accounts)
    big = _withdraw(funds, 300 * CREDIT)
    assert big.status is WithdrawalStatus.PENDING
    assert job.run(NOW + 1).sent == 0
    assert chain.sent == []

    decided = funds.decide_withdrawal(
        ALICE, big.withdrawal_id, approve=True, admin=ADMIN, now=NOW + 2
    )
    assert (decided.withdrawal.status, decided.withdrawal.approval) == (
        WithdrawalStatus.QUEUED,
        Approval.ADMIN,
    )
    assert decided.account.held == 300 * CREDIT  # still held until the chain settles it
    assert job.run(NOW + 3).sent == 1
    chain.mine_pending()
    chain.mine(N)
    assert job.run(NOW + 4).settled == 1
    assert accounts.get(ALICE).withdrawn == 300 * CREDIT


def test_a_reverted_payment_fails_and_returns_the_money(
    funds, accounts, payouts, job, chain, tables
):
    _fund(accounts)
    requested = _withdraw(funds, 40 * CREDIT)
    job.run(NOW + 1)
    chain.mine_pending(revert=True)
    chain.mine(N)
    run = job.run(NOW + 2)
    assert (run.failed, run.settled) == (1, 0)
    assert Alarm.FAILED in run.alarms
    failed = payouts.get(ALICE, requested.withdrawal_id)
    assert failed.status is WithdrawalStatus.FAILED
    assert "reverted" in failed.failure
    account = accounts.get(ALICE)
    assert (account.balance, account.held, account.withdrawn) == (1_000 * CREDIT, 0, 0)
    release = LedgerRepository(tables).get(f"release:{requested.withdrawal_id}")
    assert release.kind is EntryKind.WITHDRAWAL_RELEASE
    # The next payout takes the next nonce: the reverted one used its nonce on chain.
    _withdraw(funds, 1 * CREDIT, key="next")
    job.run(NOW + 3)
    assert chain.sent[-1].nonce == 1


def test_an_unmined_payout_is_replaced_with_higher_fees_and_settles_on_either(
    funds, accounts, payouts, job, chain
):
    _fund(accounts)
    requested = _withdraw(funds, 5 * CREDIT)
    job.run(NOW)
    [first] = chain.sent
    assert job.run(NOW + 30).rebroadcast == 0  # not yet due
    chain.base_fee = 20 * GWEI
    run = job.run(NOW + 61)
    assert run.rebroadcast == 1
    second = chain.sent[-1]
    assert second.nonce == first.nonce
    assert second.max_fee >= first.max_fee * 125 // 100
    assert second.tip >= first.tip * 125 // 100
    stored = payouts.get(ALICE, requested.withdrawal_id)
    assert stored.tx_hashes == [first.tx_hash, second.tx_hash]

    # The chain mines the first one after all (a node that had it kept it): settled on it.
    chain.mine_tx(first)
    chain.mine(N)
    run = job.run(NOW + 62)
    assert run.settled == 1
    settled = payouts.get(ALICE, requested.withdrawal_id)
    assert settled.tx_hash == first.tx_hash


def test_fees_never_pass_the_cap_the_payout_is_sent_again_as_it_is(
    funds, accounts, payouts, job, chain
):
    _fund(accounts)
    _withdraw(funds, 5 * CREDIT)
    chain.base_fee = 45 * GWEI  # 2 × base + tip = 91 gwei: under the 100 gwei cap
    job.run(NOW)
    [first] = chain.sent
    chain.base_fee = 200 * GWEI
    run = job.run(NOW + 61)
    assert Alarm.FEES_OVER_CAP in run.alarms
    assert run.rebroadcast == 0
    assert chain.sent == [first]
    assert all(tx.max_fee <= 100 * GWEI for tx in chain.sent)
    assert job.run(NOW + 200).stuck == 1  # three intervals unmined


def test_the_daily_limit_holds_payouts_until_the_next_day(funds, accounts, payouts, job, chain):
    _fund(accounts, amount=2_000 * CREDIT)
    for i in range(6):
        _withdraw(funds, 100 * CREDIT, key=str(i))
    run = job.run(NOW)
    assert (run.sent, run.waiting) == (5, 1)
    assert Alarm.DAILY_LIMIT in run.alarms
    assert payouts.outflow(31337, chain.wallet, utc_day(NOW)).amount == 500 * CREDIT
    tomorrow = NOW + 86_400
    run = job.run(tomorrow)
    assert (run.sent, run.waiting) == (1, 0)
    assert Alarm.DAILY_LIMIT not in run.alarms


def test_a_short_hot_wallet_holds_payouts_and_raises_alarms(funds, accounts, payouts, job, chain):
    _fund(accounts)
    chain.tokens = 10 * 10**6
    chain.gas = 10**15
    _withdraw(funds, 20 * CREDIT)
    run = job.run(NOW)
    assert (run.sent, run.waiting) == (0, 1)
    assert {Alarm.TOKEN_LOW, Alarm.GAS_LOW} <= run.alarms
    wallet = payouts.wallet(31337, chain.wallet)
    assert set(wallet.alarms) >= {Alarm.TOKEN_LOW, Alarm.GAS_LOW}
    assert wallet.token_units == str(10 * 10**6)
    chain.tokens, chain.gas = 5_000 * 10**6, 10**18
    run = job.run(NOW + 1)
    assert run.sent == 1
    assert not run.alarms


def test_a_nonce_used_outside_the_platform_stops_new_payouts(funds, accounts, payouts, job, chain):
    _fund(accounts)
    job.run(NOW)  # the wallet's record: next nonce 0
    chain.mined_nonce = 1  # something else spent from the hot wallet
    _withdraw(funds, 1 * CREDIT)
    run = job.run(NOW + 1)
    assert Alarm.NONCE_MISMATCH in run.alarms
    assert (run.sent, run.waiting) == (0, 1)
    assert chain.sent == []


def test_a_crash_between_nonce_and_signature_leaves_no_gap(
    funds, accounts, payouts, job, chain, signer
):
    _fund(accounts)
    requested = _withdraw(funds, 3 * CREDIT)
    signer.fail_next = 1
    with pytest.raises(RuntimeError, match="KMS"):
        job.run(NOW)
    stuck = payouts.get(ALICE, requested.withdrawal_id)
    assert (stuck.status, stuck.nonce) == (WithdrawalStatus.SIGNING, 0)
    run = job.run(NOW + 1)
    assert run.sent == 1
    [sent] = chain.sent
    assert sent.nonce == 0
    chain.mine_pending()
    chain.mine(N)
    assert job.run(NOW + 2).settled == 1


def test_a_lost_broadcast_is_sent_again(funds, accounts, payouts, job, chain):
    _fund(accounts)
    _withdraw(funds, 3 * CREDIT)
    chain.send_error = "connection reset"
    run = job.run(NOW)
    assert run.broadcast_errors == 1
    assert chain.sent == []
    job.run(NOW + 61)  # due: replaced (higher fees), so it reaches the node
    assert chain.sent
    assert chain.sent[-1].nonce == 0


def test_a_malformed_receipt_settles_nothing(funds, accounts, payouts, job, chain):
    _fund(accounts)
    requested = _withdraw(funds, 3 * CREDIT)
    job.run(NOW)
    chain.mine_pending()
    chain.mine(N)
    chain.overrides["eth_getTransactionReceipt"] = {"transactionHash": "0x12", "status": "0x1"}
    with pytest.raises(ChainDataError):
        job.run(NOW + 1)
    assert payouts.get(ALICE, requested.withdrawal_id).status is WithdrawalStatus.SENT
    assert accounts.get(ALICE).withdrawn == 0
    del chain.overrides["eth_getTransactionReceipt"]
    assert job.run(NOW + 2).settled == 1


def test_a_reorg_before_n_confirmations_waits_for_the_new_block(
    funds, accounts, payouts, job, chain
):
    _fund(accounts)
    requested = _withdraw(funds, 3 * CREDIT)
    job.run(NOW)
    [sent] = chain.sent
    chain.mine_pending()
    height = chain.height
    assert job.run(NOW + 1).confirming == 1
    # The block holding it is replaced; the transaction is back in the mempool.
    chain.reorg(height)
    chain.receipts.pop(sent.tx_hash)
    chain.mined_nonce -= 1
    chain.tokens += sent.units
    chain.mempool[sent.nonce] = sent
    chain.mine(N)
    run = job.run(NOW + 2)
    assert (run.settled, run.confirming) == (0, 0)
    chain.mine_pending()
    chain.mine(N)
    assert job.run(NOW + 3).settled == 1
    settled = payouts.get(ALICE, requested.withdrawal_id)
    assert settled.block_number == chain.receipts[sent.tx_hash].block.number


def test_an_amount_the_token_cannot_hold_is_refused_at_request(chain_settings, tables, accounts):
    two_decimals = chain_settings.model_copy(update={"deposit_token_decimals": 2})
    funds = FundsService(settings=two_decimals, accounts=accounts, ledger=LedgerRepository(tables))
    _fund(accounts)
    with pytest.raises(InvalidInput, match="multiple of 10000"):
        funds.request_withdrawal(ALICE, 1_234_567, now=NOW)
    assert accounts.get(ALICE).held == 0
    held = funds.request_withdrawal(ALICE, 1_230_000, now=NOW).withdrawal
    assert held.token_units == "123"


def test_a_run_sends_at_most_its_share_the_rest_wait(funds, accounts, job, chain, monkeypatch):
    monkeypatch.setattr("functions.logic.payouts.MAX_SENT_PER_RUN", 2)
    _fund(accounts)
    for i in range(3):
        _withdraw(funds, 1 * CREDIT, key=str(i), now=NOW + i)
    run = job.run(NOW + 5)
    assert (run.sent, run.waiting) == (2, 1)
    assert job.run(NOW + 6).sent == 1
    assert [tx.nonce for tx in chain.sent] == [0, 1, 2]


def test_a_resync_fails_displaced_payouts_and_moves_the_nonce_on(
    chain_settings, funds, accounts, payouts, job, chain, tables
):
    _fund(accounts)
    displaced = _withdraw(funds, 6 * CREDIT, key="a", now=NOW)
    job.run(NOW + 1)
    # Another transaction of the hot wallet takes nonce 0 on chain (a manual sweep, say):
    # the payout's transaction can never be mined.
    chain.mempool.clear()
    chain.mined_nonce = 1
    _withdraw(funds, 2 * CREDIT, key="b", now=NOW + 2)
    run = job.run(NOW + 3)
    assert Alarm.NONCE_MISMATCH in run.alarms
    assert run.sent == 0

    plan = resync(chain_settings, payouts, chain, chain.wallet, now=NOW + 4, apply=False)
    assert [p.withdrawal_id for p in plan.displaced] == [displaced.withdrawal_id]
    assert payouts.get(ALICE, displaced.withdrawal_id).status is WithdrawalStatus.SENT
    done = resync(chain_settings, payouts, chain, chain.wallet, now=NOW + 4, apply=True)
    assert done.applied
    failed = payouts.get(ALICE, displaced.withdrawal_id)
    assert failed.status is WithdrawalStatus.FAILED
    assert "another transaction" in failed.failure
    assert accounts.get(ALICE).held == 2 * CREDIT  # only the waiting one is still held
    assert payouts.wallet(31337, chain.wallet).next_nonce == 1
    run = job.run(NOW + 5)
    assert (run.sent, run.alarms) == (1, set())
    assert chain.sent[-1].nonce == 1
    assert not resync(chain_settings, payouts, chain, chain.wallet, now=NOW + 6, apply=False).needed
