import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.errors import ProtocolError
from protocol.messages import (
    MAX_PAYLOAD_BYTES,
    GpuInfo,
    GpuTelemetry,
    Heartbeat,
    Register,
    RegisterAck,
    Status,
    WorkerState,
    decode_json,
    encode,
    last_will,
    parse_control,
    parse_task,
    parse_uplink,
)
from protocol.topics import Uplink, parse_topic

INT64_MAX = 2**63 - 1


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 1}',
        '{"a": 1}',
        {"a": 1},
    ],
)
def test_decode_json_accepts_bytes_text_and_mappings(raw: bytes | str | dict[str, Any]) -> None:
    assert decode_json(raw) == {"a": 1}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[1, 2]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b'{"a": 1}{"b": 2}', "not valid JSON"),
        (b"\xef\xbb\xbf{}", "not valid JSON"),  # a byte-order mark
        (b"[" * 10_000, "nests deeper than"),  # refused before the parser recurses
        (b'{"a": \xff}', "not valid UTF-8"),
        ('{"a": "\ud800"}', "not valid UTF-8"),
        (b'{"a": 1, "a": 2}', "repeats a key"),
        (b'{"o": {"b": 1, "b": 1}}', "repeats a key"),
        (b'{"a": NaN}', "NaN is not a number"),
        (b'{"a": [Infinity]}', "Infinity is not a number"),
        (b'{"a": 1e400}', "out of range"),
        (b'{"a": "' + b"x" * MAX_PAYLOAD_BYTES + b'"}', f"over {MAX_PAYLOAD_BYTES} bytes"),
    ],
)
def test_decode_json_refuses_bad_payloads(raw: bytes | str, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason) as caught:
        decode_json(raw)

    assert caught.value.field is None


def test_size_limit_counts_utf8_bytes_of_text() -> None:
    text = '{"a": "' + "é" * (MAX_PAYLOAD_BYTES // 2) + '"}'

    with pytest.raises(ProtocolError, match="bytes"):
        decode_json(text)


def test_encode_is_compact_and_leaves_out_unset_fields() -> None:
    ack = RegisterAck(accepted=True)

    assert encode(ack) == b'{"command":"register_ack","accepted":true}'


def test_encode_round_trips_extensions() -> None:
    heartbeat = Heartbeat(
        worker_id="rig-1",
        hashrate=12.5,
        active_gpus=1,
        accepted_blocks=3,
        difficulty=1727,
        uptime_sec=10,
        timestamp=1700000000,
        gpus=[GpuTelemetry(index=0, hashrate=12.5, temperature_c=55.0)],
    )

    assert json.loads(encode(heartbeat))["gpus"] == [
        {"index": 0, "hashrate": 12.5, "temperature_c": 55.0}
    ]
    assert parse_uplink(Uplink.HEARTBEAT, encode(heartbeat)) == heartbeat


def test_last_will_is_an_offline_status_on_the_status_topic() -> None:
    topic_name, payload = last_will("rig-1", 1700000000)

    assert parse_topic(topic_name).suffix is Uplink.STATUS
    assert parse_uplink(Uplink.STATUS, payload) == Status(
        worker_id="rig-1", state=WorkerState.OFFLINE, timestamp=1700000000
    )
    assert json.loads(payload) == {
        "worker_id": "rig-1",
        "state": "offline",
        "timestamp": 1700000000,
    }


def test_last_will_refuses_a_bad_worker_id() -> None:
    with pytest.raises(ProtocolError):
        last_will("rig/1", 0)


def test_largest_valid_messages_fit_the_size_limit() -> None:
    # A payload the models accept must never be refused for its size.
    gpu = GpuInfo(index=INT64_MAX, name="n" * 128, memory_gb=INT64_MAX, bus_id=INT64_MAX)
    register = Register(
        worker_id="w" * 128,
        eth_address="0x" + "f" * 40,
        gpu_count=INT64_MAX,
        total_memory_gb=INT64_MAX,
        gpus=[gpu] * 64,
        version="v" * 128,
        timestamp=INT64_MAX,
    )
    telemetry = GpuTelemetry(
        index=INT64_MAX,
        hashrate=-1.2345678901234567e-300 * -1,
        temperature_c=-1.2345678901234567e300,
        fan_pct=99.12345678901234,
        power_w=1.2345678901234567e300,
    )
    heartbeat = Heartbeat(
        worker_id="w" * 128,
        hashrate=1.2345678901234567e300,
        active_gpus=INT64_MAX,
        accepted_blocks=INT64_MAX,
        difficulty=INT64_MAX,
        uptime_sec=INT64_MAX,
        timestamp=INT64_MAX,
        gpus=[telemetry] * 64,
    )

    for message, suffix in ((register, Uplink.REGISTER), (heartbeat, Uplink.HEARTBEAT)):
        assert len(encode(message)) <= MAX_PAYLOAD_BYTES
        assert parse_uplink(suffix, encode(message)) == message


KNOWN_KEYS = [
    "worker_id",
    "hashrate",
    "timestamp",
    "gpus",
    "state",
    "lease_id",
    "key",
    "hash",
    "account",
    "command",
    "accepted",
    "reason",
    "action",
    "config",
    "prefix",
    "index",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
payloads = st.dictionaries(st.sampled_from(KNOWN_KEYS), json_values, max_size=10)


def protocol_error_of(parse: Callable[[], object]) -> ProtocolError | None:
    """The ProtocolError ``parse`` raises, if any; any other exception fails the test."""
    try:
        parse()
    except ProtocolError as error:
        return error
    return None


@settings(deadline=None)
@given(payload=payloads, suffix=st.sampled_from(list(Uplink)))
def test_any_uplink_object_parses_or_raises_protocol_error(
    payload: dict[str, Any], suffix: Uplink
) -> None:
    error = protocol_error_of(lambda: parse_uplink(suffix, payload))

    assert error is None or str(error.field).startswith(f"{suffix.value}.")


@settings(deadline=None)
@given(payload=payloads)
def test_any_task_object_parses_or_raises_protocol_error(payload: dict[str, Any]) -> None:
    error = protocol_error_of(lambda: parse_task(payload))

    assert error is None or error.field is not None


@settings(deadline=None)
@given(payload=payloads)
def test_any_control_object_parses_or_raises_protocol_error(payload: dict[str, Any]) -> None:
    error = protocol_error_of(lambda: parse_control(payload))

    assert error is None or error.field is not None


@settings(deadline=None)
@given(raw=st.binary(max_size=64))
def test_any_bytes_decode_or_raise_protocol_error(raw: bytes) -> None:
    error = protocol_error_of(lambda: decode_json(raw))

    assert error is None or error.field is None
