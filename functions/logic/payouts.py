"""On-chain payouts of withdrawals (issue #24): the ``payouts`` job.

A withdrawal up to ``withdrawal_auto_max`` is queued when it is requested; a larger one
when an admin approves it (``functions/logic/funds.py``). Its amount stays held until the
chain settles it. Each run of the job (every minute in AWS)::

    queued ──(nonce taken, with the day's outflow)──▶ signing ──(KMS signs)──▶ sent
    sent ──(mined, N confirmations, status 1)──▶ settled   (ledger ``withdrawal:<id>``)
    sent ──(mined, N confirmations, reverted)──▶ failed    (ledger ``release:<id>``)
    sent ──(unmined for withdrawal_rebroadcast_seconds)──▶ sent again, fees raised

1. **Follow** every signing or sent payout: sign one that took its nonce but was never
   signed (a crash between the two), look for a receipt of any transaction sent for its
   nonce, count confirmations on the canonical chain, settle or fail after N, and
   re-send an unmined one with fees raised by ``withdrawal_fee_bump_percent`` (nodes
   replace a transaction for ≥ 10 % more), never above ``withdrawal_max_fee_gwei``.
2. **Look** at the hot wallet: the token and gas balances, and the chain's count of its
   mined transactions against the platform's nonce (a count ahead of it means something
   else spent from the wallet: nothing new is sent until an operator looks).
3. **Send** queued payouts, oldest first, while the wallet covers them and the day's
   outflow stays within ``withdrawal_daily_limit``; each takes the next nonce in one
   transaction with the wallet's counter, so no two payouts share a nonce, then is
   signed (``TransactionSigner``: the KMS key in AWS) and recorded before it is broadcast.

The alarms (``Alarm``) go out as metrics (``functions/handlers/payouts.py``), alarmed on
in CloudWatch, and stay on the wallet's record for the admins' view. Everything the node
answers is validated as in ``functions/logic/deposits.py``; a malformed answer stops the
run rather than settling on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from functions.dal.payouts import DailyLimitReached, PayoutRepository
from functions.errors import ConcurrentUpdate, DuplicateEntry
from functions.logic.deposits import (
    ChainDataError,
    ChainReader,
    ChainRpcError,
    parse_block_ref,
    parse_quantity,
    parse_transfer,
    parse_uint256,
    to_checksum_or_none,
)
from functions.logic.evm_tx import TokenTransferTx, transfer_call_data, tx_hash
from functions.models.accounts import Withdrawal, WithdrawalStatus
from functions.models.money import micro_to_token_units
from functions.models.payouts import HotWallet, utc_day
from functions.observability import logger
from functions.settings import Settings

GWEI = 10**9
# A node replaces a pending transaction only for at least 10 % more of both fees.
REPLACEMENT_PERCENT = 10
# A payout unmined for this many rebroadcast intervals is stuck: an alarm.
STUCK_INTERVALS = 3
# At most this many new payouts a run: each is a KMS signature and a few RPC calls, and a
# run must end well inside the function's 60 s; the rest wait for the next minute.
MAX_SENT_PER_RUN = 50
# eth_sendRawTransaction's answers that mean the transaction is, or was, on its way.
_HARMLESS_SEND_ERRORS = ("already known", "known transaction", "nonce too low")


class PayoutChain(ChainReader, Protocol):
    """What the payouts job needs from an EVM node besides the reader's calls (raw answers)."""

    def latest_block(self) -> Any: ...  # eth_getBlockByNumber("latest", false)
    def nonce(self, address: str, tag: str) -> Any: ...  # eth_getTransactionCount
    def gas_balance(self, address: str) -> Any: ...  # eth_getBalance
    def token_balance(self, token: str, address: str) -> Any: ...  # eth_call balanceOf
    def max_priority_fee(self) -> Any: ...  # eth_maxPriorityFeePerGas
    def estimate_gas(self, sender: str, to: str, data: str) -> Any: ...  # eth_estimateGas
    def receipt(self, tx_hash: str) -> Any: ...  # eth_getTransactionReceipt or None
    def send_raw(self, raw_tx: str) -> Any: ...  # eth_sendRawTransaction


