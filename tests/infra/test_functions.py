"""The Lambdas: handlers, runtime, settings, and each one's least-privilege role."""

from __future__ import annotations

import pytest

from functions.dal.specs import ALL_TABLES
from functions.settings import Settings
from infra import access
from infra.device_plane import BATCH_HANDLER, INGEST_HANDLER
from infra.functions import NETWORK_URL_ENV, RUNTIME
from infra.live import HANDLERS as LIVE_HANDLERS
from infra.packaging import PYTHON_VERSION
from infra.schedules import DEPOSITS_HANDLER, JOBS, PAYOUTS_HANDLER
from tests.infra.assembly import Assembly
from tests.infra.conftest import ADMIN, STAGE

API_HANDLER = "functions.handlers.api.handler"
ALERTS_HANDLER = "functions.handlers.alerts.handler"
# Every function and the access-map key of its grants.
ACCESS_KEYS = {
    API_HANDLER: "api",
    BATCH_HANDLER: "ingest_batch",
    **{job.handler: job.key for job in JOBS},
    **{handler: f"live_{key}" for key, handler in LIVE_HANDLERS.items()},
    DEPOSITS_HANDLER: "deposits",
    PAYOUTS_HANDLER: "payouts",
}


def test_the_expected_handlers(assembly: Assembly) -> None:
    handlers = sorted(r["Properties"]["Handler"] for r in assembly.functions().values())
    assert handlers == sorted(
        [
            API_HANDLER,
            INGEST_HANDLER,
            INGEST_HANDLER,
            BATCH_HANDLER,
            "functions.handlers.jobs.settle_handler",
            "functions.handlers.jobs.pricing_handler",
            "functions.handlers.jobs.reputation_handler",
            "functions.handlers.jobs.fleet_stats_handler",
            "functions.handlers.jobs.network_handler",
            "functions.handlers.jobs.insights_handler",
            "functions.handlers.alerts.handler",
            DEPOSITS_HANDLER,
            PAYOUTS_HANDLER,
            "functions.handlers.live.connect_handler",
            "functions.handlers.live.disconnect_handler",
            "functions.handlers.live.default_handler",
            "functions.handlers.live.stream_handler",
        ]
    )


def test_runtime_layer_and_logging(assembly: Assembly) -> None:
    layers = assembly.of_type("AWS::Lambda::LayerVersion")
    ours = [
        k
        for k, r in layers.items()
        if RUNTIME.name in r["Properties"].get("CompatibleRuntimes", [])
    ]
    assert len(ours) == 1
    for function_id, function in assembly.functions().items():
        props = function["Properties"]
        assert props["Runtime"] == RUNTIME.name == f"python{PYTHON_VERSION}"
        assert props["Architectures"] == ["arm64"]
        assert {"Ref": ours[0]} in props["Layers"]
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        log_group = props["LoggingConfig"]["LogGroup"]["Ref"]
        assert assembly.props(log_group)["RetentionInDays"] == 30, function_id


def test_every_function_logs_into_a_group_with_retention(assembly: Assembly) -> None:
    # CDK's helper functions (custom resource providers) included: none logs into a
    # /aws/lambda group that Lambda would create and keep forever.
    functions = assembly.of_type("AWS::Lambda::Function")
    assert len(functions) > len(assembly.functions())  # the helpers are there
    for function_id, function in functions.items():
        log_group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert assembly.props(log_group)["RetentionInDays"] == 30, function_id
    for log_group_id in assembly.of_type("AWS::Logs::LogGroup"):
        assert assembly.props(log_group_id)["RetentionInDays"] == 30, log_group_id


def test_each_function_has_its_own_role(assembly: Assembly) -> None:
    roles = [assembly.role_of(f) for f in assembly.functions()]
    assert len(roles) == len(set(roles))
    for role in roles:
        assert "ManagedPolicyArns" not in assembly.props(role)


