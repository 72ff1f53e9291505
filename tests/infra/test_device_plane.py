"""Topic rules from the routing table, the device policy scoped to the thing name."""

from __future__ import annotations

from typing import Any

import pytest

from functions.logic.enrolment import worker_id_prefix
from functions.ports.aws_iot import THING_NAME_VARIABLE, device_policy_document
from functions.routing import ROUTES, Route
from infra.device_plane import (
    BATCH_HANDLER,
    INGEST_HANDLER,
    VERIFY_ROUTES,
    policy_name,
    rule_sql,
)
from infra.schedules import PAYOUTS_HANDLER
from tests.infra.assembly import Assembly, as_list, resolve
from tests.infra.conftest import STAGE


def _rule(assembly: Assembly, route: Route) -> dict[str, Any]:
    found = [
        r["Properties"]
        for r in assembly.of_type("AWS::IoT::TopicRule").values()
        if r["Properties"]["RuleName"] == route.rule_name(STAGE)
    ]
    assert len(found) == 1, route.name
    return found[0]


def _dead_letter_queue(assembly: Assembly) -> str:
    (queue,) = assembly.of_type("AWS::SQS::Queue")
    return queue


def test_one_rule_per_route(assembly: Assembly) -> None:
    names = sorted(
        r["Properties"]["RuleName"] for r in assembly.of_type("AWS::IoT::TopicRule").values()
    )
    assert names == sorted(route.rule_name(STAGE) for route in ROUTES)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_rule_sql_is_the_routes(assembly: Assembly, route: Route) -> None:
    payload = _rule(assembly, route)["TopicRulePayload"]
    assert payload["Sql"] == rule_sql(route, STAGE)
    assert payload["Sql"].startswith(route.sql())
    # Only this stage's rigs (tests/infra/test_stages.py: two stages in one account).
    assert payload["Sql"].endswith(f" WHERE startswith(topic(2), '{worker_id_prefix(STAGE)}')")
    assert f"FROM '{route.topic_filter}'" in payload["Sql"]
    assert payload["AwsIotSqlVersion"] == "2016-03-23"
    assert payload["RuleDisabled"] is False


UNBATCHED = [route for route in ROUTES if not route.batched]
BATCHED = [route for route in ROUTES if route.batched]