class TransactionSigner(Protocol):
    """The hot wallet's key (AWS KMS in production: ``functions/ports/kms_signer.py``)."""

    @property
    def address(self) -> str: ...

    def sign_transaction(self, tx: TokenTransferTx) -> bytes: ...


class Alarm(StrEnum):
    TOKEN_LOW = "hot_wallet_token_low"  # noqa: S105 (not a password) — below hot_wallet_min_balance, or short of a payout
    GAS_LOW = "hot_wallet_gas_low"  # below hot_wallet_min_gas_wei, or short of a payout's gas
    DAILY_LIMIT = "daily_limit_reached"  # payouts wait for the next UTC day
    NONCE_MISMATCH = "hot_wallet_nonce_mismatch"  # the wallet spent outside the platform
    FEES_OVER_CAP = "fees_over_cap"  # the chain's fees are above withdrawal_max_fee_gwei
    STUCK = "withdrawal_stuck"  # sent, unmined for STUCK_INTERVALS rebroadcast intervals
    FAILED = "withdrawal_failed"  # reverted on chain: the amount went back to the balance
    UNEXPECTED_RECEIPT = "unexpected_receipt"  # mined without the expected token transfer


@dataclass
class PayoutRun:
    head: int = 0
    chain_nonce: int = 0  # the hot wallet's mined transactions, as the chain counts them
    next_nonce: int = 0  # the platform's next nonce after the run
    token_units: int = 0
    gas_wei: int = 0
    sent: int = 0  # payouts signed and broadcast for the first time
    rebroadcast: int = 0  # re-sent with higher fees
    confirming: int = 0  # mined, fewer than N confirmations
    settled: int = 0
    settled_micro: int = 0
    failed: int = 0
    waiting: int = 0  # queued payouts not sent this run
    stuck: int = 0
    broadcast_errors: int = 0
    alarms: set[Alarm] = field(default_factory=set)
    settled_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Mined:
    tx_hash: str
    status: int
    block_number: int
    block_hash: str
    logs: list[Any]


