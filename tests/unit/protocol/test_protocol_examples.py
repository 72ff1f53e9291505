"""The v2 examples and schemas (``protocol/v2/``) are the compatibility contract with v2 peers."""

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel

from protocol.messages import (
    AssignTask,
    BlockFound,
    Control,
    Heartbeat,
    Register,
    RegisterAck,
    Release,
    Status,
    encode,
    parse_control,
    parse_task,
    parse_uplink,
)
from protocol.topics import Downlink, Uplink, parse_topic

# Our copy of XenblocksMiner's protocol v2 (protocol/v2/README.md says where it comes from).
V2_DIR = Path(__file__).resolve().parents[3] / "protocol" / "v2"

# example name -> (model, schema file, $def)
EXPECTED: dict[str, tuple[type[BaseModel], str, str]] = {
    "assign_task": (AssignTask, "platform_to_worker", "assign_task"),
    "block_found": (BlockFound, "worker_to_platform", "block_found"),
    "control_pause": (Control, "platform_to_worker", "control"),
    "control_resume": (Control, "platform_to_worker", "control"),
    "control_shutdown": (Control, "platform_to_worker", "control"),
    "heartbeat": (Heartbeat, "worker_to_platform", "heartbeat"),
    "register": (Register, "worker_to_platform", "register"),
    "register_ack_accepted": (RegisterAck, "platform_to_worker", "register_ack"),
    "register_ack_rejected": (RegisterAck, "platform_to_worker", "register_ack"),
    "release": (Release, "platform_to_worker", "release"),
    "status": (Status, "worker_to_platform", "status"),
    "status_offline": (Status, "worker_to_platform", "status"),
}
EXAMPLES = sorted(V2_DIR.glob("examples-*.json"))


def example_name(path: Path) -> str:
    return path.stem.removeprefix("examples-")


def load_example(path: Path) -> tuple[str, dict[str, Any]]:
    """The example's topic and its payload without the "_" documentation keys."""
    document = json.loads(path.read_text())
    payload = {key: value for key, value in document.items() if not key.startswith("_")}
    return document["_topic"], payload


def schema_validator(schema_file: str, definition: str) -> Draft202012Validator:
    document = json.loads((V2_DIR / f"{schema_file}.json").read_text())
    document.pop("oneOf")
    return Draft202012Validator({**document, "$ref": f"#/$defs/{definition}"})


def parse_on(topic_name: str, raw: bytes) -> BaseModel:
    suffix = parse_topic(topic_name).suffix
    if suffix is Downlink.TASK:
        return parse_task(raw)
    if suffix is Downlink.CONTROL:
        return parse_control(raw)
    assert isinstance(suffix, Uplink)
    return parse_uplink(suffix, raw)


def test_every_example_is_covered() -> None:
    assert {example_name(path) for path in EXAMPLES} == set(EXPECTED)
    assert {path.name for path in V2_DIR.glob("*_to_*.json")} == {
        f"{schema_file}.json" for _, schema_file, _ in EXPECTED.values()
    }


@pytest.mark.parametrize("path", EXAMPLES, ids=example_name)
def test_example_parses_with_the_right_model(path: Path) -> None:
    topic_name, payload = load_example(path)
    model, _, _ = EXPECTED[example_name(path)]

    message = parse_on(topic_name, json.dumps(payload).encode())

    assert type(message) is model


@pytest.mark.parametrize("path", EXAMPLES, ids=example_name)
def test_example_is_valid_under_the_shared_schema(path: Path) -> None:
    _, payload = load_example(path)
    _, schema_file, definition = EXPECTED[example_name(path)]

    schema_validator(schema_file, definition).validate(payload)


@pytest.mark.parametrize("path", EXAMPLES, ids=example_name)
def test_our_encoding_is_valid_under_the_shared_schema(path: Path) -> None:
    topic_name, payload = load_example(path)
    _, schema_file, definition = EXPECTED[example_name(path)]

    encoded = encode(parse_on(topic_name, json.dumps(payload).encode()))

    schema_validator(schema_file, definition).validate(json.loads(encoded))


@pytest.mark.parametrize("path", EXAMPLES, ids=example_name)
def test_encoding_round_trips(path: Path) -> None:
    topic_name, payload = load_example(path)
    message = parse_on(topic_name, json.dumps(payload).encode())

    assert parse_on(topic_name, encode(message)) == message
