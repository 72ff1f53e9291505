"""Commands to a rig carry the correlation id of the request or run that sent them."""

from __future__ import annotations

import json

from functions.observability import correlated
from functions.ports.devices import DeviceCommands, RecordingPublisher
from protocol.downlink import Control, Release, SetConfig


def _sent(publisher: RecordingPublisher) -> list[tuple[str, dict[str, object]]]:
    return [(topic, json.loads(payload)) for topic, payload, _ in publisher.sent]


def test_a_command_sent_during_a_piece_of_work_carries_its_id():
    publisher = RecordingPublisher()
    commands = DeviceCommands(publisher)

    with correlated("req-1"):
        commands.task("rig-1", Release(lease_id="lease-1"))
        commands.control("rig-1", Control(action="set_config", config=SetConfig(difficulty=9)))

    assert _sent(publisher) == [
        (
            "xenminer/rig-1/task",
            {"command": "release", "lease_id": "lease-1", "correlation_id": "req-1"},
        ),
        (
            "xenminer/rig-1/control",
            {"action": "set_config", "config": {"difficulty": 9}, "correlation_id": "req-1"},
        ),
    ]


def test_outside_any_the_command_goes_as_v2_peers_know_it():
    publisher = RecordingPublisher()
    DeviceCommands(publisher).task("rig-1", Release(lease_id="lease-1"))
    assert _sent(publisher) == [
        ("xenminer/rig-1/task", {"command": "release", "lease_id": "lease-1"})
    ]


def test_a_command_s_own_id_is_kept():
    publisher = RecordingPublisher()
    with correlated("req-1"):
        DeviceCommands(publisher).control("rig-1", Control(action="pause", correlation_id="own-1"))
    assert _sent(publisher)[0][1]["correlation_id"] == "own-1"


def test_where_the_id_comes_from_can_be_passed_in():
    publisher = RecordingPublisher()
    DeviceCommands(publisher, correlation=lambda: "given-1").control(
        "rig-1", Control(action="pause")
    )
    assert _sent(publisher)[0][1] == {"action": "pause", "correlation_id": "given-1"}
