"""A fake EVM chain for the payouts job's unit tests: ``FakeChain`` (blocks, reorgs) plus a
mempool, nonces, balances and receipts, answered as JSON-RPC answers them. Raw
transactions are decoded (RLP) so what the job signed is what gets mined; tests decide
when a transaction is mined, and whether it reverts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import rlp
from coincurve import PrivateKey

from functions.logic.deposits import TRANSFER_TOPIC
from functions.logic.evm_tx import TokenTransferTx, address_of_public_key, tx_hash
from functions.logic.payouts import ChainRpcError
from protocol.addresses import to_checksum
from tests.fake_chain import FakeBlock, FakeChain, _topic

GWEI = 10**9


class LocalKeySigner:
    """``TransactionSigner`` with a key in memory (tests only: in AWS the key is KMS's)."""

    def __init__(self, secret: bytes = b"\x01" * 32) -> None:
        self._key = PrivateKey(secret)
        self.signed = 0
        self.fail_next = 0  # raise on the next N signatures (a KMS outage)

    @property
    def address(self) -> str:
        return address_of_public_key(self._key.public_key.format(compressed=False))

    def sign_transaction(self, tx: TokenTransferTx) -> bytes:
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("KMS is unavailable")
        signature = self._key.sign_recoverable(tx.signing_hash(), hasher=None)
        r, s, v = (
            int.from_bytes(signature[:32], "big"),
            int.from_bytes(signature[32:64], "big"),
            signature[64],
        )
        self.signed += 1
        return tx.signed_raw(v, r, s)


@dataclass
class SentTx:
    tx_hash: str
    nonce: int
    max_fee: int
    tip: int
    gas_limit: int
    token: str
    recipient: str
    units: int


@dataclass
class Receipt:
    tx: SentTx
    block: FakeBlock
    status: int


def decode(raw: bytes) -> SentTx:
    """A signed type-2 token transfer, as a node reads it."""
    assert raw[0] == 2, "an EIP-1559 transaction"
    fields = rlp.decode(raw[1:])
    data = fields[7]
    assert data[:4] == bytes.fromhex("a9059cbb"), "ERC-20 transfer(address,uint256)"
    return SentTx(
        tx_hash=tx_hash(raw),
        nonce=int.from_bytes(fields[1], "big"),
        tip=int.from_bytes(fields[2], "big"),
        max_fee=int.from_bytes(fields[3], "big"),
        gas_limit=int.from_bytes(fields[4], "big"),
        token=to_checksum("0x" + fields[5].hex()),
        recipient=to_checksum("0x" + data[16:36].hex()),
        units=int.from_bytes(data[36:68], "big"),
    )


class FakePayoutChain(FakeChain):
    """``PayoutChain``: one hot wallet's nonce, gas and token balances, a mempool keyed by
    nonce (a higher-fee transaction replaces one with the same nonce, as nodes do)."""

    def __init__(self, token: str, wallet: str, **kwargs: Any) -> None:
        super().__init__(token, **kwargs)
        self.wallet = wallet
        self.tokens = 1_000_000 * 10**6
        self.gas = 100 * 10**18  # over 2**64 wei: balances are uint256
        self.base_fee = 10 * GWEI
        self.tip = 1 * GWEI
        self.mined_nonce = 0  # the wallet's transactions mined so far
        self.mempool: dict[int, SentTx] = {}
        self.sent: list[SentTx] = []  # every accepted broadcast, in order
        self.receipts: dict[str, Receipt] = {}
        self.send_error: str | None = None  # the next eth_sendRawTransaction's error
        self.estimate = 52_000

    # -- what tests do --------------------------------------------------------------------

    def mine_pending(self, *, revert: bool = False, nonce: int | None = None) -> list[str]:
        """Mine the next pending transaction(s) in nonce order (one block each); the hashes."""
        mined: list[str] = []
        while self.mempool and (nonce is None or not mined):
            first = min(self.mempool)
            if first != self.mined_nonce:
                break
            tx = self.mempool.pop(first)
            self.mine(1)
            block = self.blocks[-1]
            status = 0 if revert else 1
            if status:
                self.tokens -= tx.units
            self.gas -= tx.gas_limit * min(tx.max_fee, self.base_fee + tx.tip)
            self.receipts[tx.tx_hash] = Receipt(tx, block, status)
            self.mined_nonce += 1
            mined.append(tx.tx_hash)
        return mined

    def mine_tx(self, sent: SentTx) -> None:
        """Mine one specific transaction (say, an earlier fee level of a replaced one)."""
        self.mempool.pop(sent.nonce, None)
        self.mine(1)
        self.tokens -= sent.units
        self.receipts[sent.tx_hash] = Receipt(sent, self.blocks[-1], 1)
        self.mined_nonce += 1

    # -- PayoutChain ----------------------------------------------------------------------

    def latest_block(self) -> Any:
        block = self.blocks[-1]
        return self._answer(
            "eth_getBlockByNumber:latest",
            {"number": hex(block.number), "hash": block.hash, "baseFeePerGas": hex(self.base_fee)},
        )

    def nonce(self, address: str, tag: str) -> Any:
        assert address == self.wallet
        return self._answer("eth_getTransactionCount", hex(self.mined_nonce))

    def gas_balance(self, address: str) -> Any:
        return self._answer("eth_getBalance", hex(self.gas))

    def token_balance(self, token: str, address: str) -> Any:
        return self._answer("eth_call", f"0x{self.tokens:064x}")

    def max_priority_fee(self) -> Any:
        return self._answer("eth_maxPriorityFeePerGas", hex(self.tip))

    def estimate_gas(self, sender: str, to: str, data: str) -> Any:
        return self._answer("eth_estimateGas", hex(self.estimate))

    def receipt(self, tx_hash: str) -> Any:
        found = self.receipts.get(tx_hash)
        if found is None or found.block.number > self.height:
            return self._answer("eth_getTransactionReceipt", None)
        block, tx = found.block, found.tx
        logs = []
        if found.status:
            logs.append(
                {
                    "address": self.token.lower(),
                    "topics": [TRANSFER_TOPIC, _topic(self.wallet), _topic(tx.recipient)],
                    "data": f"0x{tx.units:064x}",
                    "blockNumber": hex(block.number),
                    "blockHash": block.hash,
                    "transactionHash": tx.tx_hash,
                    "logIndex": "0x0",
                    "removed": False,
                }
            )
        return self._answer(
            "eth_getTransactionReceipt",
            {
                "transactionHash": tx.tx_hash,
                "status": hex(found.status),
                "blockNumber": hex(block.number),
                "blockHash": block.hash,
                "logs": logs,
            },
        )

    def send_raw(self, raw_tx: str) -> Any:
        raw = bytes.fromhex(raw_tx.removeprefix("0x"))
        tx = decode(raw)
        if self.send_error is not None:
            error, self.send_error = self.send_error, None
            raise ChainRpcError(f"eth_sendRawTransaction: {error}")
        if tx.nonce < self.mined_nonce:
            raise ChainRpcError("eth_sendRawTransaction: nonce too low")
        pending = self.mempool.get(tx.nonce)
        if pending is not None and pending.tx_hash == tx.tx_hash:
            raise ChainRpcError("eth_sendRawTransaction: already known")
        if pending is not None and (
            tx.max_fee * 10 < pending.max_fee * 11 or tx.tip * 10 < pending.tip * 11
        ):
            raise ChainRpcError("eth_sendRawTransaction: replacement transaction underpriced")
        self.mempool[tx.nonce] = tx
        self.sent.append(tx)
        return self._answer("eth_sendRawTransaction", tx.tx_hash)