def test_environment_is_settings_fields_and_powertools(assembly: Assembly) -> None:
    for function_id in assembly.functions():
        env = assembly.env(function_id)
        for name in env:
            if name == NETWORK_URL_ENV:  # Settings.network_url, from xenblocksNodeUrl
                assert env[name] == "http://xenblocks.io"
                assert Settings(network_url=env[name]).network_url == env[name]
            elif name.startswith("XENBLOCKS_"):
                field = name.removeprefix("XENBLOCKS_").lower().split("__")[0]
                assert field in Settings.model_fields, name
            else:
                assert name.startswith("POWERTOOLS_"), name
        assert env["XENBLOCKS_STAGE"] == STAGE
        assert env["XENBLOCKS_TABLE_PREFIX"] == f"xenblocks-{STAGE}"
        assert (
            env["XENBLOCKS_ADMIN_ADDRESSES"]
            == Settings(admin_addresses=(ADMIN,)).admin_addresses[0]
        )
        assert env["XENBLOCKS_CHAIN_ID"] == "8453"
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "XenBlocks"
        assert env["POWERTOOLS_SERVICE_NAME"]


def test_heartbeat_schedule_is_the_deployments(assembly: Assembly) -> None:
    # The fleet sweep (and the API, alerts) judge silence by the schedule ingest writes by.
    ingest = [
        *assembly.functions_by_handler(INGEST_HANDLER),
        assembly.function_by_handler(BATCH_HANDLER),
    ]
    readers = [
        assembly.function_by_handler("functions.handlers.jobs.fleet_stats_handler"),
        assembly.function_by_handler("functions.handlers.alerts.handler"),
        assembly.function_by_handler(API_HANDLER),
    ]
    keys = (
        "XENBLOCKS_HEARTBEAT_SECONDS",
        "XENBLOCKS_HEARTBEAT_WRITE_SECONDS",
        "XENBLOCKS_HEARTBEAT_HISTORY_SECONDS",
    )
    for function_id in [*ingest, *readers]:
        env = assembly.env(function_id)
        assert [env[k] for k in keys] == ["30", "600", "1800"]


def test_alerts_job_may_run_a_minute(assembly: Assembly) -> None:
    alerts = assembly.function_by_handler("functions.handlers.alerts.handler")
    assert assembly.props(alerts)["Timeout"] >= 60


def test_only_the_alerts_job_sends_email_and_only_from_its_sender(assembly: Assembly) -> None:
    alerts = assembly.function_by_handler(ALERTS_HANDLER)
    identity = "arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity"
    for function_id in assembly.functions():
        granted = assembly.grants(function_id).get("ses:SendEmail")
        if function_id != alerts:
            assert granted is None
            continue
        assert granted == {f"{identity}/alerts@example.com", f"{identity}/example.com"}
    statements = assembly.role_statements(assembly.role_of(alerts))
    (statement,) = [s for s in statements if "ses:SendEmail" in s.actions]
    assert statement.raw["Condition"] == {"StringEquals": {"ses:FromAddress": "alerts@example.com"}}
    # The API accepts e-mail channels because the stage has a sender.
    api = assembly.function_by_handler(API_HANDLER)
    assert assembly.env(api)["XENBLOCKS_ALERT_EMAIL_SENDER"] == "alerts@example.com"


