"""The local EVM chain (hardhat 2 in chain/): it starts, answers JSON-RPC, and the test
stablecoin deploys with 6 decimals, mints and transfers, and emits Transfer logs."""

from __future__ import annotations

from functions.local.evm_node import (
    CHAIN_ID,
    MINT_UNITS,
    EvmNode,
)
from functions.logic.deposits import TRANSFER_TOPIC, parse_transfer


def test_the_node_answers_and_the_token_is_deployed(chain: EvmNode) -> None:
    admin = chain.admin
    assert admin.chain_id() == CHAIN_ID == chain.chain_id
    assert chain.token_address is not None
    decimals = admin.call("eth_call", {"to": chain.token_address, "data": "0x313ce567"}, "latest")
    assert int(decimals, 16) == 6
    assert admin.balance_of(chain.token_address, chain.accounts[1]) == MINT_UNITS
    assert chain.describe() == {
        "chain_rpc_url": chain.url,
        "chain_id": CHAIN_ID,
        "token_address": chain.token_address,
        "token_decimals": 6,
    }


def test_a_transfer_is_a_transfer_log(chain: EvmNode) -> None:
    admin = chain.admin
    token = chain.token_address
    assert token is not None
    sender, receiver = chain.accounts[2], "0x" + "ab" * 20
    receipt = admin.receipt(admin.transfer(token, sender, receiver, 1_234_567))
    logs = admin.call(
        "eth_getLogs",
        {
            "address": token,
            "fromBlock": receipt["blockNumber"],
            "toBlock": receipt["blockNumber"],
            "topics": [TRANSFER_TOPIC],
        },
    )
    [transfer] = [parse_transfer(entry, token) for entry in logs]
    assert transfer is not None
    assert (transfer.from_address, transfer.to_address.lower(), transfer.value) == (
        sender,
        receiver,
        1_234_567,
    )
    assert transfer.tx_hash == receipt["transactionHash"]


def test_snapshot_and_revert_rewind_the_chain(chain: EvmNode) -> None:
    admin = chain.admin
    snapshot = admin.snapshot()
    before = admin.block_number()
    first = admin.block_hash(before)
    admin.mine(3)
    assert admin.block_number() == before + 3
    assert admin.revert(snapshot)
    assert admin.block_number() == before
    assert admin.block_hash(before) == first
