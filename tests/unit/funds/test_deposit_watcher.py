"""The deposit watcher's state machine on a fake chain and moto: a transfer to a deposit
address is credited once after N confirmations; reorganisations below N never credit
twice or wrongly; what the chain answers is validated before anything is stored."""

from __future__ import annotations

import logging

import pytest

from functions.dal.accounts import AccountRepository
from functions.dal.deposits import DepositRepository, credit_entry_id
from functions.dal.ledger import LedgerRepository
from functions.errors import ConcurrentUpdate, DuplicateEntry, NotFound
from functions.logic.deposits import (
    ChainDataError,
    DepositAddresses,
    DepositWatcher,
    parse_transfer,
)
from functions.logic.hd_keys import deposit_address, deposit_xpub_from_seed
from functions.models.accounts import EXTERNAL, EntryKind
from functions.models.deposits import DepositStatus
from tests.factories import NOW, address
from tests.fake_chain import FakeChain

TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
XPUB = deposit_xpub_from_seed(bytes(range(32)))
ALICE, BOB = address(0xA11CE), address(0xB0B)
STRANGER = address(0x5)
N = 3


@pytest.fixture
def chain_settings(settings):
    return settings.model_copy(
        update={
            "deposit_xpub": XPUB,
            "deposit_rpc_url": "http://127.0.0.1:8545",
            "deposit_chain_id": 31337,
            "deposit_token_address": TOKEN,
            "deposit_token_decimals": 6,
            "deposit_confirmations": N,
        }
    )


@pytest.fixture
def repo(tables):
    return DepositRepository(tables)


@pytest.fixture
def addresses(chain_settings, repo):
    return DepositAddresses(chain_settings, repo)


@pytest.fixture
def chain():
    return FakeChain(TOKEN, height=10)


@pytest.fixture
def watcher(chain_settings, repo, chain):
    return DepositWatcher(chain_settings, repo, chain)


def _balance(tables, owner: str) -> tuple[int, int]:
    account = AccountRepository(tables).get(owner)
    return account.balance, account.deposited


def _deposits(repo, owner: str):
    return repo.deposits(owner, limit=50).items


# -- deposit addresses ----------------------------------------------------------------------


def test_each_account_gets_its_own_address_once(addresses, repo):
    alice = addresses.of(ALICE, now=NOW)
    bob = addresses.of(BOB, now=NOW + 1)
    assert (alice.index, bob.index) == (0, 1)
    assert alice.deposit_address == deposit_address(XPUB, 0)
    assert bob.deposit_address == deposit_address(XPUB, 1)
    assert addresses.of(ALICE, now=NOW + 2) == alice  # the same address ever after
    owners = repo.owners_of([alice.deposit_address, bob.deposit_address, STRANGER])
    assert {a: o.owner for a, o in owners.items()} == {
        alice.deposit_address: ALICE,
        bob.deposit_address: BOB,
    }


def test_no_addresses_without_the_chain_settings(settings, repo):
    with pytest.raises(NotFound, match="no on-chain deposits"):
        DepositAddresses(settings, repo).of(ALICE, now=NOW)


# -- the life of a deposit ------------------------------------------------------------------


def test_a_deposit_is_credited_once_after_n_confirmations(tables, addresses, repo, watcher, chain):
    target = addresses.of(ALICE, now=NOW).deposit_address
    tx = chain.transfer(STRANGER, target, 12_500_000)  # 12.5 tokens in block 11
    run = watcher.run(NOW)
    assert (run.seen, run.credited, run.pending) == (1, 0, 1)
    [pending] = _deposits(repo, ALICE)
    assert pending.status is DepositStatus.PENDING
    assert (pending.tx_hash, pending.log_index, pending.block_number) == (tx, 0, 11)
    assert (pending.confirmations, pending.required_confirmations) == (1, N)
    assert (pending.amount, pending.token_units, pending.from_address) == (
        12_500_000,
        "12500000",
        STRANGER,
    )
    assert _balance(tables, ALICE) == (0, 0)

    chain.mine()  # 2 confirmations
    run = watcher.run(NOW + 10)
    assert (run.seen, run.credited) == (0, 0)
    assert _deposits(repo, ALICE)[0].confirmations == 2

    chain.mine()  # 3 confirmations: credited
    run = watcher.run(NOW + 20)
    assert (run.credited, run.credited_micro) == (1, 12_500_000)
    [credited] = _deposits(repo, ALICE)
    assert credited.status is DepositStatus.CREDITED
    assert credited.confirmations == N
    assert credited.entry_id == credit_entry_id(31337, f"{tx}:0")
    assert _balance(tables, ALICE) == (12_500_000, 12_500_000)
    entry = LedgerRepository(tables).get(credited.entry_id)
    assert entry is not None
    assert (entry.kind, entry.amount, entry.from_account, entry.to_account) == (
        EntryKind.DEPOSIT,
        12_500_000,
        EXTERNAL,
        ALICE,
    )

    for later in range(3):  # more blocks and runs credit nothing again
        chain.mine()
        assert watcher.run(NOW + 30 + later).credited == 0
    assert _balance(tables, ALICE) == (12_500_000, 12_500_000)
    assert repo.pending() == []


