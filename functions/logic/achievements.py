"""Wallet achievements: badges computed from a caller's own data with a few bounded reads.

Reads per call: one GetItem (the account), two limit-1 Queries (a lease rented, a lease
provided) and one Query of at most ``BLOCK_SAMPLE`` verified blocks mined for the caller.
Nothing is stored: a badge is earned whenever the data shows it.

``earned_at`` is given only when those reads show exactly when the badge was earned (the
reads go newest first, so the first of many is not always among them); otherwise None.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from functions.dal.accounts import AccountRepository
from functions.dal.blocks import BlockRepository
from functions.dal.leases import LeaseRepository
from functions.dal.pagination import Page
from functions.models.blocks import Block
from functions.models.market import Lease
from protocol.xenblocks import BlockKind

# The most verified blocks read: also the highest block-count badge. Super and xuni
# blocks are looked for among these, the caller's most recent.
BLOCK_SAMPLE = 100


@dataclass(frozen=True)
class Achievement:
    id: str
    title: str
    description: str
    earned: bool
    earned_at: int | None = None


@dataclass(frozen=True)
class Evidence:
    """What the bounded reads found for one address."""

    has_deposited: bool
    rented: Page[Lease]  # the newest lease rented (limit 1)
    provided: Page[Lease]  # the newest lease provided (limit 1)
    blocks: Page[Block]  # the newest verified blocks mined for the address, newest first


def gather(
    address: str,
    *,
    accounts: AccountRepository,
    leases: LeaseRepository,
    blocks: BlockRepository,
) -> Evidence:
    return Evidence(
        # The account's running total says it without reading the ledger.
        has_deposited=accounts.get(address).deposited > 0,
        rented=leases.list_by_renter(address, limit=1),
        provided=leases.list_by_provider(address, limit=1),
        blocks=blocks.by_account(address, limit=BLOCK_SAMPLE),
    )


def _first_lease(page: Page[Lease]) -> tuple[bool, int | None]:
    if not page.items:
        return False, None
    # With no further page, the one lease seen is the first one.
    return True, page.items[0].created_at if page.cursor is None else None


def _nth_block(blocks: Page[Block], n: int) -> tuple[bool, int | None]:
    """Whether ``n`` verified blocks exist, and when the n-th was recorded if known."""
    found = len(blocks.items)
    if found < n:
        return False, None
    seen_all = blocks.cursor is None
    return True, blocks.items[found - n].recorded_at if seen_all else None


def _first_of_kind(blocks: Page[Block], kind: BlockKind) -> tuple[bool, int | None]:
    matching = [b for b in blocks.items if b.kind is kind]
    if not matching:
        return False, None
    return True, matching[-1].recorded_at if blocks.cursor is None else None


@dataclass(frozen=True)
class _Badge:
    id: str
    title: str
    description: str
    check: Callable[[Evidence], tuple[bool, int | None]]


BADGES: tuple[_Badge, ...] = (
    _Badge(
        "first_deposit",
        "First deposit",
        "Credit your account for the first time.",
        lambda e: (e.has_deposited, None),
    ),
    _Badge(
        "first_lease_rented",
        "First rental",
        "Rent hashpower from a provider.",
        lambda e: _first_lease(e.rented),
    ),
    _Badge(
        "first_lease_provided",
        "First customer",
        "Have one of your rigs rented.",
        lambda e: _first_lease(e.provided),
    ),
    _Badge(
        "first_block",
        "First block",
        "Get a verified block mined for your address.",
        lambda e: _nth_block(e.blocks, 1),
    ),
    _Badge(
        "blocks_10",
        "Ten blocks",
        "Get 10 verified blocks mined for your address.",
        lambda e: _nth_block(e.blocks, 10),
    ),
    _Badge(
        "blocks_100",
        "A hundred blocks",
        "Get 100 verified blocks mined for your address.",
        lambda e: _nth_block(e.blocks, 100),
    ),
    _Badge(
        "super_block",
        "Super block",
        f"A super block among your {BLOCK_SAMPLE} most recent verified blocks.",
        lambda e: _first_of_kind(e.blocks, BlockKind.SUPER),
    ),
    _Badge(
        "xuni",
        "Xuni",
        f"A xuni among your {BLOCK_SAMPLE} most recent verified blocks.",
        lambda e: _first_of_kind(e.blocks, BlockKind.XUNI),
    ),
)


def achievements(evidence: Evidence) -> list[Achievement]:
    """Every badge, earned or not, in a fixed order."""
    out = []
    for badge in BADGES:
        earned, earned_at = badge.check(evidence)
        out.append(Achievement(badge.id, badge.title, badge.description, earned, earned_at))
    return out
