"""Deployment parameters from CDK context: cdk.json values, -c strings, refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.config import ConfigError, Dependencies, DeployConfig
from infra.functions import settings_env
from tests.infra.conftest import ROOT

ADDRESS = "0x52908400098527886e0f7030069857d2e4169ee7"
CHECKSUMMED = "0x52908400098527886E0F7030069857D2E4169EE7"


def _config(**values: Any) -> DeployConfig:
    return DeployConfig.from_context({f"xenblocks:{k}": v for k, v in values.items()}.get)


def test_cdk_json_defaults_are_valid() -> None:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    config = DeployConfig.from_context(context.get)
    assert config.stage == "prod"
    assert config.deletion_protection is True
    assert config.dependencies is Dependencies.BUILD
    assert config.table_prefix == "xenblocks-prod"


def test_command_line_strings_are_parsed() -> None:
    config = _config(
        stage="dev",
        feeBp="250",
        adminAddresses=f"{ADDRESS}, {ADDRESS}",
        deletionProtection="false",
        heartbeatHistorySeconds="600",
        difficulty="1727",
        dependencies="none",
    )
    assert config.fee_bp == 250
    assert config.admin_addresses == (CHECKSUMMED, CHECKSUMMED)
    assert config.deletion_protection is False
    assert config.heartbeat_history_seconds == 600
    assert config.difficulty == 1727
    assert config.dependencies is Dependencies.NONE


def test_admin_addresses_as_a_json_list() -> None:
    assert _config(adminAddresses=f'["{ADDRESS}"]').admin_addresses == (CHECKSUMMED,)
    assert _config(adminAddresses=[ADDRESS]).admin_addresses == (CHECKSUMMED,)


@pytest.mark.parametrize(
    ("values", "names"),
    [
        ({"stage": "Prod_1"}, "stage"),
        ({"feeBp": 20_000}, "fee_bp"),
        ({"feeBp": "five"}, "feeBp"),
        ({"adminAddresses": "0x1234"}, "admin_addresses"),
        ({"heartbeatHistorySeconds": 5}, "heartbeat_history_seconds"),
        ({"deletionProtection": "maybe"}, "deletionProtection"),
        ({"logRetentionDays": 31}, "logRetentionDays"),
        ({"domainName": "dash.example.com"}, "certificateArn"),
        ({"xenblocksNodeUrl": "ftp://x"}, "xenblocksNodeUrl"),
        ({"dependencies": "docker"}, "dependencies"),
        ({"alarmEmail": "nobody"}, "alarmEmail"),
        ({"alertEmailSender": "nobody"}, "alertEmailSender"),
        ({"heartbeatBatchSeconds": 301}, "heartbeatBatchSeconds"),
        ({"heartbeatShards": 0}, "heartbeatShards"),
        ({"heartbeatWriteSeconds": 7200}, "heartbeat_write_seconds"),
    ],
)
def test_bad_values_name_their_key(values: dict[str, Any], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        _config(**values)


def test_custom_domain_needs_a_us_east_1_certificate() -> None:
    arn = (
        "arn:aws:acm:us-east-1:123456789012:certificate/" + "0" * 8 + "-0000-0000-0000-" + "0" * 12
    )
    config = _config(domainName="dash.example.com", certificateArn=arn)
    assert config.domain_name == "dash.example.com"
    with pytest.raises(ConfigError, match="us-east-1"):
        _config(domainName="dash.example.com", certificateArn=arn.replace("us-east-1", "eu-west-1"))


def test_settings_env_refuses_unknown_fields() -> None:
    env = settings_env({"fee_bp": 5, "rules__difficulty": 8})
    assert env == {"XENBLOCKS_FEE_BP": "5", "XENBLOCKS_RULES__DIFFICULTY": "8"}
    with pytest.raises(ValueError, match=r"not a functions\.settings\.Settings field"):
        settings_env({"fee_basis_points": 5})


def test_storm_controls_default_to_reservations_the_api_can_live_with() -> None:
    config = _config()
    assert (config.ingest_concurrency, config.verify_concurrency) == (10, 50)
    assert config.lambda_concurrency == 1000
    assert config.reserved_concurrency == 10 + 50 + 1  # one per heartbeat shard
    assert config.iot_log_level == "WARN"


def test_reservations_leave_the_account_half_and_lambdas_floor() -> None:
    assert _config(ingestConcurrency="0", verifyConcurrency="0").reserved_concurrency == 1
    with pytest.raises(ConfigError, match="lambdaConcurrency"):
        _config(verifyConcurrency="500")  # 511 of 1000: more than half
    with pytest.raises(ConfigError, match="at least 100"):
        _config(lambdaConcurrency="150", ingestConcurrency="10", verifyConcurrency="50")
    with pytest.raises(ConfigError, match="positive"):
        _config(ingestConcurrency="-1")
    assert _config(lambdaConcurrency="400", verifyConcurrency="100").reserved_concurrency == 111


def test_iot_logging_level_or_left_to_another_stage() -> None:
    assert _config(iotLogLevel="ERROR").iot_log_level == "ERROR"
    assert _config(iotLogLevel="unmanaged").iot_log_level is None
    with pytest.raises(ConfigError, match="iotLogLevel"):
        _config(iotLogLevel="loud")