def test_transfers_elsewhere_and_of_nothing_are_ignored(tables, addresses, repo, watcher, chain):
    target = addresses.of(ALICE, now=NOW).deposit_address
    chain.transfer(STRANGER, BOB, 5_000_000)  # BOB's wallet, not a deposit address
    chain.transfer(STRANGER, target, 0)
    chain.mine(N)
    run = watcher.run(NOW)
    assert (run.transfers, run.seen, run.credited) == (2, 0, 0)
    assert _deposits(repo, ALICE) == []


def test_two_transfers_in_one_transaction_are_two_deposits(tables, addresses, repo, watcher, chain):
    from tests.fake_chain import FakeTransfer

    target = addresses.of(ALICE, now=NOW).deposit_address
    chain.mine(1, [FakeTransfer(STRANGER, target, 1_000_000, "0x" + "ab" * 32)] * 2)
    chain.mine(N)
    run = watcher.run(NOW)
    assert (run.seen, run.credited) == (2, 2)
    assert sorted(d.log_index for d in _deposits(repo, ALICE)) == [0, 1]
    assert _balance(tables, ALICE) == (2_000_000, 2_000_000)


def test_the_cursor_keeps_the_unconfirmed_window_and_reads_in_pages(
    chain_settings, repo, addresses, chain
):
    target = addresses.of(ALICE, now=NOW).deposit_address
    chain.transfer(STRANGER, target, 1_000_000)
    chain.mine(20)
    settings = chain_settings.model_copy(update={"deposit_max_blocks": 8})
    watcher = DepositWatcher(settings, repo, chain)
    run = watcher.run(NOW)
    assert run.credited == 1
    ranges = [call for call in chain.calls if call[0] == "eth_getLogs"]
    assert len(ranges) == 4  # blocks 0..31 in pages of 8
    cursor = repo.cursor(31337, TOKEN)
    assert cursor is not None
    assert cursor.next_block == chain.height - N + 2  # the first block short of N
    chain.calls.clear()
    watcher.run(NOW + 1)
    assert len([c for c in chain.calls if c[0] == "eth_getLogs"]) == 1


def test_a_deposit_from_before_the_start_block_is_not_read(chain_settings, repo, addresses, chain):
    target = addresses.of(ALICE, now=NOW).deposit_address
    chain.transfer(STRANGER, target, 1_000_000)  # block 11
    chain.mine(N)
    settings = chain_settings.model_copy(update={"deposit_start_block": 12})
    assert DepositWatcher(settings, repo, chain).run(NOW).seen == 0


# -- reorganisations ------------------------------------------------------------------------


def test_a_reorg_below_n_orphans_the_deposit_and_credits_nothing(
    tables, addresses, repo, watcher, chain, caplog
):
    target = addresses.of(ALICE, now=NOW).deposit_address
    chain.transfer(STRANGER, target, 7_000_000)  # block 11
    chain.mine()  # 12
    assert watcher.run(NOW).seen == 1
    chain.reorg(11)  # blocks 11 and 12 replaced: the transfer is gone
    chain.mine(2 * N)
    with caplog.at_level(logging.WARNING):
        run = watcher.run(NOW + 10)
    assert (run.orphaned, run.credited) == (1, 0)
    assert "no longer canonical" in caplog.text
    [orphaned] = _deposits(repo, ALICE)
    assert orphaned.status is DepositStatus.ORPHANED
    chain.mine(N)
    assert watcher.run(NOW + 20).credited == 0
    assert _balance(tables, ALICE) == (0, 0)


