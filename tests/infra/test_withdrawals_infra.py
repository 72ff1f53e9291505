"""On-chain withdrawals in the CDK app (issue #24): the context keys, and where withdrawals
are on chain the hot wallet's KMS key, the payouts job that alone may sign with it, and the
alarms on what the job reports."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from infra.config import ConfigError, DeployConfig
from infra.schedules import PAYOUTS_HANDLER
from infra.sizing import PAYOUTS_ALARMS
from tests.infra.assembly import Assembly
from tests.infra.conftest import ADMIN, CONTEXT, STAGE
from tests.infra.test_deposits_infra import KEYS as DEPOSIT_KEYS

API_HANDLER = "functions.handlers.api.handler"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
MRK_ARN = "arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab"
ALIAS = f"alias/xenblocks-{STAGE}-hot-wallet"
ALARMED = (
    "HotWalletTokenLow",
    "HotWalletGasLow",
    "DailyLimitReached",
    "WithdrawalsStuck",
    "WithdrawalsFailed",
    "HotWalletNonceMismatch",
)
# The payouts job's settings, and the values every function gets.
JOB_ONLY = (
    "XENBLOCKS_DEPOSIT_RPC_URL",
    "XENBLOCKS_HOT_WALLET_MIN_BALANCE",
    "XENBLOCKS_HOT_WALLET_MIN_GAS_WEI",
)
EVERYONE = (
    "XENBLOCKS_WITHDRAWAL_KMS_KEY_ID",
    "XENBLOCKS_WITHDRAWAL_AUTO_MAX",
    "XENBLOCKS_WITHDRAWAL_DAILY_LIMIT",
    "XENBLOCKS_WITHDRAWAL_CONFIRMATIONS",
)


def _config(values: dict[str, Any]) -> DeployConfig:
    return DeployConfig.from_context({"xenblocks:stage": STAGE, **values}.get)


# --- the context keys ----------------------------------------------------------------------


def test_withdrawals_are_off_without_their_key() -> None:
    config = _config(DEPOSIT_KEYS)
    assert config.withdrawals is None
    assert not any(key.startswith("withdrawal") for key in config.settings_values())


def test_create_names_the_key_by_its_alias_with_the_settings_defaults() -> None:
    config = _config({**DEPOSIT_KEYS, "xenblocks:withdrawalKmsKey": "create"})
    withdrawals = config.withdrawals
    assert withdrawals is not None
    assert withdrawals.creates_key
    assert withdrawals.key_id == ALIAS
    values = config.settings_values()
    assert values["withdrawal_kms_key_id"] == ALIAS
    # functions/settings.py's defaults: 100 and 10,000 credits, 12 blocks.
    assert values["withdrawal_auto_max"] == 100_000_000
    assert values["withdrawal_daily_limit"] == 10_000_000_000
    assert values["withdrawal_confirmations"] == 12
    # The hot wallet's floors and the RPC URL are the payouts job's alone.
    assert "hot_wallet_min_balance" not in values
    assert "deposit_rpc_url" not in values
    assert withdrawals.job_values() == {
        "hot_wallet_min_balance": 1_000_000_000,
        "hot_wallet_min_gas_wei": 10**16,
    }


def test_an_existing_key_and_the_limits_from_the_command_line() -> None:
    config = _config(
        {
            **DEPOSIT_KEYS,
            "xenblocks:withdrawalKmsKey": MRK_ARN,
            "xenblocks:withdrawalAutoMax": "0",  # every withdrawal waits for an admin
            "xenblocks:withdrawalDailyLimit": "2500000000",
            "xenblocks:withdrawalConfirmations": "30",
            "xenblocks:hotWalletMinBalance": "500000000",
            "xenblocks:hotWalletMinGasWei": str(5 * 10**15),
        }
    )
    withdrawals = config.withdrawals
    assert withdrawals is not None
    assert not withdrawals.creates_key
    assert withdrawals.key_id == MRK_ARN
    assert (withdrawals.auto_max, withdrawals.daily_limit) == (0, 2_500_000_000)
    assert withdrawals.confirmations == 30
    assert (withdrawals.min_balance, withdrawals.min_gas_wei) == (500_000_000, 5 * 10**15)


def test_the_payouts_job_reserves_one_run_at_a_time() -> None:
    without = _config(DEPOSIT_KEYS).reserved_concurrency
    config = _config({**DEPOSIT_KEYS, "xenblocks:withdrawalKmsKey": KEY_ARN})
    assert config.reserved_concurrency == without + 1


@pytest.mark.parametrize(
    ("values", "message"),
    [
        # Withdrawals pay the deposit token on the deposit chain.
        ({"xenblocks:withdrawalKmsKey": "create"}, "need the deposit keys"),
        # The limits mean nothing without the key: a forgotten key is not a silent no-op.
        ({**DEPOSIT_KEYS, "xenblocks:withdrawalAutoMax": "10"}, "only with"),
        ({**DEPOSIT_KEYS, "xenblocks:withdrawalKmsKey": "make-one"}, "neither 'create' nor"),
        (
            {**DEPOSIT_KEYS, "xenblocks:withdrawalKmsKey": KEY_ARN.replace("key/", "alias/")},
            "withdrawalKmsKey",
        ),
        (
            {**DEPOSIT_KEYS, "xenblocks:withdrawalKmsKey": KEY_ARN.replace(":kms:", ":s3:")},
            "withdrawalKmsKey",
        ),
        ({**DEPOSIT_KEYS, "xenblocks:withdrawalKmsKey": KEY_ARN[-36:]}, "withdrawalKmsKey"),
        (
            {
                **DEPOSIT_KEYS,
                "xenblocks:withdrawalKmsKey": "create",
                "xenblocks:withdrawalAutoMax": -1,
            },
            r"withdrawalAutoMax: 0 or more, got -1",
        ),
        (
            {
                **DEPOSIT_KEYS,
                "xenblocks:withdrawalKmsKey": "create",
                "xenblocks:withdrawalDailyLimit": "-5",
            },
            "withdrawalDailyLimit: 0 or more",
        ),
        (
            {
                **DEPOSIT_KEYS,
                "xenblocks:withdrawalKmsKey": "create",
                "xenblocks:withdrawalConfirmations": "0",
            },
            "withdrawalConfirmations: 1 or more",
        ),
        (
            {
                **DEPOSIT_KEYS,
                "xenblocks:withdrawalKmsKey": "create",
                "xenblocks:hotWalletMinGasWei": "-1",
            },
            "hotWalletMinGasWei: 0 or more",
        ),
        (
            {
                **DEPOSIT_KEYS,
                "xenblocks:withdrawalKmsKey": "create",
                "xenblocks:hotWalletMinBalance": "lots",
            },
            "hotWalletMinBalance: expected an integer",
        ),
        # Settings' own bound, checked at synth.
        (
            {
                **DEPOSIT_KEYS,
                "xenblocks:withdrawalKmsKey": "create",
                "xenblocks:withdrawalConfirmations": "20000",
            },
            "withdrawal_confirmations",
        ),
    ],
)
def test_bad_or_missing_withdrawal_keys_are_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(values)


# --- the synthesized stage (tests/infra/conftest.py: withdrawalKmsKey=create) ---------------


def _payouts(assembly: Assembly) -> str:
    return assembly.function_by_handler(PAYOUTS_HANDLER)


def _the_key(assembly: Assembly) -> str:
    (key_id,) = assembly.of_type("AWS::KMS::Key")
    return key_id


def test_create_makes_a_kept_secp256k1_signing_key_with_an_alias(assembly: Assembly) -> None:
    key_id = _the_key(assembly)
    key = assembly.resources[key_id]
    assert key["Properties"]["KeySpec"] == "ECC_SECG_P256K1"
    assert key["Properties"]["KeyUsage"] == "SIGN_VERIFY"
    assert key["Properties"].get("EnableKeyRotation", False) is False
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("Retain", "Retain")
    (alias_id,) = assembly.of_type("AWS::KMS::Alias")
    alias = assembly.resources[alias_id]
    assert alias["Properties"]["AliasName"] == ALIAS
    assert alias["Properties"]["TargetKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    # Kept too: a stack made again fails on the alias instead of making a new address.
    assert alias["DeletionPolicy"] == "Retain"
    outputs = assembly.template["Outputs"]
    assert outputs["HotWalletKeyArn"]["Value"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert outputs["HotWalletKeyId"]["Value"] == ALIAS


def test_the_payouts_job_runs_every_minute_one_at_a_time(assembly: Assembly) -> None:
    function_id = _payouts(assembly)
    rules = [
        r["Properties"]
        for r in assembly.of_type("AWS::Events::Rule").values()
        if any(t["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]} for t in r["Properties"]["Targets"])
    ]
    assert [r["ScheduleExpression"] for r in rules] == ["rate(1 minute)"]
    (target,) = rules[0]["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0
    props = assembly.props(function_id)
    assert props["ReservedConcurrentExecutions"] == 1
    assert props["Timeout"] <= 60  # done before the next minute's run
    # It signs by the alias, which it waits for.
    (alias_id,) = assembly.of_type("AWS::KMS::Alias")
    assert alias_id in assembly.resources[function_id].get("DependsOn", [])


def test_the_payouts_job_alone_reads_the_chain_and_the_floors(assembly: Assembly) -> None:
    env = assembly.env(_payouts(assembly))
    assert env["XENBLOCKS_DEPOSIT_RPC_URL"] == "https://base.example.com/rpc"
    assert env["XENBLOCKS_HOT_WALLET_MIN_BALANCE"] == "1000000000"
    assert env["XENBLOCKS_HOT_WALLET_MIN_GAS_WEI"] == str(10**16)
    assert env["XENBLOCKS_WITHDRAWAL_KMS_KEY_ID"] == ALIAS
    assert env["POWERTOOLS_SERVICE_NAME"] == "job-payouts"
    for function_id in assembly.functions():
        env = assembly.env(function_id)
        # Every function knows withdrawals are paid on chain, and the limits.
        assert env["XENBLOCKS_WITHDRAWAL_KMS_KEY_ID"] == ALIAS, function_id
        assert env["XENBLOCKS_WITHDRAWAL_AUTO_MAX"] == "50000000"
        if function_id != _payouts(assembly):
            assert not {
                "XENBLOCKS_HOT_WALLET_MIN_BALANCE",
                "XENBLOCKS_HOT_WALLET_MIN_GAS_WEI",
            } & set(env)
    api = assembly.env(assembly.function_by_handler(API_HANDLER))
    assert all(name in api for name in EVERYONE)
    assert not any(name in api for name in JOB_ONLY)


def test_only_the_payouts_job_may_sign_and_only_with_that_key(assembly: Assembly) -> None:
    payouts = _payouts(assembly)
    key_arn = f"<{_the_key(assembly)}.Arn>"
    for function_id in assembly.functions():
        kms = {a: r for a, r in assembly.grants(function_id).items() if a.startswith("kms:")}
        if function_id == payouts:
            assert kms == {"kms:Sign": {key_arn}, "kms:GetPublicKey": {key_arn}}
        else:
            assert kms == {}, function_id
    # No role of the stack (CDK's helpers included) may use KMS but the payouts job's.
    for role_id in assembly.of_type("AWS::IAM::Role"):
        if role_id == assembly.role_of(payouts):
            continue
        for statement in assembly.role_statements(role_id):
            assert not any(a.startswith("kms:") for a in statement.actions), role_id


def test_the_payouts_job_writes_accounts_and_ledger_only(assembly: Assembly) -> None:
    tables = {
        f"<{k}.Arn>": r["Properties"]["TableName"].removeprefix(f"xenblocks-{STAGE}-")
        for k, r in assembly.of_type("AWS::DynamoDB::Table").items()
    }
    granted = {
        tables[resource]
        for resources in assembly.grants(_payouts(assembly)).values()
        for resource in resources
        if resource in tables
    }
    assert granted == {"accounts", "ledger"}


def test_alarms_on_the_hot_wallet_and_the_payouts(assembly: Assembly) -> None:
    assert tuple(a.metric for a in PAYOUTS_ALARMS) == ALARMED
    (topic,) = assembly.of_type("AWS::SNS::Topic")
    alarms = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in assembly.of_type("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "XenBlocks"
    }
    assert set(alarms) == set(ALARMED)
    for name, alarm in alarms.items():
        assert alarm["Dimensions"] == [{"Name": "service", "Value": "payouts"}], name
        assert alarm["Statistic"] == "Maximum"
        assert alarm["Period"] == 300
        assert alarm["EvaluationPeriods"] == 1
        assert alarm["Threshold"] == 1
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"] == [{"Ref": topic}]
        assert alarm["AlarmDescription"].startswith(f"xenblocks {STAGE}: payouts: ")


def test_the_dashboard_shows_the_payouts(assembly: Assembly) -> None:
    (dashboard,) = assembly.of_type("AWS::CloudWatch::Dashboard").values()
    body = str(dashboard["Properties"]["DashboardBody"])
    assert "On-chain withdrawals" in body
    assert "WithdrawalsSettled" in body


# --- stages with an existing key, or without withdrawals -----------------------------------


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Assembly]:
    """Two more stacks in one synthesis: withdrawals paid with an existing key, and
    deposits without withdrawals."""
    if shutil.which("node") is None:
        pytest.skip("the CDK needs Node.js (scripts/dev test installs it)")
    import aws_cdk as cdk

    from infra.app import stack_name
    from infra.stack import XenblocksStack

    work = tmp_path_factory.mktemp("withdrawals")
    dist = work / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html><title>stand-in</title>")
    out = work / "cdk.out"
    app = cdk.App(outdir=str(out))
    base = {
        "xenblocks:dependencies": "none",
        "xenblocks:adminAddresses": ADMIN,
        **{k: v for k, v in CONTEXT.items() if k.startswith("xenblocks:deposit")},
    }
    contexts = {
        "existing": {**base, "xenblocks:withdrawalKmsKey": KEY_ARN},
        "off": base,
    }
    for stage, context in contexts.items():
        config = DeployConfig.from_context({**context, "xenblocks:stage": stage}.get)
        XenblocksStack(app, stack_name(stage), config=config, dashboard_dir=Path(dist))
    app.synth()
    return {
        stage: Assembly.load(out, stack_name(stage), via_cli=False, output="") for stage in contexts
    }


def test_an_existing_key_is_granted_on_and_nothing_is_created(stages: dict[str, Assembly]) -> None:
    assembly = stages["existing"]
    assert assembly.of_type("AWS::KMS::Key") == {}
    assert assembly.of_type("AWS::KMS::Alias") == {}
    payouts = _payouts(assembly)
    for function_id in assembly.functions():
        kms = {a: r for a, r in assembly.grants(function_id).items() if a.startswith("kms:")}
        expected = {"kms:Sign": {KEY_ARN}, "kms:GetPublicKey": {KEY_ARN}}
        assert kms == (expected if function_id == payouts else {}), function_id
        assert assembly.env(function_id)["XENBLOCKS_WITHDRAWAL_KMS_KEY_ID"] == KEY_ARN
    assert assembly.template["Outputs"]["HotWalletKeyArn"]["Value"] == KEY_ARN
    assert sorted(_custom_alarms(assembly)) == sorted(ALARMED)


def test_without_withdrawals_there_is_no_key_no_job_no_alarm(stages: dict[str, Assembly]) -> None:
    assembly = stages["off"]
    assert assembly.functions_by_handler(PAYOUTS_HANDLER) == []
    assert assembly.of_type("AWS::KMS::Key") == {}
    assert assembly.of_type("AWS::KMS::Alias") == {}
    assert _custom_alarms(assembly) == []
    assert not {"HotWalletKeyArn", "HotWalletKeyId"} & set(assembly.template["Outputs"])
    for function_id in assembly.functions():
        assert not any(a.startswith("kms:") for a in assembly.grants(function_id))
        env = assembly.env(function_id)
        # (The deposit watcher still reads the chain: XENBLOCKS_DEPOSIT_RPC_URL.)
        assert not any(name in env for name in (*EVERYONE, *JOB_ONLY[1:])), function_id
    (dashboard,) = assembly.of_type("AWS::CloudWatch::Dashboard").values()
    assert "On-chain withdrawals" not in str(dashboard["Properties"]["DashboardBody"])


def _custom_alarms(assembly: Assembly) -> list[str]:
    return [
        a["Properties"]["MetricName"]
        for a in assembly.of_type("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "XenBlocks"
    ]
