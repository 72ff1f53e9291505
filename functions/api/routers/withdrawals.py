"""``/api/accounts/me/withdraw…`` and ``/api/admin/withdrawals…``: money out.

A request holds the amount out of the balance. Without on-chain payouts an admin approves
(paid by hand to the address) or rejects (returned to the balance). With them (issue #24)
a request up to the deployment's auto-pay limit is queued at once and a larger one when an
admin approves; the payouts job pays it from the hot wallet to the caller's address and
the withdrawal shows its transaction, confirmations and final state
(``functions/logic/payouts.py``). Requests honour an ``Idempotency-Key`` header.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from functions.api.auth import AdminPrincipal, Context, CurrentPrincipal
from functions.api.routers.accounts import (
    AccountOut,
    AddressPath,
    Amount,
    IdempotencyKey,
    WithdrawalId,
    service,
)
from functions.api.schemas import Body, Cursor, Limit, PageOut
from functions.dal.pagination import clamp_limit
from functions.dal.payouts import PayoutRepository
from functions.errors import NotFound
from functions.models.accounts import Approval, Withdrawal, WithdrawalStatus
from functions.models.payouts import utc_day

router = APIRouter(tags=["accounts"])


class WithdrawRequest(Body):
    amount: Amount = Field(
        description="Micro-credits to withdraw to your address; held until paid (on chain, "
        "automatically up to the auto-pay limit) or until an admin decides"
    )


class WithdrawalOut(BaseModel):
    withdrawal_id: str
    address: str = Field(description="Whose funds; they are paid to this address")
    amount: int
    status: WithdrawalStatus = Field(
        description="pending (awaiting an admin), approved (paid by hand), rejected; on "
        "chain: queued, signing, sent (broadcast, awaiting confirmations), settled or "
        "failed (reverted on chain: the amount is back in the balance)"
    )
    requested_at: int
    decided_at: int | None
    decided_by: str | None
    approval: Approval | None = Field(
        default=None, description="On chain: auto (under the limit) or admin"
    )
    chain_id: int | None = None
    token_address: str | None = None
    token_units: str | None = Field(default=None, description="Token units paid (a decimal)")
    hot_wallet: str | None = Field(default=None, description="The address that pays")
    nonce: int | None = None
    tx_hash: str | None = Field(
        default=None, description="The payment's transaction (the mined one once settled)"
    )
    tx_hashes: list[str] = Field(
        default_factory=list, description="Every transaction sent for its nonce (re-sends)"
    )
    sent_at: int | None = None
    block_number: int | None = None
    confirmations: int = 0
    required_confirmations: int | None = None
    settled_at: int | None = None
    failure: str | None = None

    @classmethod
    def of(cls, withdrawal: Withdrawal, required: int | None = None) -> WithdrawalOut:
        out = cls.model_validate(withdrawal.model_dump(mode="json"))
        if withdrawal.chain_id is not None:
            out.required_confirmations = required
            if withdrawal.status is WithdrawalStatus.SENT and withdrawal.mined_tx_hash:
                out.tx_hash = withdrawal.mined_tx_hash
        return out


class WithdrawalReceipt(BaseModel):
    withdrawal: WithdrawalOut
    account: AccountOut
    replayed: bool = Field(description="True when the Idempotency-Key was seen: nothing held")


def _out(context: Context, withdrawal: Withdrawal) -> WithdrawalOut:
    return WithdrawalOut.of(withdrawal, context.settings.withdrawal_confirmations)


@router.post("/api/accounts/me/withdraw", status_code=201)
def request_withdrawal(
    body: WithdrawRequest,
    principal: CurrentPrincipal,
    context: Context,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> WithdrawalReceipt:
    """Hold ``amount`` out of the balance until it is paid to the caller's address (on
    chain: at once up to the auto-pay limit, else once an admin approves) or rejected
    (returned to the balance). 402 if the balance is too low; 422 if the token cannot
    hold the amount exactly."""
    held = service(context).request_withdrawal(
        principal.address, body.amount, now=context.clock(), idempotency_key=idempotency_key
    )
    if held.replayed:
        response.status_code = 200
    return WithdrawalReceipt(
        withdrawal=_out(context, held.withdrawal),
        account=AccountOut.of(held.account),
        replayed=held.replayed,
    )


@router.get("/api/accounts/me/withdrawals")
def my_withdrawals(
    principal: CurrentPrincipal, context: Context, limit: Limit = None, cursor: Cursor = None
) -> PageOut[WithdrawalOut]:
    """The caller's withdrawals, newest first, with their on-chain state where paid on chain."""
    page = context.accounts.withdrawals(principal.address, limit=clamp_limit(limit), cursor=cursor)
    return PageOut[WithdrawalOut].of(page, lambda w: _out(context, w))