@pytest.mark.parametrize("job", JOBS, ids=lambda j: j.key)
def test_job_runs_on_its_schedule(assembly: Assembly, job: object) -> None:
    from infra.sizing import Job

    assert isinstance(job, Job)
    function_id = assembly.function_by_handler(job.handler)
    rules = [
        r["Properties"]
        for r in assembly.of_type("AWS::Events::Rule").values()
        if any(t["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]} for t in r["Properties"]["Targets"])
    ]
    assert len(rules) == 1
    if job.every_minutes % 60 == 0:
        count, unit = job.every_minutes // 60, "hour"
    else:
        count, unit = job.every_minutes, "minute"
    plural = "" if count == 1 else "s"
    assert rules[0]["ScheduleExpression"] == f"rate({count} {unit}{plural})"
    assert rules[0]["State"] == "ENABLED"


# --- least privilege ---------------------------------------------------------------------


def _table_ids(assembly: Assembly) -> dict[str, str]:
    prefix = f"xenblocks-{STAGE}-"
    return {
        r["Properties"]["TableName"].removeprefix(prefix): k
        for k, r in assembly.of_type("AWS::DynamoDB::Table").items()
    }


def _functions_with_keys(assembly: Assembly) -> list[tuple[str, str]]:
    pairs = []
    for function_id, function in assembly.functions().items():
        handler = function["Properties"]["Handler"]
        key = "ingest" if handler == INGEST_HANDLER else ACCESS_KEYS[handler]
        pairs.append((function_id, key))
    return pairs


def test_no_wildcard_actions_and_no_scans(assembly: Assembly) -> None:
    for role_id in assembly.of_type("AWS::IAM::Role"):
        for statement in assembly.role_statements(role_id):
            for action in statement.actions:
                assert action != "*"
                assert not action.endswith(":*"), (role_id, action)
                assert action != "dynamodb:Scan", role_id


def test_table_grants_are_the_access_map(assembly: Assembly) -> None:
    tables = _table_ids(assembly)
    for function_id, key in _functions_with_keys(assembly):
        grants = assembly.grants(function_id)
        expected = access.TABLE_ACCESS[key]
        for name in tables:
            arn = f"<{tables[name]}.Arn>"
            allowed = {a for a, resources in grants.items() if arn in resources}
            level = expected.get(name)
            wanted = set(access.ACTIONS[level]) if level else set()
            assert allowed == wanted, (key, name)
            if level:
                # The same actions on the table's indexes, and nothing else of it.
                on_indexes = {a for a, res in grants.items() if f"{arn}/index/*" in res}
                assert on_indexes == allowed, (key, name)


def test_stream_reads_only_for_the_broadcaster(assembly: Assembly) -> None:
    stream_fn = assembly.function_by_handler(LIVE_HANDLERS["stream"])
    for function_id in assembly.functions():
        grants = assembly.grants(function_id)
        has_stream = any(a.startswith("dynamodb:GetRecords") for a in grants)
        assert has_stream == (function_id == stream_fn)


def test_secret_only_where_tokens_are_verified(assembly: Assembly) -> None:
    (secret,) = assembly.of_type("AWS::SecretsManager::Secret")
    readers = {
        assembly.props(f)["Handler"]
        for f in assembly.functions()
        if "secretsmanager:GetSecretValue" in assembly.grants(f)
    }
    # The alerts job opens sealed channel secrets, keyed from the same secret.
    assert readers == {API_HANDLER, LIVE_HANDLERS["connect"], ALERTS_HANDLER}
    for function_id in assembly.functions():
        grants = assembly.grants(function_id)
        if "secretsmanager:GetSecretValue" in grants:
            assert grants["secretsmanager:GetSecretValue"] == {f"<{secret}>"}
            assert assembly.env(function_id)["XENBLOCKS_JWT_SECRET_ARN"] == {"Ref": secret}
        else:
            assert "XENBLOCKS_JWT_SECRET_ARN" not in assembly.env(function_id)


def test_iot_publish_only_to_downlink_topics(assembly: Assembly) -> None:
    base = "arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:topic/xenminer/*/"
    for function_id, key in _functions_with_keys(assembly):
        granted = assembly.grants(function_id).get("iot:Publish", set())
        expected = {base + suffix.value for suffix in access.PUBLISHES.get(key, ())}
        assert granted == expected, key


def test_certificate_management_only_for_the_api(assembly: Assembly) -> None:
    api = assembly.function_by_handler(API_HANDLER)
    for function_id in assembly.functions():
        iot = {
            a for a in assembly.grants(function_id) if a.startswith("iot:") and a != "iot:Publish"
        }
        if function_id == api:
            assert "iot:CreateCertificateFromCsr" in iot
            assert "iot:AttachPolicy" in iot
            assert not {"iot:CreatePolicy", "iot:DeletePolicy", "iot:CreateTopicRule"} & iot
        else:
            assert iot == set(), function_id


def test_the_api_may_close_a_revoked_rigs_connection(assembly: Assembly) -> None:
    # IotCertificateAuthority.disconnect: DeleteConnection on the rig's client id.
    grants = assembly.grants(assembly.function_by_handler(API_HANDLER))
    clients = "arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:client/*"
    assert grants["iot:DeleteConnection"] == {clients}


def test_logs_only_to_own_log_group(assembly: Assembly) -> None:
    for function_id in assembly.functions():
        log_group = assembly.props(function_id)["LoggingConfig"]["LogGroup"]["Ref"]
        grants = assembly.grants(function_id)
        assert "logs:CreateLogGroup" not in grants
        assert grants["logs:PutLogEvents"] == {f"<{log_group}.Arn>"}


def test_every_spec_is_used_by_some_function() -> None:
    used = {name for grants in access.TABLE_ACCESS.values() for name in grants}
    assert used == {spec.name for spec in ALL_TABLES}
