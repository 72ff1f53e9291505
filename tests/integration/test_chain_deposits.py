"""Deposits on a real local chain (hardhat 2, chain/): the test stablecoin transferred to an
account's deposit address is read through web3.py, credited exactly once after N
confirmations (blocks mined with ``evm_mine``), and a reorganisation below N
(``evm_snapshot``/``evm_revert``, then a different block at the same height) credits
nothing twice or wrongly."""

from __future__ import annotations

import pytest

from functions.dal.accounts import AccountRepository
from functions.dal.deposits import DepositRepository
from functions.dal.ledger import LedgerRepository
from functions.logic.deposits import DepositAddresses, DepositWatcher
from functions.logic.hd_keys import deposit_xpub_from_seed
from functions.models.deposits import DepositStatus
from functions.ports.chain import Web3ChainReader
from tests.factories import NOW, address

N = 3
ALICE = address(0xA11CE)
BYSTANDER = address(0xB1)


@pytest.fixture
def setup(chain, settings, tables, request):
    """A fresh deposit wallet per test, watched from the current block on."""
    seed = request.node.name.encode().ljust(32, b"\0")[:64]
    chain_settings = settings.model_copy(
        update={
            "deposit_xpub": deposit_xpub_from_seed(seed),
            "deposit_rpc_url": chain.url,
            "deposit_chain_id": chain.chain_id,
            "deposit_token_address": chain.token_address,
            "deposit_token_decimals": chain.token_decimals,
            "deposit_confirmations": N,
            "deposit_start_block": chain.admin.block_number() + 1,
        }
    )
    repo = DepositRepository(tables)
    target = DepositAddresses(chain_settings, repo).of(ALICE, now=NOW).deposit_address
    watcher = DepositWatcher(chain_settings, repo, Web3ChainReader(chain.url, timeout=10))
    return watcher, repo, target


def _balance(tables) -> tuple[int, int]:
    account = AccountRepository(tables).get(ALICE)
    return account.balance, account.deposited


def test_a_transfer_is_credited_exactly_once_after_n_confirmations(chain, tables, setup):
    watcher, repo, target = setup
    admin, token = chain.admin, chain.token_address
    receipt = admin.receipt(admin.transfer(token, chain.accounts[1], target, 25_000_000))
    assert admin.balance_of(token, target) == 25_000_000

    for confirmations in range(1, N):
        run = watcher.run(NOW + confirmations)
        assert run.credited == 0
        [pending] = repo.deposits(ALICE, limit=10).items
        assert (pending.status, pending.confirmations) == (DepositStatus.PENDING, confirmations)
        assert pending.tx_hash == receipt["transactionHash"]
        assert _balance(tables) == (0, 0)
        admin.mine()

    run = watcher.run(NOW + N)
    assert (run.credited, run.credited_micro) == (1, 25_000_000)
    for later in range(3):
        admin.mine(2)
        assert watcher.run(NOW + N + 1 + later).credited == 0
    [credited] = repo.deposits(ALICE, limit=10).items
    assert credited.status is DepositStatus.CREDITED
    assert _balance(tables) == (25_000_000, 25_000_000)
    [entry] = LedgerRepository(tables).history(ALICE, limit=10).items
    assert (entry.amount, entry.source) == (25_000_000, "chain")


def test_a_reorg_below_n_credits_nothing_twice_or_wrongly(chain, tables, setup):
    watcher, repo, target = setup
    admin, token = chain.admin, chain.token_address
    snapshot = admin.snapshot()
    height = admin.block_number()
    receipt = admin.receipt(admin.transfer(token, chain.accounts[1], target, 7_000_000))
    orphaned_block = receipt["blockHash"]
    admin.mine()  # two confirmations: pending
    assert watcher.run(NOW).seen == 1
    assert watcher.run(NOW + 1).credited == 0

    # The reorganisation: back before the transfer, then a different chain at that height
    # (another account's transfer, then a deposit of another amount), deeper than before.
    assert admin.revert(snapshot)
    assert admin.block_number() == height
    admin.receipt(admin.transfer(token, chain.accounts[2], BYSTANDER, 1_000_000))
    assert admin.block_hash(height + 1) != orphaned_block
    admin.receipt(admin.transfer(token, chain.accounts[3], target, 3_000_000))
    run = watcher.run(NOW + 2)
    assert (run.orphaned, run.seen, run.credited) == (1, 1, 0)
    admin.mine(N)
    run = watcher.run(NOW + 3)
    assert (run.credited, run.credited_micro) == (1, 3_000_000)
    admin.mine(N)
    assert watcher.run(NOW + 4).credited == 0

    statuses = sorted((d.amount, d.status) for d in repo.deposits(ALICE, limit=10).items)
    assert statuses == [
        (3_000_000, DepositStatus.CREDITED),
        (7_000_000, DepositStatus.ORPHANED),
    ]
    assert _balance(tables) == (3_000_000, 3_000_000)
    assert admin.balance_of(token, target) == 3_000_000  # what the chain holds, exactly
