"""``/api/wallet``: the caller's ledger as a readable feed, and the badges they earned."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal, assert_never

from fastapi import APIRouter
from pydantic import BaseModel, Field

from functions.api.auth import Context, CurrentPrincipal
from functions.api.schemas import Cursor, Limit, PageOut
from functions.dal.pagination import clamp_limit
from functions.logic.achievements import achievements, gather
from functions.models.accounts import EntryKind, LedgerEntry
from functions.models.money import MICRO_PER_CREDIT

router = APIRouter(prefix="/api/wallet", tags=["wallet"])

Direction = Literal["in", "out", "internal"]


class FeedItem(BaseModel):
    entry_id: str
    kind: EntryKind
    direction: Direction = Field(
        description="in: added to your balance; out: taken from it; internal: money moved "
        "out of your escrow or held funds, your balance unchanged"
    )
    amount: int = Field(description="Micro-credits moved (always positive)")
    signed_amount: int = Field(description="The change to your balance: +amount, -amount or 0")
    lease_id: str | None
    description: str
    created_at: int


class AchievementOut(BaseModel):
    id: str
    title: str
    description: str
    earned: bool
    earned_at: int | None = Field(
        default=None, description="When it was earned, if the bounded reads show it"
    )


def credits(micro: int) -> str:
    """Micro-credits as a credit amount for people: 12500000 → "12.5"."""
    text = format(Decimal(micro) / MICRO_PER_CREDIT, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _describe(entry: LedgerEntry, received: bool) -> str:
    amount = f"{credits(entry.amount)} credits"
    lease = f"lease {entry.lease_id}"
    match entry.kind:
        case EntryKind.DEPOSIT:
            return f"Deposit of {amount}"
        case EntryKind.ESCROW:
            return f"{amount} put in escrow for {lease}"
        case EntryKind.PAYOUT if received:
            return f"Earned {amount} from {lease}"
        case EntryKind.PAYOUT:
            return f"Paid {amount} to the provider of {lease}"
        case EntryKind.FEE:
            return f"Platform fee of {amount} on {lease}"
        case EntryKind.REFUND:
            return f"Unused escrow of {amount} returned from {lease}"
        case EntryKind.WITHDRAWAL_HOLD:
            return f"Withdrawal of {amount} requested: held until approved"
        case EntryKind.WITHDRAWAL_RELEASE:
            return f"Withdrawal of {amount} rejected: returned to your balance"
        case EntryKind.WITHDRAWAL:
            return f"Withdrawal of {amount} approved: sent to your wallet"
        case _:
            assert_never(entry.kind)


def feed_item(entry: LedgerEntry, address: str) -> FeedItem:
    """How ``entry`` looks to ``address``: which way it moved their spendable balance."""
    direction: Direction
    if entry.to_account == address:
        direction, signed = "in", entry.amount
    elif entry.from_account == address:
        direction, signed = "out", -entry.amount
    else:
        direction, signed = "internal", 0
    return FeedItem(
        entry_id=entry.entry_id,
        kind=entry.kind,
        direction=direction,
        amount=entry.amount,
        signed_amount=signed,
        lease_id=entry.lease_id,
        description=_describe(entry, received=entry.to_account == address),
        created_at=entry.created_at,
    )


@router.get("/history")
def wallet_history(
    principal: CurrentPrincipal, context: Context, limit: Limit = None, cursor: Cursor = None
) -> PageOut[FeedItem]:
    """The caller's money movements, newest first."""
    page = context.ledger.history(principal.address, limit=clamp_limit(limit), cursor=cursor)
    return PageOut[FeedItem].of(page, lambda entry: feed_item(entry, principal.address))


@router.get("/achievements")
def wallet_achievements(principal: CurrentPrincipal, context: Context) -> list[AchievementOut]:
    evidence = gather(
        principal.address,
        accounts=context.accounts,
        leases=context.leases,
        blocks=context.blocks,
    )
    return [AchievementOut.model_validate(a, from_attributes=True) for a in achievements(evidence)]
