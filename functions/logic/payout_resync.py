"""An operator's resync of the hot wallet after a nonce mismatch (issue #24;
``xenblocks hot-wallet resync``, ``tools/hot_wallet.py``).

The payouts job stops sending when the chain counts more of the hot wallet's transactions
than the platform sent (``Alarm.NONCE_MISMATCH``, ``functions/logic/payouts.py``). Once
the operator knows why: payouts whose nonce the chain used for a transaction none of
theirs fail (amounts back to the balances), and the wallet's next nonce becomes the
chain's, so the job sends again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from functions.dal.payouts import PayoutRepository
from functions.logic.deposits import parse_quantity
from functions.logic.payouts import PayoutChain, payout_fields
from functions.models.accounts import Withdrawal
from functions.observability import logger
from functions.settings import Settings


@dataclass
class Resync:
    """What ``resync`` found (and, applied, did)."""

    hot_wallet: str
    chain_nonce: int
    next_nonce: int  # the platform's, before
    displaced: list[Withdrawal] = field(default_factory=list)  # nonce used by another tx
    mined: list[Withdrawal] = field(default_factory=list)  # mined: the job settles them
    applied: bool = False

    @property
    def needed(self) -> bool:
        return self.chain_nonce > self.next_nonce or bool(self.displaced)


def resync(
    settings: Settings,
    payouts: PayoutRepository,
    chain: PayoutChain,
    hot_wallet: str,
    *,
    now: int,
    apply: bool,
) -> Resync:
    """After a nonce mismatch, once an operator has found why: payouts whose nonce the
    chain used for a transaction none of theirs fail (their amounts return to the
    balances, ``release:<id>``), and the wallet's next nonce becomes the chain's, so the
    job sends again. Without ``apply`` it only says what it would do."""
    if settings.deposit_chain_id is None:
        raise ValueError("payouts need deposit_chain_id")
    chain_id = settings.deposit_chain_id
    wallet = payouts.wallet(chain_id, hot_wallet)
    if wallet is None:
        raise ValueError(f"no hot wallet {hot_wallet} on record on chain {chain_id}")
    chain_nonce = parse_quantity(chain.nonce(hot_wallet, "latest"), "transaction count")
    found = Resync(hot_wallet, chain_nonce, wallet.next_nonce)
    for payout in payouts.open_payouts():
        if payout.hot_wallet != hot_wallet or payout.nonce is None:
            continue
        if payout.nonce >= chain_nonce:
            continue  # its nonce is still free: the job sends or follows it
        receipts = [chain.receipt(sent) for sent in payout.tx_hashes]
        (found.mined if any(r is not None for r in receipts) else found.displaced).append(payout)
    if not apply:
        return found
    for payout in found.displaced:
        payouts.fail(payout, reason="its nonce was used on chain by another transaction", now=now)
        logger.warning("payout failed by an operator's resync", extra=payout_fields(payout))
    if chain_nonce > wallet.next_nonce:
        payouts.move_nonce(wallet, chain_nonce, now=now)
    logger.warning(
        "hot wallet resynced",
        extra={
            "hot_wallet": hot_wallet,
            "chain_nonce": chain_nonce,
            "from_next_nonce": wallet.next_nonce,
            "failed": [p.withdrawal_id for p in found.displaced],
        },
    )
    found.applied = True
    return found
