"""The table specs are self-consistent, and request paths never Scan."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from functions.dal import specs
from functions.dal.specs import ALL_TABLES, AttrType, TableSpec

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("table", ALL_TABLES, ids=lambda t: t.name)
def test_every_spec_builds_a_valid_create_request(table: TableSpec):
    request = table.create_table_request(f"x-{table.name}")
    defined = {d["AttributeName"] for d in request["AttributeDefinitions"]}
    used = {k["AttributeName"] for k in request["KeySchema"]}
    for index in request.get("GlobalSecondaryIndexes", []):
        used |= {k["AttributeName"] for k in index["KeySchema"]}
    # DynamoDB rejects definitions that no key uses, and keys that are not defined.
    assert defined == used
    assert len({i.name for i in table.indexes}) == len(table.indexes)


def test_table_names_are_unique_and_resolvable():
    names = [t.name for t in ALL_TABLES]
    assert len(names) == len(set(names))
    assert specs.spec("leases") is specs.LEASES
    with pytest.raises(KeyError):
        specs.spec("nope")


def test_an_attribute_keeps_one_type_across_indexes():
    bad = TableSpec(
        name="bad",
        partition_key=specs.KeyAttr("a"),
        indexes=(specs.IndexSpec("i", specs.KeyAttr("a", AttrType.NUMBER)),),
    )
    with pytest.raises(ValueError, match="two types"):
        bad.attribute_definitions()


def test_streams_feed_live_updates_and_ttl_cleans_ephemeral_tables():
    streamed = {t.name for t in ALL_TABLES if t.stream}
    assert {"workers", "leases", "blocks"} <= streamed
    with_ttl = {t.name: t.ttl_attribute for t in ALL_TABLES if t.ttl_attribute}
    assert {"telemetry", "connections", "nonces", "idempotency"} <= set(with_ttl)


def test_created_tables_match_the_specs(tables):
    for table in ALL_TABLES:
        described = tables.client.describe_table(TableName=tables.name(table))["Table"]
        keys = [k["AttributeName"] for k in described["KeySchema"]]
        assert keys == list(table.key_names)
        indexes = {i["IndexName"] for i in described.get("GlobalSecondaryIndexes", [])}
        assert indexes == {i.name for i in table.indexes}
        if table.ttl_attribute:
            ttl = tables.client.describe_time_to_live(TableName=tables.name(table))
            assert ttl["TimeToLiveDescription"]["AttributeName"] == table.ttl_attribute


def test_no_request_path_scans():
    """DESIGN.md: every frequent path is a Query or GetItem. Scans are for offline audits."""
    offenders = []
    for path in (ROOT / "functions").rglob("*.py"):
        text = path.read_text()
        if re.search(r"\.scan\(|[\"']Scan[\"']|\bScan\b\(", text):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
