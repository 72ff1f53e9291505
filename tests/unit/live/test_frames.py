"""Coalescing, frames, client requests and the API Gateway broadcaster."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from functions.errors import InvalidInput
from functions.logic.live import Action, coalesce, frame, parse_request
from functions.models.live import LiveMessage, MessageType
from functions.ports.broadcast import ApiGatewayBroadcaster, BroadcastError


def msg(kind: MessageType, ts: float, **data: object) -> LiveMessage:
    return LiveMessage(type=kind, data=data, ts=ts)


def test_coalesce_keeps_the_latest_of_each_thing_in_order_of_change() -> None:
    messages = [
        msg(MessageType.WORKER, 1, worker_id="a", hashrate=1),
        msg(MessageType.WORKER, 2, worker_id="b", hashrate=2),
        msg(MessageType.BLOCK, 3, hash="h1"),
        msg(MessageType.WORKER, 4, worker_id="a", hashrate=3),
        msg(MessageType.FLEET, 5, hashrate=10),
        msg(MessageType.FLEET, 6, hashrate=11),
        msg(MessageType.BLOCK, 7, hash="h2"),
    ]
    merged = coalesce(messages)
    assert [(m.type.value, m.ts) for m in merged] == [
        ("worker", 2),
        ("block", 3),
        ("worker", 4),
        ("fleet", 6),
        ("block", 7),
    ]


def test_messages_without_an_identity_are_all_kept() -> None:
    odd = [msg(MessageType.WORKER, 1, name="x"), msg(MessageType.WORKER, 2, name="y")]
    assert coalesce(odd) == odd


def test_a_frame_is_the_message_or_a_batch() -> None:
    one = msg(MessageType.LEASE, 1, lease_id="l")
    assert json.loads(frame([one], now=9)) == {"type": "lease", "data": {"lease_id": "l"}, "ts": 1}
    batch = json.loads(frame([one, msg(MessageType.BLOCK, 2, hash="h")], now=9))
    assert batch["type"] == "batch"
    assert batch["ts"] == 9
    assert [m["type"] for m in batch["data"]] == ["lease", "block"]
    with pytest.raises(ValueError, match="at least one"):
        frame([], now=1)
    with pytest.raises(ValueError, match="batches"):
        coalesce([LiveMessage(type=MessageType.BATCH, data=[], ts=1)])


@pytest.mark.parametrize(
    "text",
    ["", "null", "[]", '{"action": "drop"}', '{"action": "ping", "x": 1}', "{" * 5000, b"\xff"],
)
def test_requests_other_than_ours_are_refused_clearly(text: str | bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_request(text)


def test_requests_we_know() -> None:
    assert parse_request('{"action": "ping"}').action is Action.PING
    assert parse_request(b'{"action": "snapshot"}').action is Action.SNAPSHOT


def _stubbed() -> tuple[ApiGatewayBroadcaster, Stubber]:
    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url="https://abc.execute-api.us-east-1.amazonaws.com/live",
        region_name="us-east-1",
    )
    return ApiGatewayBroadcaster(client), Stubber(client)


def test_the_api_gateway_broadcaster_posts_and_tells_gone_from_failed() -> None:
    broadcaster, stub = _stubbed()
    stub.add_response("post_to_connection", {}, {"ConnectionId": "c1", "Data": b"{}"})
    stub.add_client_error(
        "post_to_connection", service_error_code="GoneException", http_status_code=410
    )
    stub.add_client_error(
        "post_to_connection", service_error_code="LimitExceededException", http_status_code=429
    )
    with stub:
        assert broadcaster.send("c1", "{}") is True
        assert broadcaster.send("c2", "{}") is False
        with pytest.raises(BroadcastError, match="c3"):
            broadcaster.send("c3", "{}")
