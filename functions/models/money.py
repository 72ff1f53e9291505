"""Money is integers: micro-credits (1 credit = 1,000,000); fees are basis points."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt

from functions.errors import InvalidInput

MICRO_PER_CREDIT = 1_000_000
BASIS_POINTS = 10_000

# A non-negative amount of micro-credits. StrictInt: a float never becomes money.
Micro = Annotated[StrictInt, Field(ge=0)]
BasisPoints = Annotated[StrictInt, Field(ge=0, le=BASIS_POINTS)]


def require_amount(amount: object, *, allow_zero: bool = False) -> int:
    """``amount`` as micro-credits: an int (never a bool or float), positive unless allowed."""
    lowest = 0 if allow_zero else 1
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < lowest:
        kind = "non-negative" if allow_zero else "positive"
        raise InvalidInput(f"amounts are {kind} integers of micro-credits, not {amount!r}")
    return amount


def fee_of(amount: int, fee_bp: int) -> int:
    """The platform's share of ``amount``, rounded down (in the payee's favour)."""
    if amount < 0 or not 0 <= fee_bp <= BASIS_POINTS:
        raise ValueError("amount must be >= 0 and fee_bp within 0..10000")
    return amount * fee_bp // BASIS_POINTS
