"""On-chain deposits (issue #24): deposit addresses, and the watcher that credits transfers.

**Addresses.** Account ``owner`` deposits to child ``i`` of ``deposit_xpub``; ``i`` comes
from an atomic counter the first time the owner asks, and stays the owner's.

**The watcher** (the ``deposits`` job) reads the token's ``Transfer`` logs through a
``ChainReader`` (the web3.py adapter is ``functions/ports/chain.py``; tests use a fake),
and moves each transfer to a deposit address through these states, keyed by transaction
hash and log index::

    seen ──▶ pending ──(N confirmations, same block hash)──▶ credited (once)
               │  ▲                                       └─▶ held (not exactly convertible)
               ▼  │ (mined again)
             orphaned (its block left the canonical chain)

A run: (1) the chain is the configured one; (2) the logs of every block from the cursor
(the first block not yet final) to the head are read again, so a transfer re-mined after
a reorganisation is found in its new block; (3) every pending deposit's block hash is
checked against the canonical block at its height: gone → orphaned, confirmed (``head −
block + 1 ≥ N``) → credited in one transaction with its ledger entry
``chain:<chain id>:<tx hash>:<log index>``, conditional on the same block hash, so a
deposit is credited once whatever the retries; (4) the cursor moves to the first block
with fewer than N confirmations. Reorganisations deeper than N are outside the model (N
is chosen deeper than the chain's).

Everything the chain says is validated (``parse_transfer``, ``parse_block_ref``): a
malformed answer stops the run (the next run tries again) rather than crediting on it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from functions.dal.deposits import DepositRepository
from functions.errors import ConcurrentUpdate, DuplicateEntry, NotFound
from functions.models.deposits import ChainDeposit, DepositAddress, WatcherCursor
from functions.models.money import token_units_to_micro
from functions.observability import logger
from functions.settings import Settings
from protocol.addresses import to_checksum

# keccak256("Transfer(address,address,uint256)")
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
# The most one on-chain deposit credits (a browser's JSON numbers hold it exactly).
MAX_DEPOSIT_MICRO = 2**53 - 1

_HASH = re.compile(r"0x[0-9a-f]{64}")
_QUANTITY = re.compile(r"0x(0|[1-9a-f][0-9a-f]{0,15})")
_UINT256 = re.compile(r"0x(0|[1-9a-f][0-9a-f]{0,63})")
_WORD = re.compile(r"0x[0-9a-f]{64}")


class ChainDataError(ValueError):
    """The chain's answer is not what the JSON-RPC spec says it is."""


class ChainRpcError(RuntimeError):
    """The node answered a JSON-RPC error (or nothing usable)."""


@dataclass(frozen=True)
class BlockRef:
    number: int
    hash: str


@dataclass(frozen=True)
class TransferLog:
    """A validated ``Transfer(from, to, value)`` log of the token."""

    token_address: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    from_address: str
    to_address: str
    value: int

    @property
    def deposit_id(self) -> str:
        return f"{self.tx_hash}:{self.log_index}"


class ChainReader(Protocol):
    """What the watcher needs from an EVM node (JSON-RPC answers, raw)."""

    def chain_id(self) -> Any: ...  # eth_chainId
    def head(self) -> Any: ...  # eth_blockNumber
    def block(self, number: int) -> Any: ...  # eth_getBlockByNumber(number, false) or None
    def transfer_logs(self, token: str, first: int, last: int) -> Any: ...  # eth_getLogs


def parse_quantity(value: Any, what: str) -> int:
    if not isinstance(value, str) or not _QUANTITY.fullmatch(value):
        raise ChainDataError(f"{what}: not a JSON-RPC quantity: {str(value)[:80]!r}")
    return int(value, 16)


def parse_uint256(value: Any, what: str) -> int:
    """A JSON-RPC quantity that may exceed 64 bits (a balance in wei)."""
    if not isinstance(value, str) or not _UINT256.fullmatch(value):
        raise ChainDataError(f"{what}: not a JSON-RPC quantity: {str(value)[:80]!r}")
    return int(value, 16)