def _ceil_percent(value: int, percent: int) -> int:
    return -(-value * (100 + percent) // 100)


class PayoutJob:
    def __init__(
        self,
        settings: Settings,
        payouts: PayoutRepository,
        chain: PayoutChain,
        signer: TransactionSigner,
    ) -> None:
        if settings.deposit_token_address is None or settings.deposit_chain_id is None:
            raise ValueError("payouts need deposit_token_address and deposit_chain_id")
        self._settings = settings
        self._payouts = payouts
        self._chain = chain
        self._signer = signer
        self._token = settings.deposit_token_address
        self._chain_id = settings.deposit_chain_id
        self._needed = settings.withdrawal_confirmations
        self._fee_cap = settings.withdrawal_max_fee_gwei * GWEI

    def run(self, now: int) -> PayoutRun:
        chain_id = parse_quantity(self._chain.chain_id(), "eth_chainId")
        if chain_id != self._chain_id:
            raise ChainDataError(
                f"the RPC node is on chain {chain_id}, payouts are on {self._chain_id}"
            )
        head = parse_quantity(self._chain.head(), "eth_blockNumber")
        address = self._signer.address
        chain_nonce = parse_quantity(self._chain.nonce(address, "latest"), "transaction count")
        wallet = self._payouts.wallet(self._chain_id, address) or self._payouts.create_wallet(
            self._chain_id, address, next_nonce=chain_nonce, now=now
        )
        run = PayoutRun(head=head, chain_nonce=chain_nonce)
        mine: list[Withdrawal] = []
        queued: list[Withdrawal] = []
        for payout in self._payouts.open_payouts():
            if (payout.chain_id, payout.token_address) != (self._chain_id, self._token):
                continue  # another chain's or token's (a changed deployment): not ours
            (queued if payout.status is WithdrawalStatus.QUEUED else mine).append(payout)
        for payout in mine:
            self._follow(payout, run, now)
        if chain_nonce > wallet.next_nonce:
            run.alarms.add(Alarm.NONCE_MISMATCH)
            logger.error(
                "hot wallet nonce mismatch: the chain counts more transactions than the "
                "platform sent; no payout is sent until an operator reconciles",
                extra={
                    "hot_wallet": address,
                    "chain_nonce": chain_nonce,
                    "next_nonce": wallet.next_nonce,
                },
            )
        run.token_units = _word(self._chain.token_balance(self._token, address), "balanceOf")
        run.gas_wei = parse_uint256(self._chain.gas_balance(address), "eth_getBalance")
        minimum = micro_to_token_units(self._settings.hot_wallet_min_balance, self._decimals) or 0
        if run.token_units < minimum:
            run.alarms.add(Alarm.TOKEN_LOW)
        if run.gas_wei < self._settings.hot_wallet_min_gas_wei:
            run.alarms.add(Alarm.GAS_LOW)
        if queued and Alarm.NONCE_MISMATCH not in run.alarms:
            wallet = self._send_queued(queued, wallet, run, now)
        else:
            run.waiting = len(queued)
        run.next_nonce = wallet.next_nonce
        self._payouts.record_look(
            wallet,
            head=head,
            token_units=run.token_units,
            gas_wei=run.gas_wei,
            chain_nonce=chain_nonce,
            alarms=tuple(sorted(run.alarms)),
            now=now,
        )
        return run

    @property
    def _decimals(self) -> int:
        return self._settings.deposit_token_decimals

    # -- sent payouts --------------------------------------------------------------------

    def _follow(self, payout: Withdrawal, run: PayoutRun, now: int) -> None:
        if payout.status is WithdrawalStatus.SIGNING or payout.raw_tx is None:
            # The nonce was taken but the transaction never recorded (a crash between):
            # sign it now with the fees chosen then.
            self._sign_and_send(
                payout, payout.max_fee_per_gas, payout.max_priority_fee_per_gas, run, now
            )
            run.sent += 1
            return
        mined = self._find_mined(payout)
        if mined is not None:
            self._confirm(payout, mined, run, now)
            return
        assert payout.nonce is not None
        if run.chain_nonce > payout.nonce:
            # Its nonce is used on chain, by none of the transactions sent for it.
            run.alarms.add(Alarm.NONCE_MISMATCH)
            logger.error(
                "payout's nonce used by another transaction: not settled, needs an operator",
                extra=payout_fields(payout),
            )
            return
        sent_at = payout.sent_at if payout.sent_at is not None else now
        if now - sent_at >= STUCK_INTERVALS * self._settings.withdrawal_rebroadcast_seconds:
            run.stuck += 1
            run.alarms.add(Alarm.STUCK)
        broadcast_at = payout.broadcast_at if payout.broadcast_at is not None else sent_at
        if now - broadcast_at >= self._settings.withdrawal_rebroadcast_seconds:
            self._rebroadcast(payout, run, now)

    def _find_mined(self, payout: Withdrawal) -> _Mined | None:
        """The receipt of whichever transaction sent for the payout's nonce is mined in a
        canonical block (None: none is)."""
        for sent in reversed(payout.tx_hashes):
            answer = self._chain.receipt(sent)
            if answer is None:
                continue
            mined = _parse_receipt(answer, sent)
            ref = parse_block_ref(self._chain.block(mined.block_number))
            if ref is not None and ref.hash == mined.block_hash:
                return mined
        return None

    def _confirm(self, payout: Withdrawal, mined: _Mined, run: PayoutRun, now: int) -> None:
        confirmations = run.head - mined.block_number + 1
        if confirmations < self._needed:
            run.confirming += 1
            if (confirmations, mined.block_hash) != (payout.confirmations, payout.block_hash):
                self._payouts.set_confirmations(
                    payout,
                    tx_hash=mined.tx_hash,
                    block_number=mined.block_number,
                    block_hash=mined.block_hash,
                    confirmations=confirmations,
                )
            return
        where: dict[str, object] = {
            "tx_hash": mined.tx_hash,
            "block_number": mined.block_number,
            "block_hash": mined.block_hash,
        }
        try:
            if mined.status == 1:
                if not self._pays_as_asked(payout, mined):
                    run.alarms.add(Alarm.UNEXPECTED_RECEIPT)
                    logger.error(
                        "payout mined without the token transfer it asked: not settled",
                        extra={**payout_fields(payout), **where},
                    )
                    return
                entry = self._payouts.settle(
                    payout,
                    tx_hash=mined.tx_hash,
                    block_number=mined.block_number,
                    block_hash=mined.block_hash,
                    confirmations=confirmations,
                    now=now,
                )
                run.settled += 1
                run.settled_micro += payout.amount
                run.settled_ids.append(payout.withdrawal_id)
                logger.info(
                    "payout settled",
                    extra={**payout_fields(payout), **where, "entry_id": entry.entry_id},
                )
            else:
                self._payouts.fail(
                    payout,
                    reason="the transaction reverted on chain",
                    now=now,
                    tx_hash=mined.tx_hash,
                    block_number=mined.block_number,
                    block_hash=mined.block_hash,
                )
                run.failed += 1
                run.alarms.add(Alarm.FAILED)
                logger.error(
                    "payout reverted on chain: the amount is back in the balance",
                    extra={**payout_fields(payout), **where},
                )
        except (ConcurrentUpdate, DuplicateEntry) as error:
            # Settled by an earlier run whose answer was lost, or changed since read: the
            # conditions saw to it that nothing moved twice.
            logger.warning(
                "payout not settled now: settled or changed since read",
                extra={**payout_fields(payout), "error": str(error)},
            )

    def _pays_as_asked(self, payout: Withdrawal, mined: _Mined) -> bool:
        """The receipt holds the token's Transfer(hot wallet → address, units)."""
        for log in mined.logs:
            if (
                not isinstance(log, dict)
                or to_checksum_or_none(str(log.get("address"))) != self._token
            ):
                continue
            transfer = parse_transfer(log, self._token)
            if transfer is not None and (
                transfer.from_address,
                transfer.to_address,
                str(transfer.value),
            ) == (payout.hot_wallet, payout.address, payout.token_units):
                return True
        return False

    def _rebroadcast(self, payout: Withdrawal, run: PayoutRun, now: int) -> None:
        """Replace the unmined transaction with one paying more, or send it again when
        the cap leaves no room to pay enough more."""
        if payout.max_fee_per_gas is None or payout.max_priority_fee_per_gas is None:
            raise ValueError(f"payout {payout.withdrawal_id} was sent without fees")
        old_max, old_tip = payout.max_fee_per_gas, payout.max_priority_fee_per_gas
        base, market_tip = self._market_fees()
        bump = self._settings.withdrawal_fee_bump_percent
        tip = max(_ceil_percent(old_tip, bump), market_tip)
        max_fee = min(max(_ceil_percent(old_max, bump), 2 * base + tip), self._fee_cap)
        tip = min(tip, max_fee)
        replaceable = max_fee >= _ceil_percent(
            old_max, REPLACEMENT_PERCENT
        ) and tip >= _ceil_percent(old_tip, REPLACEMENT_PERCENT)
        if not replaceable:
            run.alarms.add(Alarm.FEES_OVER_CAP)
            logger.warning(
                "payout unmined and its fees at the cap: sent again as it is",
                extra={**payout_fields(payout), "max_fee_per_gas": old_max, "cap": self._fee_cap},
            )
            assert payout.raw_tx is not None
            self._payouts.note_broadcast(payout, now=now)
            self._broadcast(payout, payout.raw_tx, run)
            return
        logger.warning(
            "payout unmined: replaced with higher fees",
            extra={
                **payout_fields(payout),
                "max_fee_per_gas": max_fee,
                "max_priority_fee_per_gas": tip,
            },
        )
        self._sign_and_send(payout, max_fee, tip, run, now)
        run.rebroadcast += 1

    # -- queued payouts ------------------------------------------------------------------

    def _send_queued(
        self, queued: list[Withdrawal], wallet: HotWallet, run: PayoutRun, now: int
    ) -> HotWallet:
        base, tip = self._market_fees()
        max_fee = min(2 * base + tip, self._fee_cap)
        if max_fee < base + tip:
            run.alarms.add(Alarm.FEES_OVER_CAP)
            run.waiting = len(queued)
            logger.warning(
                "payouts wait: the chain's fees are above the cap",
                extra={"base_fee": base, "tip": tip, "cap": self._fee_cap},
            )
            return wallet
        tokens, gas = run.token_units, run.gas_wei
        day = utc_day(now)
        for position, payout in enumerate(queued):
            if run.sent >= MAX_SENT_PER_RUN:
                run.waiting = len(queued) - position
                return wallet
            units = self._units_of(payout)
            gas_limit = self._gas_limit(payout, units) if units <= tokens else None
            if units > tokens:
                run.alarms.add(Alarm.TOKEN_LOW)
                reason = "the hot wallet's token balance"
            elif gas_limit is None:
                reason = "the gas estimate"
            elif gas_limit * max_fee > gas:
                run.alarms.add(Alarm.GAS_LOW)
                reason = "the hot wallet's gas balance"
            else:
                reason = None
            if reason is not None or gas_limit is None:
                run.waiting = len(queued) - position
                logger.warning("payouts wait", extra={**payout_fields(payout), "reason": reason})
                return wallet
            try:
                taken = self._payouts.take_nonce(
                    payout,
                    wallet,
                    gas_limit=gas_limit,
                    max_fee_per_gas=max_fee,
                    max_priority_fee_per_gas=tip,
                    day=day,
                    daily_limit=self._settings.withdrawal_daily_limit,
                    now=now,
                )
            except DailyLimitReached as error:
                run.alarms.add(Alarm.DAILY_LIMIT)
                run.waiting = len(queued) - position
                logger.warning(
                    "payouts wait for the next day",
                    extra={**payout_fields(payout), "error": str(error)},
                )
                return wallet
            except ConcurrentUpdate as error:
                # Another run took this payout or the nonce: the next run looks again.
                run.waiting = len(queued) - position
                logger.warning("payout raced", extra={**payout_fields(payout), "error": str(error)})
                return wallet
            wallet = wallet.model_copy(update={"next_nonce": wallet.next_nonce + 1})
            tokens -= units
            gas -= gas_limit * max_fee
            self._sign_and_send(taken, max_fee, tip, run, now)
            run.sent += 1
        return wallet

    def _units_of(self, payout: Withdrawal) -> int:
        """The token units a queued payout pays: exactly its amount (checked again here:
        a changed token setting must not pay a different amount)."""
        units = int(payout.token_units or 0)
        if units <= 0 or micro_to_token_units(payout.amount, self._decimals) != units:
            raise ChainDataError(
                f"payout {payout.withdrawal_id}: {payout.token_units} token units do not pay "
                f"{payout.amount} micro-credits"
            )
        return units

    def _gas_limit(self, payout: Withdrawal, units: int) -> int | None:
        """The chain's estimate with a quarter more, at most ``withdrawal_gas_limit``
        (None: the transfer would revert, or needs more than the limit)."""
        call = transfer_call_data(payout.address, units)
        try:
            answer = self._chain.estimate_gas(self._signer.address, self._token, "0x" + call.hex())
        except ChainRpcError as error:
            logger.error(
                "payout's gas estimate failed", extra={**payout_fields(payout), "error": str(error)}
            )
            return None
        estimate = parse_quantity(answer, "eth_estimateGas")
        limit = self._settings.withdrawal_gas_limit
        if estimate > limit:
            logger.error(
                "payout needs more gas than withdrawal_gas_limit",
                extra={**payout_fields(payout), "estimate": estimate, "limit": limit},
            )
            return None
        return min(limit, _ceil_percent(estimate, 25))

    def _market_fees(self) -> tuple[int, int]:
        """The latest block's base fee and the node's suggested tip (EIP-1559)."""
        latest = self._chain.latest_block()
        if not isinstance(latest, dict) or latest.get("baseFeePerGas") is None:
            raise ChainDataError("the latest block has no baseFeePerGas: not an EIP-1559 chain")
        base = parse_quantity(latest["baseFeePerGas"], "baseFeePerGas")
        return base, parse_quantity(self._chain.max_priority_fee(), "eth_maxPriorityFeePerGas")

    # -- signing and sending -------------------------------------------------------------

    def _sign_and_send(
        self,
        payout: Withdrawal,
        max_fee: int | None,
        tip: int | None,
        run: PayoutRun,
        now: int,
    ) -> None:
        nonce, gas_limit, units = payout.nonce, payout.gas_limit, payout.token_units
        if nonce is None or gas_limit is None or units is None or max_fee is None or tip is None:
            raise ValueError(f"payout {payout.withdrawal_id} has no nonce, gas or fees")
        tx = TokenTransferTx(
            chain_id=self._chain_id,
            nonce=nonce,
            max_priority_fee_per_gas=tip,
            max_fee_per_gas=max_fee,
            gas_limit=gas_limit,
            token=self._token,
            recipient=payout.address,
            units=int(units),
        )
        raw = self._signer.sign_transaction(tx)
        raw_hex = "0x" + raw.hex()
        sent = self._payouts.mark_sent(
            payout,
            raw_tx=raw_hex,
            tx_hash=tx_hash(raw),
            max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=tip,
            now=now,
        )
        logger.info("payout signed", extra={**payout_fields(sent), "max_fee_per_gas": max_fee})
        self._broadcast(sent, raw_hex, run)

    def _broadcast(self, payout: Withdrawal, raw_hex: str, run: PayoutRun) -> None:
        try:
            answer = self._chain.send_raw(raw_hex)
        except ChainRpcError as error:
            text = str(error).lower()
            if any(harmless in text for harmless in _HARMLESS_SEND_ERRORS):
                logger.info("payout already with the node", extra=payout_fields(payout))
                return
            run.broadcast_errors += 1
            logger.warning(
                "payout broadcast failed: sent again next run",
                extra={**payout_fields(payout), "error": str(error)},
            )
            return
        if isinstance(answer, str) and answer.lower() != payout.tx_hash:
            raise ChainDataError(f"the node named the payout {answer[:80]!r}, not {payout.tx_hash}")


def _word(value: Any, what: str) -> int:
    """An ``eth_call`` answer of one uint256."""
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 66:
        raise ChainDataError(f"{what}: not one 32-byte word: {str(value)[:80]!r}")
    try:
        return int(value, 16)
    except ValueError:
        raise ChainDataError(f"{what}: not hex") from None


def _parse_receipt(value: Any, sent: str) -> _Mined:
    if not isinstance(value, dict):
        raise ChainDataError("a receipt is a JSON object")
    if str(value.get("transactionHash", "")).lower() != sent:
        raise ChainDataError(f"asked for the receipt of {sent}, got another")
    status = parse_quantity(value.get("status"), "receipt.status")
    if status not in (0, 1):
        raise ChainDataError(f"receipt.status is 0 or 1, not {status}")
    ref = parse_block_ref({"number": value.get("blockNumber"), "hash": value.get("blockHash")})
    assert ref is not None
    logs = value.get("logs")
    if not isinstance(logs, list):
        raise ChainDataError("receipt.logs is a list")
    return _Mined(sent, status, ref.number, ref.hash, logs)


def payout_fields(payout: Withdrawal) -> dict[str, object]:
    """A payout's log fields."""
    return {
        "withdrawal_id": payout.withdrawal_id,
        "address": payout.address,
        "amount": payout.amount,
        "token_units": payout.token_units,
        "nonce": payout.nonce,
        "tx_hash": payout.tx_hash,
        "status": payout.status,
    }