@pytest.mark.parametrize("route", UNBATCHED, ids=lambda r: r.name)
def test_rule_invokes_ingest_and_dead_letters_errors(assembly: Assembly, route: Route) -> None:
    payload = _rule(assembly, route)["TopicRulePayload"]
    (action,) = payload["Actions"]
    function_id = action["Lambda"]["FunctionArn"]["Fn::GetAtt"][0]
    assert assembly.props(function_id)["Handler"] == INGEST_HANDLER
    memory = assembly.props(function_id)["MemorySize"]
    if route.name in VERIFY_ROUTES:
        assert memory >= 1024  # Argon2id at network difficulty
    else:
        assert memory <= 256  # register and status: cheapest GB-seconds
    error = payload["ErrorAction"]["Sqs"]
    assert error["QueueUrl"] == {"Ref": _dead_letter_queue(assembly)}
    # IoT may invoke the function for this rule only.
    permissions = [
        p["Properties"]
        for p in assembly.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "iot.amazonaws.com"
        and p["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
    ]
    rule_ids = [
        k
        for k, r in assembly.of_type("AWS::IoT::TopicRule").items()
        if r["Properties"]["RuleName"] == route.rule_name(STAGE)
    ]
    assert {"Fn::GetAtt": [rule_ids[0], "Arn"]} in [p["SourceArn"] for p in permissions]


def _stream(assembly: Assembly) -> str:
    (stream,) = assembly.of_type("AWS::Kinesis::Stream")
    return stream


@pytest.mark.parametrize("route", BATCHED, ids=lambda r: r.name)
def test_batched_rules_put_into_the_stream_by_worker(assembly: Assembly, route: Route) -> None:
    payload = _rule(assembly, route)["TopicRulePayload"]
    (action,) = payload["Actions"]
    kinesis = action["Kinesis"]
    stream = _stream(assembly)
    assert kinesis["StreamName"] == {"Ref": stream}
    # One partition per worker: a rig's heartbeats are read in the order it sent them.
    assert kinesis["PartitionKey"] == "${topic(2)}"
    assert payload["ErrorAction"]["Sqs"]["QueueUrl"] == {"Ref": _dead_letter_queue(assembly)}
    props = assembly.props(stream)
    assert props["StreamEncryption"] == {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}
    assert props["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert props["ShardCount"] == 1


def test_the_batch_function_reads_the_stream_with_partial_failures(assembly: Assembly) -> None:
    function_id = assembly.function_by_handler(BATCH_HANDLER)
    (mapping,) = [
        m["Properties"]
        for m in assembly.of_type("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [_stream(assembly), "Arn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == 10_000
    assert mapping["MaximumBatchingWindowInSeconds"] == 30
    assert mapping["StartingPosition"] == "LATEST"
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": [_dead_letter_queue(assembly), "Arn"]
    }
    env = assembly.env(function_id)
    assert "XENBLOCKS_LIVE_ENDPOINT_URL" in env  # it pushes heartbeats to dashboards


def test_heartbeats_use_basic_ingest(assembly: Assembly) -> None:
    heartbeat = next(route for route in ROUTES if route.name == "heartbeat")
    assert heartbeat.basic_ingest
    # What rigs publish to ($aws/rules/<rule name>/...) names a rule this stack creates.
    topic = heartbeat.ingest_topic(STAGE, "xenminer/rig-1/heartbeat")
    rule_name = topic.split("/")[2]
    assert _rule(assembly, heartbeat)["RuleName"] == rule_name


def test_rules_role_can_only_feed_the_stream_and_the_dead_letter_queue(
    assembly: Assembly,
) -> None:
    payload = _rule(assembly, ROUTES[0])["TopicRulePayload"]
    role_id = payload["ErrorAction"]["Sqs"]["RoleArn"]["Fn::GetAtt"][0]
    role = assembly.props(role_id)
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "iot.amazonaws.com"}
    statements = assembly.role_statements(role_id)
    assert {a for s in statements for a in s.actions} <= {
        "sqs:SendMessage",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "kinesis:PutRecord",
        "kinesis:PutRecords",
        "kinesis:ListShards",
        "kinesis:DescribeStream",
        "kinesis:DescribeStreamSummary",
    }
    queue, stream = _dead_letter_queue(assembly), _stream(assembly)
    assert {r for s in statements for r in s.resources} == {
        f"<{queue}.Arn>",
        f"<{stream}.Arn>",
    }


def test_failed_ingest_events_go_to_the_dead_letter_queue(assembly: Assembly) -> None:
    queue = _dead_letter_queue(assembly)
    configs = assembly.of_type("AWS::Lambda::EventInvokeConfig").values()
    targets = {c["Properties"]["FunctionName"]["Ref"]: c["Properties"] for c in configs}
    for function_id in assembly.functions_by_handler(INGEST_HANDLER):
        config = targets[function_id]
        assert config["DestinationConfig"]["OnFailure"]["Destination"] == {
            "Fn::GetAtt": [queue, "Arn"]
        }
        assert config["MaximumRetryAttempts"] == 2


def _device_policy(assembly: Assembly) -> dict[str, Any]:
    (policy,) = assembly.of_type("AWS::IoT::Policy").values()
    assert policy["Properties"]["PolicyName"] == policy_name(STAGE)
    document: dict[str, Any] = resolve(policy["Properties"]["PolicyDocument"])
    return document


def test_device_policy_is_the_ports_document(assembly: Assembly) -> None:
    expected = device_policy_document(
        partition="<AWS::Partition>",
        region="<AWS::Region>",
        account="<AWS::AccountId>",
        stage=STAGE,
    )
    assert _device_policy(assembly) == expected


def test_device_policy_is_scoped_to_the_thing_name(assembly: Assembly) -> None:
    statements = _device_policy(assembly)["Statement"]
    assert {s["Effect"] for s in statements} == {"Allow"}
    for statement in statements:
        for resource in as_list(statement["Resource"]):
            # Every resource names the connecting thing: no rig reaches another's topics.
            assert THING_NAME_VARIABLE in resource
    (connect,) = [s for s in statements if s["Action"] == "iot:Connect"]
    assert connect["Resource"].endswith(f":client/{THING_NAME_VARIABLE}")
    assert connect["Condition"] == {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}
    publish = next(s for s in statements if s["Action"] == "iot:Publish")
    assert any(r.endswith(f"topic/xenminer/{THING_NAME_VARIABLE}/*") for r in publish["Resource"])
    heartbeat = next(route for route in ROUTES if route.basic_ingest)
    basic_ingest = [r for r in publish["Resource"] if "topic/$aws/rules/" in r]
    # This stage's heartbeat rule, for heartbeats only: never $aws/rules/*.
    assert basic_ingest == [
        "arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:topic/$aws/rules/"
        f"{heartbeat.rule_name(STAGE)}/xenminer/{THING_NAME_VARIABLE}/heartbeat"
    ]


def test_functions_attach_this_policy_and_connect_rigs_to_the_ats_endpoint(
    assembly: Assembly,
) -> None:
    (lookup_id,) = assembly.of_type("Custom::AWS")
    create = str(assembly.props(lookup_id)["Create"])
    assert "describeEndpoint" in create
    assert "iot:Data-ATS" in create
    api = assembly.function_by_handler("functions.handlers.api.handler")
    env = assembly.env(api)
    assert env["XENBLOCKS_IOT_POLICY_NAME"] == policy_name(STAGE)
    assert resolve(env["XENBLOCKS_MQTT_HOST"]) == f"<{lookup_id}.endpointAddress>"


# --- storms ----------------------------------------------------------------------------


def test_the_iot_invoked_functions_have_reserved_concurrency(assembly: Assembly) -> None:
    # conftest's context keeps the defaults: 10 for register/status, 50 for block/share,
    # one per heartbeat shard for the stream's consumer; the API and the rest keep the
    # account's unreserved pool.
    reserved = {}
    for function_id in assembly.functions():
        props = assembly.props(function_id)
        memory = props["MemorySize"]
        key = props["Handler"] if props["Handler"] != INGEST_HANDLER else f"ingest-{memory}"
        reserved[key] = props.get("ReservedConcurrentExecutions")
    assert reserved.pop("ingest-256") == 10
    assert reserved.pop("ingest-1024") == 50
    assert reserved.pop(BATCH_HANDLER) == 1
    # The payouts job (withdrawals on chain, issue #24) runs one at a time.
    assert reserved.pop(PAYOUTS_HANDLER) == 1
    assert set(reserved.values()) == {None}


def test_iot_core_logs_rig_failures_at_warn(assembly: Assembly) -> None:
    (logging,) = assembly.of_type("AWS::IoT::Logging").values()
    props = logging["Properties"]
    assert props["DefaultLogLevel"] == "WARN"
    assert props["AccountId"] == {"Ref": "AWS::AccountId"}
    role_id = props["RoleArn"]["Fn::GetAtt"][0]
    (trust,) = assembly.props(role_id)["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "iot.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    group = "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:AWSIotLogsV2"
    resources = {r for s in assembly.role_statements(role_id) for r in s.resources}
    assert resources == {group, f"{group}:*"}
    # IoT Core's log group is kept logRetentionDays, not forever.
    (retention,) = assembly.of_type("Custom::LogRetention").values()
    assert retention["Properties"]["LogGroupName"] == "AWSIotLogsV2"
    assert retention["Properties"]["RetentionInDays"] == 30