def _hash(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _HASH.fullmatch(value.lower()):
        raise ChainDataError(f"{what}: not a 32-byte hash: {str(value)[:80]!r}")
    return value.lower()


def _topic_address(topic: Any, what: str) -> str:
    word = _hash(topic, what)
    if word[2:26] != "0" * 24:
        raise ChainDataError(f"{what}: an address topic has 12 zero bytes first")
    return to_checksum("0x" + word[26:])


def parse_block_ref(value: Any) -> BlockRef | None:
    """An ``eth_getBlockByNumber`` answer's number and hash (None: no such block)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ChainDataError("a block is a JSON object")
    return BlockRef(
        parse_quantity(value.get("number"), "block.number"), _hash(value.get("hash"), "block.hash")
    )


def parse_transfer(value: Any, token: str) -> TransferLog | None:
    """One ``eth_getLogs`` entry as a Transfer of ``token``; None for a log that is not one
    (a removed log, another event). A malformed entry raises ChainDataError."""
    if not isinstance(value, dict):
        raise ChainDataError("a log is a JSON object")
    if value.get("removed") is True:
        return None
    address = value.get("address")
    if not isinstance(address, str) or to_checksum_or_none(address) != token:
        raise ChainDataError(f"a log of another contract: {str(address)[:50]!r}")
    topics = value.get("topics")
    if not isinstance(topics, list) or not topics:
        raise ChainDataError("log.topics: a non-empty list")
    if not isinstance(topics[0], str) or topics[0].lower() != TRANSFER_TOPIC:
        return None
    if len(topics) != 3:
        return None  # an ERC-721-style Transfer (value indexed): not this token's
    data = value.get("data")
    if not isinstance(data, str) or not _WORD.fullmatch(data.lower()):
        raise ChainDataError("log.data: one 32-byte word (the value)")
    return TransferLog(
        token_address=token,
        block_number=parse_quantity(value.get("blockNumber"), "log.blockNumber"),
        block_hash=_hash(value.get("blockHash"), "log.blockHash"),
        tx_hash=_hash(value.get("transactionHash"), "log.transactionHash"),
        log_index=parse_quantity(value.get("logIndex"), "log.logIndex"),
        from_address=_topic_address(topics[1], "log.topics[1]"),
        to_address=_topic_address(topics[2], "log.topics[2]"),
        value=int(data, 16),
    )


def to_checksum_or_none(address: str) -> str | None:
    try:
        return to_checksum(address)
    except ValueError:
        return None


# -- deposit addresses ----------------------------------------------------------------------


class DepositAddresses:
    """Each account's own deposit address, given once from ``deposit_xpub``."""

    def __init__(self, settings: Settings, deposits: DepositRepository) -> None:
        self._settings = settings
        self._deposits = deposits

    def of(self, owner: str, *, now: int) -> DepositAddress:
        """The owner's deposit address, assigned at the first request (NotFound when this
        deployment takes no on-chain deposits)."""
        if not self._settings.deposits_enabled or self._settings.deposit_xpub is None:
            raise NotFound("this deployment takes no on-chain deposits")
        found = self._deposits.address_of(owner)
        if found is not None:
            return found
        # Only an account's first request derives (secp256k1): off the API's cold start.
        from functions.logic.hd_keys import ExtendedPublicKey

        xpub = ExtendedPublicKey.parse(self._settings.deposit_xpub)
        index = self._deposits.next_index()
        assigned = DepositAddress(
            owner=owner,
            deposit_address=xpub.child(index).address(),
            index=index,
            created_at=now,
        )
        try:
            self._deposits.assign(assigned)
        except DuplicateEntry:
            raced = self._deposits.address_of(owner)
            if raced is None:
                raise
            return raced
        logger.info(
            "deposit address assigned",
            extra={"owner": owner, "deposit_address": assigned.deposit_address, "index": index},
        )
        return assigned


# -- the watcher -------------------------------------------------------------------------


@dataclass
class WatchRun:
    head: int = 0
    scanned_from: int = 0
    scanned_to: int = -1
    transfers: int = 0  # Transfer logs of the token read
    seen: int = 0  # new deposits (pending)
    moved: int = 0  # deposits found in another block than before
    orphaned: int = 0
    credited: int = 0
    credited_micro: int = 0
    held: int = 0
    pending: int = 0  # still pending after the run
    credited_ids: list[str] = field(default_factory=list)


class DepositWatcher:
    def __init__(
        self,
        settings: Settings,
        deposits: DepositRepository,
        chain: ChainReader,
        *,
        on_event: Callable[[str, ChainDeposit], None] | None = None,
    ) -> None:
        if settings.deposit_token_address is None or settings.deposit_chain_id is None:
            raise ValueError("deposits need deposit_token_address and deposit_chain_id")
        self._settings = settings
        self._deposits = deposits
        self._chain = chain
        self._token = settings.deposit_token_address
        self._chain_id = settings.deposit_chain_id
        self._needed = settings.deposit_confirmations
        self._on_event = on_event

    def run(self, now: int) -> WatchRun:
        chain_id = parse_quantity(self._chain.chain_id(), "eth_chainId")
        if chain_id != self._chain_id:
            raise ChainDataError(
                f"the RPC node is on chain {chain_id}, deposits are on {self._chain_id}"
            )
        head = parse_quantity(self._chain.head(), "eth_blockNumber")
        cursor = self._deposits.cursor(self._chain_id, self._token)
        start = cursor.next_block if cursor is not None else self._settings.deposit_start_block
        run = WatchRun(head=head, scanned_from=start)
        if start <= head:
            self._scan(start, head, now, run)
        self._confirm(head, now, run)
        # Blocks with N confirmations are final: the next run starts after them.
        final_next = max(start, head - self._needed + 2)
        self._deposits.save_cursor(
            WatcherCursor(
                chain_id=self._chain_id,
                token_address=self._token,
                next_block=final_next,
                head=head,
                updated_at=now,
            )
        )
        return run

    def _scan(self, start: int, head: int, now: int, run: WatchRun) -> None:
        step = self._settings.deposit_max_blocks
        for first in range(start, head + 1, step):
            last = min(head, first + step - 1)
            answer = self._chain.transfer_logs(self._token, first, last)
            if not isinstance(answer, list):
                raise ChainDataError("eth_getLogs answers a list")
            transfers = [t for t in (parse_transfer(e, self._token) for e in answer) if t]
            for transfer in transfers:
                if not first <= transfer.block_number <= last:
                    raise ChainDataError("eth_getLogs answered a log outside the range asked")
            run.transfers += len(transfers)
            owners = self._deposits.owners_of([t.to_address for t in transfers])
            for transfer in transfers:
                owner = owners.get(transfer.to_address)
                if owner is not None:
                    self._see(transfer, owner, now, run)
            run.scanned_to = last

    def _see(self, transfer: TransferLog, owner: DepositAddress, now: int, run: WatchRun) -> None:
        if transfer.value == 0:
            logger.info("zero-value transfer ignored", extra={"deposit_id": transfer.deposit_id})
            return
        deposit = ChainDeposit(
            deposit_id=transfer.deposit_id,
            owner=owner.owner,
            deposit_address=owner.deposit_address,
            chain_id=self._chain_id,
            token_address=self._token,
            tx_hash=transfer.tx_hash,
            log_index=transfer.log_index,
            block_number=transfer.block_number,
            block_hash=transfer.block_hash,
            from_address=transfer.from_address,
            token_units=str(transfer.value),
            amount=creditable_micro(transfer.value, self._settings.deposit_token_decimals),
            required_confirmations=self._needed,
            seen_at=now,
            updated_at=now,
        )
        if self._deposits.add_pending(deposit):
            run.seen += 1
            logger.info("deposit seen", extra=_fields(deposit))
            self._event("seen", deposit)
            return
        stored = self._deposits.get(deposit.owner, deposit.deposit_id)
        if stored is None or stored.block_hash == deposit.block_hash:
            return
        if self._deposits.move(
            stored, block_number=deposit.block_number, block_hash=deposit.block_hash, now=now
        ):
            run.moved += 1
            logger.warning(
                "deposit moved to another block by a reorganisation",
                extra={
                    **_fields(deposit),
                    "from_block_number": stored.block_number,
                    "from_block_hash": stored.block_hash,
                },
            )

    def _confirm(self, head: int, now: int, run: WatchRun) -> None:
        canonical: dict[int, BlockRef | None] = {}
        for deposit in self._deposits.pending():
            if deposit.chain_id != self._chain_id or deposit.token_address != self._token:
                continue  # another chain's or token's (a changed deployment): not ours
            number = deposit.block_number
            if number not in canonical:
                ref = parse_block_ref(self._chain.block(number)) if number <= head else None
                if ref is not None and ref.number != number:
                    raise ChainDataError(f"asked for block {number}, got {ref.number}")
                canonical[number] = ref
            ref = canonical[number]
            if ref is None or ref.hash != deposit.block_hash:
                if self._deposits.orphan(deposit, now=now):
                    run.orphaned += 1
                    logger.warning(
                        "deposit orphaned: its block is no longer canonical, nothing credited",
                        extra={**_fields(deposit), "canonical_hash": ref.hash if ref else None},
                    )
                    self._event("orphaned", deposit)
                continue
            confirmations = head - number + 1
            if confirmations < self._needed:
                run.pending += 1
                if confirmations != deposit.confirmations:
                    self._deposits.set_confirmations(deposit, confirmations, now=now)
                continue
            self._settle(deposit, confirmations, now, run)

    def _settle(self, deposit: ChainDeposit, confirmations: int, now: int, run: WatchRun) -> None:
        reason = hold_reason(deposit, self._settings.deposit_token_decimals)
        if reason is not None:
            if self._deposits.hold(deposit, confirmations=confirmations, reason=reason, now=now):
                run.held += 1
                logger.error(
                    "deposit held: not creditable as it is",
                    extra={**_fields(deposit), "reason": reason},
                )
                self._event("held", deposit)
            return
        try:
            entry = self._deposits.credit(deposit, confirmations=confirmations, now=now)
        except (DuplicateEntry, ConcurrentUpdate) as error:
            # Credited by an earlier run (whose answer was lost), or changed since read: the
            # condition saw to it that nothing moved twice; the next run looks again.
            logger.warning(
                "deposit not credited now: credited or changed since read",
                extra={**_fields(deposit), "error": str(error)},
            )
            return
        run.credited += 1
        run.credited_micro += entry.amount
        run.credited_ids.append(deposit.deposit_id)
        logger.info(
            "deposit credited",
            extra={**_fields(deposit), "confirmations": confirmations, "entry_id": entry.entry_id},
        )
        self._event("credited", deposit)

    def _event(self, kind: str, deposit: ChainDeposit) -> None:
        if self._on_event is not None:
            self._on_event(kind, deposit)


def _fields(deposit: ChainDeposit) -> dict[str, object]:
    """A deposit's log fields."""
    return {
        "deposit_id": deposit.deposit_id,
        "owner": deposit.owner,
        "block_number": deposit.block_number,
        "block_hash": deposit.block_hash,
        "token_units": deposit.token_units,
        "amount": deposit.amount,
    }


def creditable_micro(units: int, decimals: int) -> int | None:
    """What ``units`` credit, or None when they are not creditable as they are."""
    micro = token_units_to_micro(units, decimals)
    return micro if micro is not None and micro <= MAX_DEPOSIT_MICRO else None


def hold_reason(deposit: ChainDeposit, decimals: int) -> str | None:
    """Why a confirmed deposit is not credited as it is, or None."""
    if deposit.amount is not None:
        return None
    micro = token_units_to_micro(int(deposit.token_units), decimals)
    if micro is None:
        return (
            f"{deposit.token_units} units of a {decimals}-decimal token are not a whole "
            "number of micro-credits"
        )
    return f"{micro} micro-credits is over one deposit's limit {MAX_DEPOSIT_MICRO}"