@router.get("/api/admin/withdrawals", tags=["admin"])
def pending_withdrawals(
    admin: AdminPrincipal, context: Context, limit: Limit = None, cursor: Cursor = None
) -> PageOut[WithdrawalOut]:
    """The queue of withdrawals awaiting a decision, oldest request first."""
    page = context.accounts.pending_withdrawals(limit=clamp_limit(limit), cursor=cursor)
    return PageOut[WithdrawalOut].of(page, lambda w: _out(context, w))


class DecisionOut(BaseModel):
    withdrawal: WithdrawalOut
    account: AccountOut


def _decide(
    context: Context, admin: str, address: str, withdrawal_id: str, *, approve: bool
) -> DecisionOut:
    decided = service(context).decide_withdrawal(
        address, withdrawal_id, approve=approve, admin=admin, now=context.clock()
    )
    return DecisionOut(
        withdrawal=_out(context, decided.withdrawal), account=AccountOut.of(decided.account)
    )


@router.post("/api/admin/withdrawals/{address}/{withdrawal_id}/approve", tags=["admin"])
def approve_withdrawal(
    address: AddressPath, withdrawal_id: WithdrawalId, admin: AdminPrincipal, context: Context
) -> DecisionOut:
    """Pay the held funds to the address: queued for the payouts job when payouts are on
    chain, else they leave the platform now (paid by hand)."""
    return _decide(context, admin.address, address, withdrawal_id, approve=True)


@router.post("/api/admin/withdrawals/{address}/{withdrawal_id}/reject", tags=["admin"])
def reject_withdrawal(
    address: AddressPath, withdrawal_id: WithdrawalId, admin: AdminPrincipal, context: Context
) -> DecisionOut:
    """The held funds return to the address's balance."""
    return _decide(context, admin.address, address, withdrawal_id, approve=False)


class HotWalletOut(BaseModel):
    chain_id: int
    address: str = Field(description="The hot wallet: fund it with the token and gas")
    token_address: str
    next_nonce: int = Field(description="The nonce the next payout takes")
    chain_nonce: int | None = Field(description="Its mined transactions, at the last look")
    token_units: str | None = Field(description="Its token balance at the last look")
    gas_wei: str | None = Field(description="Its balance of the chain's coin, for gas")
    head: int | None
    checked_at: int | None = Field(description="When the payouts job last looked")
    alarms: list[str] = Field(description="What the last look raised (also CloudWatch alarms)")
    outflow_today: int = Field(description="Micro-credits sent today (UTC)")
    payouts_today: int
    daily_limit: int
    auto_max: int = Field(description="Withdrawals up to this are paid without an admin")
    min_balance: int
    min_gas_wei: str


@router.get("/api/admin/hot-wallet", tags=["admin"])
def hot_wallet(admin: AdminPrincipal, context: Context) -> HotWalletOut:
    """The hot wallet that pays on-chain withdrawals, as the payouts job last saw it, and
    its limits. 404 when withdrawals are not paid on chain or the job has not run yet."""
    settings = context.settings
    if not settings.withdrawals_on_chain or settings.deposit_chain_id is None:
        raise NotFound("withdrawals are not paid on chain on this deployment")
    payouts = PayoutRepository(context.tables)
    wallet = payouts.last_wallet(settings.deposit_chain_id)
    if wallet is None or settings.deposit_token_address is None:
        raise NotFound("the payouts job has not run yet")
    outflow = payouts.outflow(wallet.chain_id, wallet.address, utc_day(context.clock()))
    return HotWalletOut(
        chain_id=wallet.chain_id,
        address=wallet.address,
        token_address=settings.deposit_token_address,
        next_nonce=wallet.next_nonce,
        chain_nonce=wallet.chain_nonce,
        token_units=wallet.token_units,
        gas_wei=wallet.gas_wei,
        head=wallet.head,
        checked_at=wallet.checked_at,
        alarms=list(wallet.alarms),
        outflow_today=outflow.amount,
        payouts_today=outflow.payouts,
        daily_limit=settings.withdrawal_daily_limit,
        auto_max=settings.withdrawal_auto_max,
        min_balance=settings.hot_wallet_min_balance,
        min_gas_wei=str(settings.hot_wallet_min_gas_wei),
    )
