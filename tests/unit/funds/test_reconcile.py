"""``xenblocks reconcile``'s comparison (``tools/reconcile.compare``): each on-chain transfer
matches exactly one ledger entry of the same amount and party, and each on-chain entry one
transfer; what the jobs will settle on their next run is pending, not a difference."""

from __future__ import annotations

from functions.logic.deposits import TransferLog
from functions.models.accounts import EXTERNAL, DepositSource, EntryKind, LedgerEntry
from tests.factories import NOW, address
from tools.reconcile import LedgerSide, compare, describe

CHAIN, TOKEN = 31337, address(0x70C)
HOT = address(0x407)
ALICE, BOB = address(0xA11CE), address(0xB0B)
DEPOSIT_ADDRESS = address(0xDE9)
FUNDER = address(0xF00)


def _transfer(n: int, sender: str, to: str, units: int, block: int = 50) -> TransferLog:
    return TransferLog(
        token_address=TOKEN,
        block_number=block,
        block_hash=f"0x{block:064x}",
        tx_hash=f"0x{n:064x}",
        log_index=0,
        from_address=sender,
        to_address=to,
        value=units,
    )


def _deposit_entry(transfer: TransferLog, amount: int, owner: str = ALICE) -> LedgerEntry:
    return LedgerEntry(
        entry_id=f"chain:{CHAIN}:{transfer.deposit_id}",
        kind=EntryKind.DEPOSIT,
        amount=amount,
        from_account=EXTERNAL,
        to_account=owner,
        to_party=owner,
        created_at=NOW,
        source=DepositSource.CHAIN,
    )


def _withdrawal_entry(name: str, transfer: TransferLog, amount: int, who: str = BOB) -> LedgerEntry:
    return LedgerEntry(
        entry_id=f"withdrawal:{name}",
        kind=EntryKind.WITHDRAWAL,
        amount=amount,
        from_account=f"held:{who}",
        to_account=EXTERNAL,
        from_party=who,
        created_at=NOW,
        chain_id=CHAIN,
        tx_hash=transfer.tx_hash,
    )


def _compare(transfers, entries, *, blocks=None, settling=(), uncredited=None):
    return compare(
        chain_id=CHAIN,
        token_address=TOKEN,
        decimals=6,
        first_block=10,
        last_block=100,
        transfers=transfers,
        deposit_owners={DEPOSIT_ADDRESS: ALICE},
        hot_wallets={HOT},
        ledger=LedgerSide(
            entries=entries,
            blocks=blocks or {e.entry_id: 50 for e in entries},
            settling=set(settling),
            uncredited=uncredited or {},
        ),
    )


IN = _transfer(1, FUNDER, DEPOSIT_ADDRESS, 25_000_000)
OUT = _transfer(2, HOT, BOB, 7_000_000)
STRANGER_TRANSFER = _transfer(3, FUNDER, BOB, 1)  # neither a deposit nor a payout


def test_matching_books_have_zero_differences():
    report = _compare(
        [IN, OUT, STRANGER_TRANSFER],
        [_deposit_entry(IN, 25_000_000), _withdrawal_entry("w1", OUT, 7_000_000)],
    )
    assert report.ok
    assert (report.matched, report.deposits_on_chain, report.withdrawals_on_chain) == (2, 1, 1)
    assert describe(report).endswith("0 differences")


def test_every_kind_of_difference_is_named():
    wrong_owner = _transfer(4, FUNDER, DEPOSIT_ADDRESS, 3_000_000)
    double = _transfer(5, HOT, BOB, 1_000_000)
    report = _compare(
        [IN, OUT, wrong_owner, double, _transfer(6, HOT, ALICE, 9_000_000)],
        [
            _deposit_entry(IN, 24_000_000),  # credited a different amount
            _withdrawal_entry("w1", OUT, 7_000_000, who=ALICE),  # paid someone else
            _deposit_entry(wrong_owner, 3_000_000, owner=BOB),  # credited to another account
            _withdrawal_entry("w2", double, 1_000_000),
            _withdrawal_entry("w3", double, 1_000_000),  # one transaction, two entries
            _withdrawal_entry("w4", _transfer(7, HOT, BOB, 5), 5),  # no such transfer
        ],
    )
    kinds = sorted(d.kind for d in report.differences)
    assert kinds == [
        "deposit_amount",
        "deposit_amount",
        "entry_without_transfer",
        "withdrawal_amount",
        "withdrawal_entered_twice",
        "withdrawal_without_entry",  # transfer 6: the hot wallet paid with no entry
    ]
    assert not report.ok
    assert report.matched == 0


def test_what_the_jobs_settle_next_is_pending_not_a_difference():
    report = _compare(
        [IN, OUT],
        [],
        settling={OUT.tx_hash},
        uncredited={IN.deposit_id: "pending"},
    )
    assert report.ok
    assert sorted(p.kind for p in report.pending) == [
        "deposit_without_entry",
        "withdrawal_without_entry",
    ]


def test_a_held_deposit_is_a_difference_until_an_operator_credits_it_by_name():
    report = _compare([IN], [], uncredited={IN.deposit_id: "held"})
    [difference] = report.differences
    assert (difference.kind, difference.tx_hash) == ("deposit_without_entry", IN.tx_hash)
    assert "held" in difference.detail

    def correction(owner: str) -> LedgerEntry:
        return LedgerEntry(
            entry_id=f"deposit:{owner}:ref:{IN.deposit_id}",
            kind=EntryKind.DEPOSIT,
            amount=24_999_999,  # the operator's decision on dust
            from_account=EXTERNAL,
            to_account=owner,
            to_party=owner,
            created_at=NOW,
            source=DepositSource.OPERATOR,
        )

    def corrected(owner: str):
        return compare(
            chain_id=CHAIN,
            token_address=TOKEN,
            decimals=6,
            first_block=10,
            last_block=100,
            transfers=[IN],
            deposit_owners={DEPOSIT_ADDRESS: ALICE},
            hot_wallets={HOT},
            ledger=LedgerSide(
                entries=[],
                blocks={},
                settling=set(),
                uncredited={IN.deposit_id: "held"},
                corrections={IN.deposit_id: correction(owner)},
            ),
        )

    report = corrected(ALICE)
    assert report.ok
    assert (report.matched, report.corrected) == (1, 1)
    # Credited to someone else than the deposit address's owner: still a difference.
    assert [d.kind for d in corrected(BOB).differences] == ["deposit_without_entry"]


def test_entries_outside_the_blocks_compared_are_not_judged():
    late = _transfer(8, HOT, BOB, 2_000_000, block=150)  # beyond the last final block
    entry = _withdrawal_entry("late", late, 2_000_000)
    report = _compare([late], [entry], blocks={entry.entry_id: 150})
    assert report.ok
    assert (report.outside_range, report.withdrawals_on_chain) == (1, 0)
    # An entry the platform has no record of the transfer for is judged, and missing.
    unknown = _withdrawal_entry("ghost", _transfer(9, HOT, BOB, 1), 1)
    report = _compare([], [unknown], blocks={unknown.entry_id: None})
    assert [d.kind for d in report.differences] == ["entry_without_transfer"]
