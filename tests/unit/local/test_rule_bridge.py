"""The rule bridge: the IoT rule's event shape, per-worker order, retries, dead letters."""

from __future__ import annotations

import base64
import json
import threading

from functions.local.rule_bridge import RuleBridge
from functions.routing import ROUTES


class FakeClient:
    def __init__(self) -> None:
        self.subscriptions: dict[str, object] = {}

    def subscribe(self, topic_filter, callback, qos=1) -> None:
        self.subscriptions[topic_filter] = callback

    def deliver(self, topic: str, payload: bytes, topic_filter: str | None = None) -> None:
        route = topic.split("/")[-1]
        self.subscriptions[topic_filter or f"xenminer/+/{route}"](topic, payload)


def _bridge(tmp_path, handler, **kwargs):
    client = FakeClient()
    bridge = RuleBridge(
        client,
        handler,
        dead_letter_path=tmp_path / "dead.jsonl",
        retry_delays=(0.0, 0.0),
        clock=lambda: 1700000000.5,
        **kwargs,
    )
    bridge.start()
    return client, bridge


def test_each_route_is_subscribed_and_events_look_like_the_iot_rules(tmp_path):
    events = []
    client, bridge = _bridge(tmp_path, lambda event, context: events.append(event))
    try:
        assert set(client.subscriptions) == {route.topic_filter for route in ROUTES}
        client.deliver("xenminer/rig-1/heartbeat", b'{"x": 1}')
        # A broker may hand over a topic no route takes (it is dropped, not crashed on).
        client.deliver("xenminer/rig-1/task", b"not an uplink", "xenminer/+/status")
        assert bridge.wait_idle(5)
    finally:
        bridge.stop()
    assert events == [
        {
            "route": "heartbeat",
            "worker_id": "rig-1",
            "payload": base64.b64encode(b'{"x": 1}').decode(),
            "received_at": 1700000000500,
        }
    ]


def test_one_workers_messages_are_handled_in_order(tmp_path):
    seen: list[int] = []
    lock = threading.Lock()

    def handler(event, context):
        with lock:
            seen.append(json.loads(base64.b64decode(event["payload"]))["n"])

    client, bridge = _bridge(tmp_path, handler, lanes=4)
    try:
        for n in range(200):
            client.deliver("xenminer/rig-7/status", json.dumps({"n": n}).encode())
        assert bridge.wait_idle(10)
    finally:
        bridge.stop()
    assert seen == list(range(200))


def test_a_failing_event_is_retried_then_dead_lettered_never_lost(tmp_path):
    calls = {"flaky": 0, "broken": 0}

    def handler(event, context):
        name = event["worker_id"]
        calls[name] += 1
        if name == "broken" or calls[name] < 2:
            raise RuntimeError("DynamoDB throttled us")

    client, bridge = _bridge(tmp_path, handler)
    try:
        client.deliver("xenminer/flaky/block", b"{}")
        client.deliver("xenminer/broken/block", b"{}")
        assert bridge.wait_idle(5)
    finally:
        bridge.stop()
    assert calls == {"flaky": 2, "broken": 3}
    [dead] = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert dead["worker_id"] == "broken"
    assert bridge.dead_letters == 1


def _records(event) -> list[dict]:
    return [json.loads(base64.b64decode(r["kinesis"]["data"])) for r in event["Records"]]


def test_batched_routes_reach_the_batch_handler_as_kinesis_events(tmp_path):
    single, batches = [], []

    def batch_handler(event, context):
        batches.append(_records(event))
        return {"batchItemFailures": []}

    client, bridge = _bridge(
        tmp_path,
        lambda event, context: single.append(event),
        batch_handler=batch_handler,
        batch_seconds=0.05,
    )
    try:
        for n in range(5):
            client.deliver(f"xenminer/rig-{n}/heartbeat", b'{"x": 1}')
        client.deliver("xenminer/rig-1/status", b"{}")
        assert bridge.wait_idle(5)
    finally:
        bridge.stop()
    assert [e["route"] for e in single] == ["status"]
    received = [record for batch in batches for record in batch]
    assert [r["worker_id"] for r in received] == [f"rig-{n}" for n in range(5)]
    assert {r["route"] for r in received} == {"heartbeat"}


def test_a_batch_is_retried_from_its_first_failed_record_then_dead_lettered(tmp_path):
    calls: list[list[str]] = []

    def batch_handler(event, context):
        workers = [r["worker_id"] for r in _records(event)]
        calls.append(workers)
        failed = [
            r["kinesis"]["sequenceNumber"]
            for r, w in zip(event["Records"], workers, strict=True)
            if w == "broken"
        ]
        return {"batchItemFailures": [{"itemIdentifier": s} for s in failed]}

    client, bridge = _bridge(
        tmp_path, lambda e, c: None, batch_handler=batch_handler, batch_seconds=0.2
    )
    try:
        for worker in ("ok-1", "broken", "ok-2"):
            client.deliver(f"xenminer/{worker}/heartbeat", b"{}")
        assert bridge.wait_idle(5)
    finally:
        bridge.stop()
    assert calls == [["ok-1", "broken", "ok-2"], ["broken", "ok-2"], ["broken", "ok-2"]]
    dead = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert [d["worker_id"] for d in dead] == ["broken", "ok-2"]
