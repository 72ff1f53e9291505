"""The tables are the dal specs: keys, indexes, TTL, streams; plus AWS's protections."""

from __future__ import annotations

from typing import Any

import pytest

from functions.dal.specs import ALL_TABLES, TableSpec
from functions.dal.tables import physical_table_name
from tests.infra.assembly import Assembly
from tests.infra.conftest import STAGE


def _table(assembly: Assembly, spec: TableSpec) -> dict[str, Any]:
    name = physical_table_name(f"xenblocks-{STAGE}", spec)
    found = [
        r
        for r in assembly.of_type("AWS::DynamoDB::Table").values()
        if r["Properties"]["TableName"] == name
    ]
    assert len(found) == 1, name
    return found[0]


def test_one_table_per_spec(assembly: Assembly) -> None:
    names = sorted(
        r["Properties"]["TableName"] for r in assembly.of_type("AWS::DynamoDB::Table").values()
    )
    assert names == sorted(physical_table_name(f"xenblocks-{STAGE}", s) for s in ALL_TABLES)


@pytest.mark.parametrize("spec", ALL_TABLES, ids=lambda s: s.name)
def test_table_matches_its_spec(assembly: Assembly, spec: TableSpec) -> None:
    table = _table(assembly, spec)
    props = table["Properties"]
    request = spec.create_table_request(props["TableName"])
    assert props["KeySchema"] == request["KeySchema"]
    assert sorted(props["AttributeDefinitions"], key=str) == sorted(
        request["AttributeDefinitions"], key=str
    )
    indexes = {
        index["IndexName"]: (index["KeySchema"], index["Projection"]["ProjectionType"])
        for index in props.get("GlobalSecondaryIndexes", [])
    }
    expected = {
        index["IndexName"]: (index["KeySchema"], index["Projection"]["ProjectionType"])
        for index in request.get("GlobalSecondaryIndexes", [])
    }
    assert indexes == expected
    if spec.ttl_attribute:
        assert props["TimeToLiveSpecification"] == {
            "AttributeName": spec.ttl_attribute,
            "Enabled": True,
        }
    else:
        assert "TimeToLiveSpecification" not in props
    if spec.stream:
        assert props["StreamSpecification"] == {"StreamViewType": str(spec.stream)}
    else:
        assert "StreamSpecification" not in props


@pytest.mark.parametrize("spec", ALL_TABLES, ids=lambda s: s.name)
def test_table_is_on_demand_recoverable_and_protected(assembly: Assembly, spec: TableSpec) -> None:
    table = _table(assembly, spec)
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    # cdk.json's default: protected, and kept when the stack is deleted.
    assert props["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"


def test_streams_are_where_live_updates_read(assembly: Assembly) -> None:
    streamed = {spec.name for spec in ALL_TABLES if spec.stream}
    assert streamed == {"workers", "leases", "blocks", "alerts"}
