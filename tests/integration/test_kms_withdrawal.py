"""A withdrawal end to end: a secp256k1 key in KMS (moto's server, over HTTP, with DIGEST
signing made AWS's by functions/local/moto_kms_digest.py) signs an ERC-20 transfer that
the local chain (hardhat 2, chain/) accepts and executes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from functions.local.evm_node import EvmNode
from functions.logic.evm_tx import TokenTransferTx, tx_hash
from functions.ports.kms_signer import KmsSigner

RECIPIENT = "0x" + "ab" * 20


@pytest.fixture
def kms() -> Iterator[Any]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield boto3.client("kms", region_name="us-east-1", endpoint_url=f"http://{host}:{port}")
    finally:
        server.stop()


def test_a_kms_signed_transfer_is_mined(chain: EvmNode, kms: Any) -> None:
    admin, token = chain.admin, chain.token_address
    assert token is not None
    key_id = kms.create_key(KeySpec="ECC_SECG_P256K1", KeyUsage="SIGN_VERIFY")["KeyMetadata"][
        "KeyId"
    ]
    signer = KmsSigner(kms, key_id)
    # The withdrawal wallet: gas money and tokens to send.
    admin.call("hardhat_setBalance", signer.address, hex(10**18))
    admin.receipt(admin.mint(token, signer.address, 5_000_000))

    sent = []
    for units in (1_250_000, 750_000):  # two in a row: the nonce advances
        base_fee = int(admin.call("eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)
        tx = TokenTransferTx(
            chain_id=chain.chain_id,
            nonce=int(admin.call("eth_getTransactionCount", signer.address, "pending"), 16),
            max_priority_fee_per_gas=10**9,
            max_fee_per_gas=2 * base_fee + 10**9,
            gas_limit=100_000,
            token=token,
            recipient=RECIPIENT,
            units=units,
        )
        raw = signer.sign_transaction(tx)
        sent.append(admin.call("eth_sendRawTransaction", "0x" + raw.hex()))
        assert sent[-1] == tx_hash(raw)
        receipt = admin.receipt(sent[-1])
        assert receipt["from"].lower() == signer.address.lower()

    assert admin.balance_of(token, RECIPIENT) == 2_000_000
    assert admin.balance_of(token, signer.address) == 3_000_000
