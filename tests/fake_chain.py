"""A fake EVM chain for the deposit watcher's unit tests: blocks with Transfer logs of one
token, answered as JSON-RPC answers them (hex strings), with reorganisations on demand."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Any

from functions.logic.deposits import TRANSFER_TOPIC

_salts = itertools.count()


def _hash(*parts: object) -> str:
    return "0x" + hashlib.sha256(repr(parts).encode()).hexdigest()


def _topic(address: str) -> str:
    return "0x" + "0" * 24 + address.lower().removeprefix("0x")


@dataclass
class FakeTransfer:
    sender: str
    to: str
    value: int
    tx_hash: str


@dataclass
class FakeBlock:
    number: int
    hash: str
    transfers: list[FakeTransfer] = field(default_factory=list)


class FakeChain:
    """``ChainReader`` over an in-memory chain. ``mine`` adds blocks; ``reorg(height)``
    replaces every block from ``height`` on with new ones (new hashes)."""

    def __init__(self, token: str, chain_id: int = 31337, *, height: int = 0) -> None:
        self.token = token
        self.id = chain_id
        self.blocks: list[FakeBlock] = []
        self.calls: list[tuple[str, Any]] = []
        self.overrides: dict[str, Any] = {}  # method → a raw answer to give instead
        self.mine(height + 1)  # blocks 0..height

    # -- building the chain -------------------------------------------------------------------

    def mine(self, count: int = 1, transfers: list[FakeTransfer] | None = None) -> int:
        """Mine ``count`` blocks, ``transfers`` in the first; the last block's number."""
        for i in range(count):
            number = len(self.blocks)
            block = FakeBlock(number, _hash(number, next(_salts)))
            if i == 0 and transfers:
                block.transfers = list(transfers)
            self.blocks.append(block)
        return len(self.blocks) - 1

    def transfer(self, sender: str, to: str, value: int, tx_hash: str | None = None) -> str:
        """A transfer mined in a new block; its transaction hash."""
        tx = tx_hash or _hash("tx", sender, to, value, next(_salts))
        self.mine(1, [FakeTransfer(sender, to, value, tx)])
        return tx

    def reorg(self, height: int) -> list[FakeBlock]:
        """Drop blocks from ``height`` on (a reorganisation); the dropped blocks."""
        dropped, self.blocks = self.blocks[height:], self.blocks[:height]
        return dropped

    @property
    def height(self) -> int:
        return len(self.blocks) - 1

    # -- ChainReader ----------------------------------------------------------------------------

    def _answer(self, method: str, value: Any) -> Any:
        self.calls.append((method, value))
        return self.overrides.get(method, value)

    def chain_id(self) -> Any:
        return self._answer("eth_chainId", hex(self.id))

    def head(self) -> Any:
        return self._answer("eth_blockNumber", hex(self.height))

    def block(self, number: int) -> Any:
        if number > self.height:
            return self._answer("eth_getBlockByNumber", None)
        block = self.blocks[number]
        return self._answer("eth_getBlockByNumber", {"number": hex(number), "hash": block.hash})

    def transfer_logs(self, token: str, first: int, last: int) -> Any:
        logs: list[dict[str, Any]] = []
        if token == self.token:
            for block in self.blocks[first : last + 1]:
                for index, transfer in enumerate(block.transfers):
                    logs.append(self.log(block, index, transfer))
        return self._answer("eth_getLogs", logs)

    def log(self, block: FakeBlock, index: int, transfer: FakeTransfer) -> dict[str, Any]:
        return {
            "address": self.token.lower(),
            "topics": [TRANSFER_TOPIC, _topic(transfer.sender), _topic(transfer.to)],
            "data": f"0x{transfer.value:064x}",
            "blockNumber": hex(block.number),
            "blockHash": block.hash,
            "transactionHash": transfer.tx_hash,
            "transactionIndex": "0x0",
            "logIndex": hex(index),
            "removed": False,
        }
