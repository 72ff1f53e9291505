"""Arbitrary JSON and bytes at every ingest route: never a crash, never a write."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.dal.specs import ALL_TABLES
from functions.handlers.ingest import process
from functions.routing import ROUTES, IngestEvent
from tests.factories import NOW, enrolled_worker

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children),
    max_leaves=20,
)
# Objects shaped a little like messages, so validation gets past the first check sometimes.
message_like = st.fixed_dictionaries(
    {"worker_id": st.text(max_size=20), "timestamp": st.integers()},
    optional={
        "hashrate": json_values,
        "state": st.sampled_from(["IDLE", "MINING", "offline", "nope"]),
        "hash": st.text(max_size=90),
        "key": st.text(alphabet="0123456789abcdef", max_size=64),
        "account": st.text(max_size=42),
        "lease_id": st.text(max_size=20),
        "gpus": json_values,
    },
)
payloads = st.one_of(
    st.binary(max_size=2048),
    json_values.map(lambda v: json.dumps(v).encode()),
    message_like.map(lambda v: json.dumps(v).encode()),
)
events = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "route": st.sampled_from([r.name for r in ROUTES]) | st.text(max_size=10),
            "worker_id": st.text(max_size=20),
            "payload": st.text(max_size=40),
            "received_at": st.integers(),
        }
    ),
)


@pytest.fixture
def worker(tables):
    # Enrolled, so "unknown worker" is not the only refusal the fuzzer meets. (Function
    # fixtures are shared by all examples of one test, like ``tables``.)
    return enrolled_worker(tables)


def _item_counts(tables) -> dict[str, int]:
    client = tables.client
    return {spec.name: client.scan(TableName=tables.name(spec))["Count"] for spec in ALL_TABLES}


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(route=st.sampled_from(ROUTES), payload=payloads)
def test_arbitrary_payloads_on_every_route_write_nothing(tables, service, worker, route, payload):
    before = _item_counts(tables)
    raw = IngestEvent(route, worker.worker_id, payload, NOW * 1000).to_event()
    outcome = process(raw, service)
    assert not outcome.accepted
    assert _item_counts(tables) == before


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(event=events)
def test_arbitrary_events_write_nothing(tables, service, worker, event):
    before = _item_counts(tables)
    outcome = process(event, service)
    assert not outcome.accepted
    assert _item_counts(tables) == before
