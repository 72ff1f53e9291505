"""``/api/accounts``: balance, ledger, deposits (a local faucet; admins; on chain), settings.

Withdrawals are ``functions/api/routers/withdrawals.py``.

Amounts are integer micro-credits (1 credit = 1,000,000). Deposits and withdrawal requests
honour an ``Idempotency-Key`` header: a retry with the same key returns the first result
(200) and moves no money twice.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Header, Path, Response
from pydantic import BaseModel, Field, StrictInt

from functions.api.auth import AdminPrincipal, Context, CurrentPrincipal
from functions.api.schemas import ID_PATTERN, Body, Cursor, Limit, PageOut
from functions.dal.deposits import DepositRepository
from functions.dal.pagination import clamp_limit
from functions.logic.deposits import DepositAddresses
from functions.logic.funds import Deposited, FundsService
from functions.logic.profit import (
    CURRENCY_PATTERN,
    DEFAULT_CURRENCY,
    MAX_PRICE_PER_KWH,
    PRICE_DECIMALS,
    OwnerSettings,
    settings_of,
    update_settings,
)
from functions.models.accounts import Account, DepositSource, EntryKind, LedgerEntry
from functions.models.deposits import ChainDeposit, DepositAddress, DepositStatus
from functions.models.money import MICRO_PER_CREDIT

router = APIRouter(tags=["accounts"])

# The largest amount a browser's JSON numbers hold exactly.
MAX_AMOUNT = 2**53 - 1

Amount = Annotated[
    StrictInt,
    Field(gt=0, le=MAX_AMOUNT, description="Micro-credits (1 credit = 1,000,000), an integer"),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        pattern=r"^[\x21-\x7e]{1,255}$",
        description="Any unique string per intended operation; a retry with the same key "
        "returns the first result instead of moving money again.",
    ),
]
AddressPath = Annotated[
    str, Path(pattern=r"^0x[0-9a-fA-F]{40}$", description="An Ethereum address (0x + 40 hex)")
]
WithdrawalId = Annotated[str, Path(pattern=ID_PATTERN)]


class DepositRequest(Body):
    amount: Amount


class AdminDepositRequest(Body):
    amount: Amount
    reference: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._:/+-]{1,100}$",
        description="The outside payment this credits (a transfer id, a transaction hash). "
        "It names the ledger entry (deposit:<address>:ref:<reference>), so one reference "
        "credits an address once, whatever the Idempotency-Key.",
    )


class AccountOut(BaseModel):
    address: str
    balance: int = Field(description="Spendable micro-credits")
    held: int = Field(
        description="Micro-credits held by withdrawals awaiting a decision or payment"
    )
    deposited: int = Field(description="All deposits so far")
    withdrawn: int = Field(description="All withdrawals paid so far")
    updated_at: int | None

    @classmethod
    def of(cls, account: Account) -> AccountOut:
        return cls.model_validate(account.model_dump())


class EntryOut(BaseModel):
    entry_id: str
    kind: EntryKind
    amount: int = Field(description="Micro-credits moved (always positive)")
    from_account: str = Field(description="An address, escrow:<lease>, held:<address>, …")
    to_account: str
    lease_id: str | None
    created_at: int
    source: DepositSource | None = Field(
        default=None,
        description="Deposits: faucet, operator_correction (an admin's credit) or chain "
        "(a confirmed stablecoin transfer); null for other entries",
    )

    @classmethod
    def of(cls, entry: LedgerEntry) -> EntryOut:
        return cls.model_validate(entry.model_dump())


class DepositOut(BaseModel):
    entry: EntryOut
    account: AccountOut
    replayed: bool = Field(description="True when the Idempotency-Key was seen: no new credit")


def service(context: Context) -> FundsService:
    return FundsService(settings=context.settings, accounts=context.accounts, ledger=context.ledger)


def _deposit_out(deposited: Deposited, response: Response) -> DepositOut:
    if deposited.replayed:
        response.status_code = 200
    return DepositOut(
        entry=EntryOut.of(deposited.entry),
        account=AccountOut.of(deposited.account),
        replayed=deposited.replayed,
    )


@router.get("/api/accounts/me")
def my_account(principal: CurrentPrincipal, context: Context) -> AccountOut:
    return AccountOut.of(context.accounts.get(principal.address))


@router.post("/api/accounts/me/deposit", status_code=201)
def faucet_deposit(
    body: DepositRequest,
    principal: CurrentPrincipal,
    context: Context,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> DepositOut:
    """Local stage only: a faucet that credits the caller (at most 1,000 credits a call)."""
    deposited = service(context).faucet(
        principal.address, body.amount, now=context.clock(), idempotency_key=idempotency_key
    )
    return _deposit_out(deposited, response)


@router.post("/api/accounts/{address}/deposit", status_code=201, tags=["admin"])
def admin_deposit(
    address: AddressPath,
    body: AdminDepositRequest,
    admin: AdminPrincipal,
    context: Context,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> DepositOut:
    """Admins credit an account with money received outside the platform."""
    deposited = service(context).credit(
        address,
        body.amount,
        now=context.clock(),
        reference=body.reference,
        idempotency_key=idempotency_key,
    )
    return _deposit_out(deposited, response)


class DepositAddressOut(BaseModel):
    address: str = Field(description="Your account (the signed-in address)")
    deposit_address: str = Field(
        description="Send the stablecoin here, on chain_id: it is credited to your account"
    )
    index: int = Field(description="Its child index under the platform's deposit xpub")
    chain_id: int
    token_address: str = Field(description="The stablecoin's ERC-20 contract")
    token_decimals: int
    confirmations: int = Field(description="Confirmations a transfer needs to be credited")
    micro_per_token: int = Field(description="Micro-credits one whole token credits")


class ChainDepositOut(BaseModel):
    deposit_id: str = Field(description="<transaction hash>:<log index>")
    deposit_address: str
    from_address: str
    tx_hash: str
    log_index: int
    block_number: int
    block_hash: str
    token_units: str = Field(description="The transfer's value in token units (a decimal)")
    amount: int | None = Field(
        description="Micro-credits it credits; null when it cannot be credited as it is"
    )
    status: DepositStatus = Field(
        description="pending (awaiting confirmations), credited, orphaned (its block left "
        "the chain before it was credited) or held (not creditable as it is: see reason)"
    )
    confirmations: int
    required_confirmations: int
    seen_at: int
    credited_at: int | None
    reason: str | None

    @classmethod
    def of(cls, deposit: ChainDeposit) -> ChainDepositOut:
        return cls.model_validate(deposit.model_dump())


def _deposit_address_out(context: Context, assigned: DepositAddress) -> DepositAddressOut:
    settings = context.settings
    if settings.deposit_chain_id is None or settings.deposit_token_address is None:
        raise RuntimeError("deposits are enabled without a chain and a token")
    decimals = settings.deposit_token_decimals
    return DepositAddressOut(
        address=assigned.owner,
        deposit_address=assigned.deposit_address,
        index=assigned.index,
        chain_id=settings.deposit_chain_id,
        token_address=settings.deposit_token_address,
        token_decimals=decimals,
        confirmations=settings.deposit_confirmations,
        micro_per_token=MICRO_PER_CREDIT,
    )


@router.get("/api/accounts/me/deposit-address")
def my_deposit_address(principal: CurrentPrincipal, context: Context) -> DepositAddressOut:
    """Your own deposit address for the stablecoin (given at the first request, yours ever
    after): a transfer to it is credited once it has ``confirmations`` confirmations. 404
    when this deployment takes no on-chain deposits."""
    addresses = DepositAddresses(context.settings, DepositRepository(context.tables))
    assigned = addresses.of(principal.address, now=context.clock())
    return _deposit_address_out(context, assigned)


@router.get("/api/accounts/me/deposits")
def my_deposits(
    principal: CurrentPrincipal, context: Context, limit: Limit = None, cursor: Cursor = None
) -> PageOut[ChainDepositOut]:
    """Your on-chain deposits: pending ones with their confirmations, credited, orphaned
    (a reorganisation dropped them before they were credited) and held ones, in
    transaction-hash order (sort by seen_at)."""
    page = DepositRepository(context.tables).deposits(
        principal.address, limit=clamp_limit(limit), cursor=cursor
    )
    return PageOut[ChainDepositOut].of(page, ChainDepositOut.of)


@router.get("/api/accounts/me/ledger")
def my_ledger(
    principal: CurrentPrincipal, context: Context, limit: Limit = None, cursor: Cursor = None
) -> PageOut[EntryOut]:
    """Every ledger entry the caller pays or is paid in, newest first."""
    page = context.ledger.history(principal.address, limit=clamp_limit(limit), cursor=cursor)
    return PageOut[EntryOut].of(page, EntryOut.of)


class SettingsRequest(Body):
    electricity_price_per_kwh: Decimal | None = Field(
        ge=0,
        le=MAX_PRICE_PER_KWH,
        decimal_places=PRICE_DECIMALS,
        allow_inf_nan=False,
        description='What a kWh costs you, in currency: a decimal string ("0.1234") or a '
        f"number, 0 to {MAX_PRICE_PER_KWH}, at most {PRICE_DECIMALS} decimals; null clears it",
    )
    currency: str | None = Field(
        default=None,
        pattern=CURRENCY_PATTERN,
        description=f"A label for the price's currency (three capitals; {DEFAULT_CURRENCY} "
        "when absent)",
    )


class SettingsOut(BaseModel):
    electricity_price_per_kwh: str | None = Field(
        description="What a kWh costs you, a decimal string; null when not set"
    )
    currency: str = Field(
        description="The price's currency: profit takes one credit for one unit of it"
    )
    updated_at: int | None

    @classmethod
    def of(cls, settings: OwnerSettings) -> SettingsOut:
        return cls(
            electricity_price_per_kwh=settings.price_text,
            currency=settings.currency,
            updated_at=settings.updated_at,
        )


@router.get("/api/accounts/me/settings")
def my_settings(principal: CurrentPrincipal, context: Context) -> SettingsOut:
    """Your settings: the electricity price behind ``/api/profit``."""
    return SettingsOut.of(settings_of(context.accounts.get(principal.address)))


@router.put("/api/accounts/me/settings")
def put_my_settings(
    body: SettingsRequest, principal: CurrentPrincipal, context: Context
) -> SettingsOut:
    """Replace your settings (the price is required; null clears it)."""
    settings = update_settings(
        context.accounts,
        principal.address,
        electricity_price_per_kwh=body.electricity_price_per_kwh,
        currency=body.currency,
        now=context.clock(),
    )
    return SettingsOut.of(settings)
