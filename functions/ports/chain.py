"""The deposit watcher's EVM node: JSON-RPC through web3.py's HTTP provider.

web3.py is imported here only, and only the ``deposits`` and ``payouts`` jobs import this
module (their own Lambdas, ``functions/handlers/deposits.py`` and ``payouts.py``): no
other handler pays its import. The answers
are passed on raw (JSON-RPC's hex strings) for ``functions/logic/deposits.py`` to
validate; web3 gives the transport (a pooled session, timeouts, retries of failed
connections), not trust.
"""

from __future__ import annotations

from typing import Any

from web3 import HTTPProvider
from web3.types import RPCEndpoint

from functions.logic.deposits import TRANSFER_TOPIC, ChainDataError, ChainRpcError

__all__ = ["ChainRpcError", "Web3Chain", "Web3ChainReader"]

BALANCE_OF_SELECTOR = "0x70a08231"  # balanceOf(address)


class Web3ChainReader:
    """``ChainReader`` over HTTP JSON-RPC."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self._provider = HTTPProvider(url, request_kwargs={"timeout": timeout})

    def _call(self, method: str, params: list[Any]) -> Any:
        response: Any = self._provider.make_request(RPCEndpoint(method), params)
        if not isinstance(response, dict):
            raise ChainDataError(f"{method}: the answer is not a JSON-RPC object")
        if response.get("error") is not None:
            raise ChainRpcError(f"{method}: {str(response['error'])[:200]}")
        if "result" not in response:
            raise ChainDataError(f"{method}: no result")
        return response["result"]

    def chain_id(self) -> Any:
        return self._call("eth_chainId", [])

    def head(self) -> Any:
        return self._call("eth_blockNumber", [])

    def block(self, number: int) -> Any:
        return self._call("eth_getBlockByNumber", [hex(number), False])

    def transfer_logs(self, token: str, first: int, last: int) -> Any:
        query = {
            "address": token,
            "fromBlock": hex(first),
            "toBlock": hex(last),
            "topics": [TRANSFER_TOPIC],
        }
        return self._call("eth_getLogs", [query])


class Web3Chain(Web3ChainReader):
    """``PayoutChain``: the reader plus what the payouts job asks and sends."""

    def latest_block(self) -> Any:
        return self._call("eth_getBlockByNumber", ["latest", False])

    def nonce(self, address: str, tag: str) -> Any:
        return self._call("eth_getTransactionCount", [address, tag])

    def gas_balance(self, address: str) -> Any:
        return self._call("eth_getBalance", [address, "latest"])

    def token_balance(self, token: str, address: str) -> Any:
        data = BALANCE_OF_SELECTOR + address.lower().removeprefix("0x").rjust(64, "0")
        return self._call("eth_call", [{"to": token, "data": data}, "latest"])

    def max_priority_fee(self) -> Any:
        return self._call("eth_maxPriorityFeePerGas", [])

    def estimate_gas(self, sender: str, to: str, data: str) -> Any:
        return self._call("eth_estimateGas", [{"from": sender, "to": to, "data": data}])

    def receipt(self, tx_hash: str) -> Any:
        return self._call("eth_getTransactionReceipt", [tx_hash])

    def send_raw(self, raw_tx: str) -> Any:
        return self._call("eth_sendRawTransaction", [raw_tx])
