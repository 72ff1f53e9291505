"""Money in and out on a real local chain (hardhat 2, chain/) with the hot wallet's key in
KMS (moto, signing by digest as AWS does): a deposit is credited once after N
confirmations; a small withdrawal is signed through the KMS adapter, mined and settled in
the ledger; a large one waits for an admin, then is paid; ``xenblocks reconcile`` finds
zero differences, and finds the one transfer the platform did not make."""

from __future__ import annotations

import boto3
import pytest

from functions.dal.accounts import AccountRepository
from functions.dal.deposits import DepositRepository
from functions.dal.ledger import LedgerRepository
from functions.dal.payouts import PayoutRepository
from functions.logic.deposits import DepositAddresses, DepositWatcher
from functions.logic.evm_tx import TokenTransferTx
from functions.logic.funds import FundsService
from functions.logic.hd_keys import deposit_xpub_from_seed
from functions.logic.payout_resync import resync
from functions.logic.payouts import Alarm, PayoutJob
from functions.models.accounts import EntryKind, WithdrawalStatus
from functions.ports.chain import Web3Chain, Web3ChainReader
from functions.ports.kms_signer import KEY_SPEC, KEY_USAGE, KmsSigner
from tests.factories import NOW, address
from tools.reconcile import reconcile

N = 3
CREDIT = 1_000_000
ALICE = address(0xA11CE)
ADMIN = address(0xAD)
STRANGER = address(0x5757)


@pytest.fixture
def platform(chain, settings, tables, request):
    """Deposits and payouts on the local chain, a funded hot wallet whose key is in KMS."""
    kms = boto3.client("kms", region_name=settings.aws_region)  # moto (the tables' mock_aws)
    key_id = kms.create_key(KeySpec=KEY_SPEC, KeyUsage=KEY_USAGE)["KeyMetadata"]["KeyId"]
    signer = KmsSigner(kms, key_id)
    admin, token = chain.admin, chain.token_address
    admin.receipt(admin.pay(chain.accounts[0], signer.address, 10**18))
    admin.receipt(admin.mint(token, signer.address, 10_000 * 10**6))
    seed = request.node.name.encode().ljust(32, b"\0")[:64]
    chain_settings = settings.model_copy(
        update={
            "deposit_xpub": deposit_xpub_from_seed(seed),
            "deposit_rpc_url": chain.url,
            "deposit_chain_id": chain.chain_id,
            "deposit_token_address": token,
            "deposit_token_decimals": chain.token_decimals,
            "deposit_confirmations": N,
            "deposit_start_block": admin.block_number() + 1,
            "withdrawal_kms_key_id": key_id,
            "withdrawal_confirmations": N,
            "withdrawal_auto_max": 100 * CREDIT,
            "hot_wallet_min_balance": 100 * CREDIT,
        }
    )
    deposits = DepositRepository(tables)
    watcher = DepositWatcher(chain_settings, deposits, Web3ChainReader(chain.url, timeout=10))
    job = PayoutJob(chain_settings, PayoutRepository(tables), Web3Chain(chain.url), signer)
    funds = FundsService(
        settings=chain_settings,
        accounts=AccountRepository(tables),
        ledger=LedgerRepository(tables),
    )
    target = DepositAddresses(chain_settings, deposits).of(ALICE, now=NOW).deposit_address
    return chain_settings, watcher, job, funds, signer, target


def _settle(chain, job, now):
    """Mine N blocks over whatever was sent, then run the job: its run."""
    chain.admin.mine(N)
    return job.run(now)


