"""Money is integers: micro-credits (1 credit = 1,000,000); fees are basis points."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt

MICRO_PER_CREDIT = 1_000_000
BASIS_POINTS = 10_000

# A non-negative amount of micro-credits. StrictInt: a float never becomes money.
Micro = Annotated[StrictInt, Field(ge=0)]
BasisPoints = Annotated[StrictInt, Field(ge=0, le=BASIS_POINTS)]


def fee_of(amount: int, fee_bp: int) -> int:
    """The platform's share of ``amount``, rounded down (in the payee's favour)."""
    if amount < 0 or not 0 <= fee_bp <= BASIS_POINTS:
        raise ValueError("amount must be >= 0 and fee_bp within 0..10000")
    return amount * fee_bp // BASIS_POINTS