def test_a_transfer_mined_again_after_a_reorg_is_credited_once(
    tables, addresses, repo, watcher, chain
):
    target = addresses.of(ALICE, now=NOW).deposit_address
    tx = chain.transfer(STRANGER, target, 3_000_000)  # block 11
    assert watcher.run(NOW).seen == 1
    [dropped] = chain.reorg(11)
    chain.mine()  # an empty 11
    chain.mine(1, dropped.transfers)  # the same transaction, same log index, in block 12
    run = watcher.run(NOW + 10)
    assert (run.moved, run.orphaned, run.credited) == (1, 0, 0)
    [moved] = _deposits(repo, ALICE)
    assert (moved.status, moved.block_number) == (DepositStatus.PENDING, 12)
    chain.mine(N - 1)
    assert watcher.run(NOW + 20).credited == 1
    chain.mine(N)
    assert watcher.run(NOW + 30).credited == 0
    [credited] = _deposits(repo, ALICE)
    assert (credited.tx_hash, credited.status) == (tx, DepositStatus.CREDITED)
    assert _balance(tables, ALICE) == (3_000_000, 3_000_000)


def test_a_reorg_that_moves_the_log_index_credits_the_new_log_only(
    tables, addresses, repo, watcher, chain
):
    from tests.fake_chain import FakeTransfer

    target = addresses.of(ALICE, now=NOW).deposit_address
    tx = chain.transfer(STRANGER, target, 4_000_000)  # block 11, log 0
    chain.mine()
    assert watcher.run(NOW).seen == 1
    [dropped, _] = chain.reorg(11)
    other = FakeTransfer(STRANGER, BOB, 1, "0x" + "cd" * 32)
    chain.mine(1, [other, *dropped.transfers])  # now log 1 of block 11
    chain.mine(N)
    run = watcher.run(NOW + 10)
    assert (run.seen, run.orphaned, run.credited) == (1, 1, 1)
    statuses = {d.deposit_id: d.status for d in _deposits(repo, ALICE)}
    assert statuses == {f"{tx}:0": DepositStatus.ORPHANED, f"{tx}:1": DepositStatus.CREDITED}
    assert _balance(tables, ALICE) == (4_000_000, 4_000_000)


def test_a_deposit_whose_block_is_past_the_new_head_is_orphaned(
    tables, addresses, repo, watcher, chain
):
    target = addresses.of(ALICE, now=NOW).deposit_address
    chain.transfer(STRANGER, target, 1_000_000)  # block 11
    watcher.run(NOW)
    chain.reorg(11)  # the head is 10 again
    run = watcher.run(NOW + 1)
    assert (run.orphaned, run.credited) == (1, 0)


# -- amounts that do not convert ------------------------------------------------------------


def test_dust_is_held_with_a_clear_line_never_rounded(
    tables, chain_settings, repo, addresses, chain, caplog
):
    settings = chain_settings.model_copy(update={"deposit_token_decimals": 18})
    watcher = DepositWatcher(settings, repo, chain)
    target = addresses.of(ALICE, now=NOW).deposit_address
    chain.transfer(STRANGER, target, 10**18 + 1)  # one token and one wei
    chain.transfer(STRANGER, target, 2 * 10**18)  # two tokens: exact
    chain.mine(N)
    with caplog.at_level(logging.ERROR):
        run = watcher.run(NOW)
    assert (run.held, run.credited) == (1, 1)
    [line] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert line.getMessage() == "deposit held: not creditable as it is"
    assert "not a whole number of micro-credits" in line.reason  # type: ignore[attr-defined]
    held = [d for d in _deposits(repo, ALICE) if d.status is DepositStatus.HELD]
    assert [(d.token_units, d.amount) for d in held] == [(str(10**18 + 1), None)]
    assert _balance(tables, ALICE) == (2_000_000, 2_000_000)
    assert watcher.run(NOW + 1).held == 0  # held once, out of the queue


def test_an_amount_over_one_deposits_limit_is_held(tables, repo, addresses, watcher, chain):
    target = addresses.of(ALICE, now=NOW).deposit_address
    chain.transfer(STRANGER, target, 2**200)
    chain.mine(N)
    assert watcher.run(NOW).held == 1
    assert _balance(tables, ALICE) == (0, 0)


