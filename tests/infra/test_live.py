"""The WebSocket API, its routes, and the stream-driven broadcaster."""

from __future__ import annotations

import pytest

from infra.device_plane import BATCH_HANDLER
from infra.live import HANDLERS, STAGE_NAME, STREAMED_TABLES
from tests.infra.assembly import Assembly, resolve
from tests.infra.conftest import STAGE

FLEET_JOB = "functions.handlers.jobs.fleet_stats_handler"


def _websocket_api(assembly: Assembly) -> str:
    (api,) = [
        k
        for k, r in assembly.of_type("AWS::ApiGatewayV2::Api").items()
        if r["Properties"].get("ProtocolType") == "WEBSOCKET"
    ]
    return api


def _management_endpoint(api: str) -> str:
    return f"https://<{api}>.execute-api.<AWS::Region>.<AWS::URLSuffix>/{STAGE_NAME}"


@pytest.mark.parametrize(
    ("route_key", "handler"),
    [("$connect", "connect"), ("$disconnect", "disconnect"), ("$default", "default")],
)
def test_route_reaches_its_handler(assembly: Assembly, route_key: str, handler: str) -> None:
    api = _websocket_api(assembly)
    (route,) = [
        r["Properties"]
        for r in assembly.of_type("AWS::ApiGatewayV2::Route").values()
        if r["Properties"]["RouteKey"] == route_key and r["Properties"]["ApiId"] == {"Ref": api}
    ]
    target = resolve(route["Target"])
    integration_id = target.removeprefix("integrations/<").removesuffix(">")
    integration = assembly.props(integration_id)
    assert integration["IntegrationType"] == "AWS_PROXY"
    uri = resolve(integration["IntegrationUri"])
    function_id = assembly.function_by_handler(HANDLERS[handler])
    assert f"<{function_id}.Arn>" in uri


def test_stage_is_throttled_and_logged(assembly: Assembly) -> None:
    api = _websocket_api(assembly)
    (stage,) = [
        r["Properties"]
        for r in assembly.of_type("AWS::ApiGatewayV2::Stage").values()
        if r["Properties"]["ApiId"] == {"Ref": api}
    ]
    assert stage["StageName"] == STAGE_NAME
    assert stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] > 0
    assert "DestinationArn" in stage["AccessLogSettings"]


def test_stream_consumer_reads_the_four_streams(assembly: Assembly) -> None:
    stream_fn = assembly.function_by_handler(HANDLERS["stream"])
    tables = {
        k: r["Properties"]["TableName"] for k, r in assembly.of_type("AWS::DynamoDB::Table").items()
    }
    mappings = [
        r["Properties"]
        for r in assembly.of_type("AWS::Lambda::EventSourceMapping").values()
        if r["Properties"]["FunctionName"] == {"Ref": stream_fn}
    ]
    sources = sorted(tables[m["EventSourceArn"]["Fn::GetAtt"][0]] for m in mappings)
    assert sources == sorted(f"xenblocks-{STAGE}-{name}" for name in STREAMED_TABLES)
    for mapping in mappings:
        assert mapping["EventSourceArn"]["Fn::GetAtt"][1] == "StreamArn"
        assert mapping["StartingPosition"] == "LATEST"
        assert mapping["BatchSize"] == 100
        assert mapping["MaximumBatchingWindowInSeconds"] == 1
        assert mapping["MaximumRetryAttempts"] == 2
        assert mapping["BisectBatchOnFunctionError"] is True
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # Nothing else consumes a table's stream (the heartbeat batches read Kinesis).
    dynamodb_sources = [
        m
        for m in assembly.of_type("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"]["Fn::GetAtt"][1] == "StreamArn"
    ]
    assert len(dynamodb_sources) == len(STREAMED_TABLES)


def test_management_endpoint_and_connection_grants(assembly: Assembly) -> None:
    api = _websocket_api(assembly)
    endpoint = _management_endpoint(api)
    connections = (
        "arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:"
        f"<{api}>/{STAGE_NAME}/POST/@connections/*"
    )
    posters = {
        assembly.function_by_handler(HANDLERS["default"]),
        assembly.function_by_handler(HANDLERS["stream"]),
        assembly.function_by_handler(FLEET_JOB),
        assembly.function_by_handler(BATCH_HANDLER),  # heartbeats, live
    }
    with_endpoint = {*posters, assembly.function_by_handler(HANDLERS["connect"])}
    with_endpoint.add(assembly.function_by_handler(HANDLERS["disconnect"]))
    for function_id in assembly.functions():
        grants = assembly.grants(function_id)
        env = assembly.env(function_id)
        if function_id in posters:
            assert grants["execute-api:ManageConnections"] == {connections}
        else:
            assert "execute-api:ManageConnections" not in grants
        if function_id in with_endpoint:
            assert resolve(env["XENBLOCKS_LIVE_ENDPOINT_URL"]) == endpoint
        else:
            assert "XENBLOCKS_LIVE_ENDPOINT_URL" not in env


def test_fleet_job_reads_connections_and_only_forgets_closed_ones(assembly: Assembly) -> None:
    fleet = assembly.function_by_handler(FLEET_JOB)
    (connections,) = [
        k
        for k, r in assembly.of_type("AWS::DynamoDB::Table").items()
        if r["Properties"]["TableName"].endswith("-connections")
    ]
    grants = assembly.grants(fleet)
    on_connections = {a for a, res in grants.items() if f"<{connections}.Arn>" in res}
    assert on_connections == {
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:DeleteItem",
    }
