"""On-chain deposits in the CDK app (issue #24): the context keys, and where deposits are
configured the watcher's own scheduled function, its grants and its settings."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import ConfigError, DeployConfig
from infra.schedules import DEPOSITS_HANDLER
from tests.infra.assembly import Assembly
from tests.infra.conftest import DEPOSIT_TOKEN, DEPOSIT_XPUB

API_HANDLER = "functions.handlers.api.handler"
KEYS = {
    "xenblocks:depositChainId": "8453",
    "xenblocks:depositTokenAddress": DEPOSIT_TOKEN.lower(),
    "xenblocks:depositXpub": DEPOSIT_XPUB,
    "xenblocks:depositRpcUrl": "https://base.example.com/rpc",
}


def _config(values: dict[str, Any]) -> DeployConfig:
    return DeployConfig.from_context(values.get)


def test_deposits_are_off_without_their_keys() -> None:
    config = _config({})
    assert config.deposits is None
    assert not any(key.startswith("deposit") for key in config.settings_values())


def test_the_deposit_keys_are_parsed_and_checked_as_settings() -> None:
    config = _config({**KEYS, "xenblocks:depositConfirmations": 20})
    assert config.deposits is not None
    assert config.deposits.token_address == DEPOSIT_TOKEN  # EIP-55, as Settings writes it
    assert (config.deposits.confirmations, config.deposits.token_decimals) == (20, 6)
    values = config.settings_values()
    assert values["deposit_xpub"] == DEPOSIT_XPUB
    assert values["deposit_chain_id"] == 8453
    assert "deposit_rpc_url" not in values  # the watcher's alone


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"xenblocks:depositRpcUrl": None}, "depositRpcUrl"),
        ({"xenblocks:depositXpub": "xpub-not-a-key"}, "depositXpub"),
        ({"xenblocks:depositTokenAddress": "0x1234"}, "deposit_token_address"),
        ({"xenblocks:depositRpcUrl": "ftp://node"}, "deposit_rpc_url"),
        ({"xenblocks:depositConfirmations": "0"}, "deposit_confirmations"),
    ],
)
def test_bad_or_missing_deposit_keys_are_refused(change: dict[str, Any], names: str) -> None:
    values = {**KEYS, **change}
    with pytest.raises(ConfigError, match=names):
        _config({k: v for k, v in values.items() if v is not None})


def test_the_watcher_runs_every_minute_in_its_own_function(assembly: Assembly) -> None:
    function_id = assembly.function_by_handler(DEPOSITS_HANDLER)
    rules = [
        r["Properties"]
        for r in assembly.of_type("AWS::Events::Rule").values()
        if any(t["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]} for t in r["Properties"]["Targets"])
    ]
    assert [r["ScheduleExpression"] for r in rules] == ["rate(1 minute)"]
    env = assembly.env(function_id)
    assert env["XENBLOCKS_DEPOSIT_RPC_URL"] == "https://base.example.com/rpc"
    assert env["XENBLOCKS_DEPOSIT_CONFIRMATIONS"] == "20"
    assert env["XENBLOCKS_DEPOSIT_TOKEN_ADDRESS"] == DEPOSIT_TOKEN


def test_the_api_shows_deposit_addresses_but_never_reads_the_chain(assembly: Assembly) -> None:
    env = assembly.env(assembly.function_by_handler(API_HANDLER))
    assert env["XENBLOCKS_DEPOSIT_XPUB"] == DEPOSIT_XPUB
    assert env["XENBLOCKS_DEPOSIT_CHAIN_ID"] == "8453"
    assert "XENBLOCKS_DEPOSIT_RPC_URL" not in env