# -- crashes and retries ----------------------------------------------------------------------


def test_a_credit_committed_whose_answer_was_lost_is_not_repeated(
    tables, addresses, repo, watcher, chain
):
    target = addresses.of(ALICE, now=NOW).deposit_address
    chain.transfer(STRANGER, target, 2_000_000)
    watcher.run(NOW)
    [pending] = repo.pending()
    chain.mine(N)
    repo.credit(pending, confirmations=N, now=NOW)  # a run that died after committing
    run = watcher.run(NOW + 1)
    assert run.credited == 0
    assert _balance(tables, ALICE) == (2_000_000, 2_000_000)
    # A stale copy of the pending deposit (read before the credit) cannot credit again.
    with pytest.raises((DuplicateEntry, ConcurrentUpdate)):
        repo.credit(pending, confirmations=N, now=NOW + 2)
    assert _balance(tables, ALICE) == (2_000_000, 2_000_000)


# -- what the chain says is checked ---------------------------------------------------------


def test_the_wrong_chain_is_refused(tables, addresses, repo, watcher, chain):
    chain.id = 1
    with pytest.raises(ChainDataError, match="chain 1"):
        watcher.run(NOW)
    assert repo.cursor(31337, TOKEN) is None


@pytest.mark.parametrize(
    ("method", "answer"),
    [
        ("eth_chainId", 31337),  # a number, not a quantity
        ("eth_blockNumber", "0x"),
        ("eth_blockNumber", "0x012"),  # leading zero
        ("eth_blockNumber", None),
        ("eth_getLogs", {"not": "a list"}),
        ("eth_getLogs", ["a string"]),
    ],
)
def test_malformed_answers_stop_the_run(addresses, repo, watcher, chain, method, answer):
    addresses.of(ALICE, now=NOW)
    chain.overrides[method] = answer
    with pytest.raises(ChainDataError):
        watcher.run(NOW)
    assert repo.pending() == []


def _a_log(chain, target):
    chain.transfer(STRANGER, target, 1_000_000)
    block = chain.blocks[-1]
    return chain.log(block, 0, block.transfers[0])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("address", "0x" + "11" * 20),  # another contract's log
        ("data", "0x01"),  # not one word
        ("blockHash", "0x1234"),
        ("transactionHash", None),
        ("logIndex", "-1"),
        ("topics", []),
    ],
)
def test_malformed_logs_are_refused(addresses, chain, field, value):
    log = _a_log(chain, addresses.of(ALICE, now=NOW).deposit_address)
    log[field] = value
    with pytest.raises(ChainDataError):
        parse_transfer(log, TOKEN)


def test_an_address_topic_must_be_an_address(addresses, chain):
    log = _a_log(chain, addresses.of(ALICE, now=NOW).deposit_address)
    log["topics"][2] = "0x" + "ff" * 32
    with pytest.raises(ChainDataError, match="12 zero bytes"):
        parse_transfer(log, TOKEN)


def test_removed_logs_and_other_events_are_not_transfers(addresses, chain):
    log = _a_log(chain, addresses.of(ALICE, now=NOW).deposit_address)
    assert parse_transfer({**log, "removed": True}, TOKEN) is None
    assert parse_transfer({**log, "topics": ["0x" + "00" * 32]}, TOKEN) is None
    assert parse_transfer({**log, "topics": log["topics"] + [log["data"]]}, TOKEN) is None


def test_a_log_outside_the_range_asked_is_refused(addresses, repo, watcher, chain):
    log = _a_log(chain, addresses.of(ALICE, now=NOW).deposit_address)
    chain.overrides["eth_getLogs"] = [{**log, "blockNumber": hex(10_000)}]
    with pytest.raises(ChainDataError, match="outside the range"):
        watcher.run(NOW)


def test_a_block_answered_for_another_height_is_refused(addresses, repo, watcher, chain):
    chain.transfer(STRANGER, addresses.of(ALICE, now=NOW).deposit_address, 1_000_000)
    watcher.run(NOW)
    chain.overrides["eth_getBlockByNumber"] = {"number": "0x1", "hash": "0x" + "00" * 32}
    with pytest.raises(ChainDataError, match="asked for block"):
        watcher.run(NOW + 1)
