import pytest

from protocol.errors import ProtocolError
from protocol.topics import (
    Downlink,
    ParsedTopic,
    Uplink,
    parse_topic,
    subscription_filter,
    topic,
    validate_worker_id,
    worker_topic_prefix,
)


@pytest.mark.parametrize("suffix", [*Uplink, *Downlink])
def test_topic_round_trips(suffix: Uplink | Downlink) -> None:
    name = topic("rig-01:a_b", suffix)

    assert name == f"xenminer/rig-01:a_b/{suffix.value}"
    assert parse_topic(name) == ParsedTopic(worker_id="rig-01:a_b", suffix=suffix)


def test_parsed_suffix_keeps_its_direction() -> None:
    assert parse_topic("xenminer/rig/heartbeat").suffix is Uplink.HEARTBEAT
    assert parse_topic("xenminer/rig/task").suffix is Downlink.TASK


@pytest.mark.parametrize(
    "name",
    [
        "xenblocks/rig/heartbeat",  # wrong root
        "xenminer/rig/heartbeat/extra",  # four segments
        "xenminer/rig",  # two segments
        "xenminer//heartbeat",  # empty id
        "xenminer/+/heartbeat",  # wildcards
        "xenminer/#/heartbeat",
        "xenminer/rig/#",
        "xenminer/rig/telemetry",  # unknown suffix
        "xenminer/rig/HEARTBEAT",
        "xenminer/rig 1/heartbeat",
        "xenminer/" + "a" * 129 + "/heartbeat",
        "",
    ],
)
def test_bad_topic_is_refused(name: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_topic(name)

    assert caught.value.field == "topic"


@pytest.mark.parametrize("worker_id", ["", "a/b", "a+b", "a#", "a b", "a\n", "é", "a" * 129])
def test_bad_worker_id_is_refused(worker_id: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        validate_worker_id(worker_id)

    assert caught.value.field == "worker_id"


def test_topic_refuses_a_bad_worker_id() -> None:
    with pytest.raises(ProtocolError):
        topic("a/b", Uplink.BLOCK)


def test_longest_worker_id_is_accepted() -> None:
    assert validate_worker_id("a" * 128) == "a" * 128


def test_filters_and_prefixes() -> None:
    assert subscription_filter(Uplink.SHARE) == "xenminer/+/share"
    assert worker_topic_prefix("rig-1") == "xenminer/rig-1/"
    assert topic("rig-1", Downlink.CONTROL).startswith(worker_topic_prefix("rig-1"))
