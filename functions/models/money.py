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


# -- a stablecoin's units ⇄ micro-credits (on-chain deposits, issue #24) -------------------
# One whole token is one credit; a token with ``decimals`` decimals has 10**decimals units.
MICRO_DECIMALS = 6


def _power_of_ten(exponent: int) -> int:
    return int("1" + "0" * exponent)


def token_units_to_micro(units: int, decimals: int) -> int | None:
    """``units`` of a ``decimals``-decimal token as micro-credits, or None when they do not
    convert exactly (a token with more decimals than six, and dust below a micro-credit)."""
    if isinstance(units, bool) or not isinstance(units, int) or units < 0:
        raise ValueError(f"token units are non-negative integers, not {units!r}")
    if not 0 <= decimals <= 36:
        raise ValueError("a token has 0 to 36 decimals")
    if decimals <= MICRO_DECIMALS:
        return units * _power_of_ten(MICRO_DECIMALS - decimals)
    micro, rest = divmod(units, _power_of_ten(decimals - MICRO_DECIMALS))
    return micro if rest == 0 else None


def micro_to_token_units(micro: int, decimals: int) -> int | None:
    """``micro`` credits in a ``decimals``-decimal token's units, or None when a token with
    fewer decimals than six cannot hold the amount exactly."""
    require_amount(micro, allow_zero=True)
    if not 0 <= decimals <= 36:
        raise ValueError("a token has 0 to 36 decimals")
    if decimals >= MICRO_DECIMALS:
        return micro * _power_of_ten(decimals - MICRO_DECIMALS)
    units, rest = divmod(micro, _power_of_ten(MICRO_DECIMALS - decimals))
    return units if rest == 0 else None