def test_money_in_and_out_reconciles_with_zero_differences(chain, tables, platform):
    chain_settings, watcher, job, funds, signer, target = platform
    admin, token = chain.admin, chain.token_address
    accounts, payouts = AccountRepository(tables), PayoutRepository(tables)

    # In: 500 tUSD to Alice's deposit address, credited once after N confirmations.
    admin.receipt(admin.transfer(token, chain.accounts[1], target, 500 * 10**6))
    assert watcher.run(NOW).credited == 0
    admin.mine(N)
    assert watcher.run(NOW + 1).credited == 1
    assert watcher.run(NOW + 2).credited == 0
    assert accounts.get(ALICE).balance == 500 * CREDIT

    # Out, small: paid without an admin, signed by KMS, mined, settled after N.
    small = funds.request_withdrawal(ALICE, 40 * CREDIT, now=NOW + 3).withdrawal
    assert small.status is WithdrawalStatus.QUEUED
    run = job.run(NOW + 4)
    assert (run.sent, run.alarms) == (1, set())
    sent = payouts.get(ALICE, small.withdrawal_id)
    assert sent.status is WithdrawalStatus.SENT
    receipt = admin.receipt(sent.tx_hash)  # hardhat accepted the KMS-signed transaction
    assert receipt["from"].lower() == signer.address.lower()
    assert admin.balance_of(token, ALICE) == 40 * 10**6
    run = _settle(chain, job, NOW + 5)
    assert (run.settled, run.settled_micro) == (1, 40 * CREDIT)
    settled = payouts.get(ALICE, small.withdrawal_id)
    assert (settled.status, settled.tx_hash) == (WithdrawalStatus.SETTLED, sent.tx_hash)
    entry = LedgerRepository(tables).get(settled.entry_id)
    assert (entry.kind, entry.amount, entry.tx_hash) == (
        EntryKind.WITHDRAWAL,
        40 * CREDIT,
        sent.tx_hash,
    )

    # Out, large: waits for an admin; nothing leaves until then.
    large = funds.request_withdrawal(ALICE, 300 * CREDIT, now=NOW + 6).withdrawal
    assert large.status is WithdrawalStatus.PENDING
    assert job.run(NOW + 7).sent == 0
    assert admin.balance_of(token, ALICE) == 40 * 10**6
    funds.decide_withdrawal(ALICE, large.withdrawal_id, approve=True, admin=ADMIN, now=NOW + 8)
    assert job.run(NOW + 9).sent == 1
    assert _settle(chain, job, NOW + 10).settled == 1
    assert admin.balance_of(token, ALICE) == 340 * 10**6
    account = accounts.get(ALICE)
    assert (account.balance, account.held, account.withdrawn) == (
        160 * CREDIT,
        0,
        340 * CREDIT,
    )

    # The ledger against the chain: every transfer matches exactly one entry.
    chain_reader = Web3ChainReader(chain.url, timeout=10)
    report = reconcile(chain_settings, tables, chain_reader)
    assert report.differences == []
    assert report.pending == []
    assert (report.deposits_on_chain, report.withdrawals_on_chain, report.matched) == (1, 2, 3)
    assert report.hot_wallets == [signer.address]

    # A payment from the hot wallet that the platform did not make is a difference, and
    # stops the payouts job sending until an operator looks.
    nonce = int(admin.call("eth_getTransactionCount", signer.address, "latest"), 16)
    base = int(admin.call("eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)
    stray = TokenTransferTx(
        chain_id=chain.chain_id,
        nonce=nonce,
        max_priority_fee_per_gas=10**9,
        max_fee_per_gas=2 * base + 10**9,
        gas_limit=100_000,
        token=token,
        recipient=STRANGER,
        units=7 * 10**6,
    )
    stray_hash = admin.call("eth_sendRawTransaction", "0x" + signer.sign_transaction(stray).hex())
    admin.receipt(stray_hash)
    admin.mine(N)
    report = reconcile(chain_settings, tables, chain_reader)
    assert [(d.kind, d.tx_hash) for d in report.differences] == [
        ("withdrawal_without_entry", stray_hash)
    ]
    funds.request_withdrawal(ALICE, 1 * CREDIT, now=NOW + 11)
    run = job.run(NOW + 12)
    assert Alarm.NONCE_MISMATCH in run.alarms
    assert run.sent == 0

    # The operator, knowing why, resyncs: the next nonce is the chain's; payouts go on.
    payout_chain = Web3Chain(chain.url)
    plan = resync(chain_settings, payouts, payout_chain, signer.address, now=NOW + 13, apply=False)
    assert (plan.chain_nonce, plan.next_nonce, plan.displaced) == (3, 2, [])
    assert resync(
        chain_settings, payouts, payout_chain, signer.address, now=NOW + 13, apply=True
    ).applied
    run = job.run(NOW + 14)
    assert (run.sent, run.alarms) == (1, set())
    assert _settle(chain, job, NOW + 15).settled == 1
