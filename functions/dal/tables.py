"""Which physical tables a deployment uses, and how to create them outside AWS."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3

from functions.dal.pagination import CursorCodec
from functions.dal.specs import ALL_TABLES, TableSpec
from functions.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


def physical_table_name(prefix: str, spec: TableSpec) -> str:
    """The one naming rule, shared with the CDK app."""
    return f"{prefix}-{spec.name}"


class Tables:
    """A DynamoDB client, the deployment's table names and the codec that signs paging
    cursors; handed to every repository.

    The codec is keyed from ``settings.jwt_secret`` (so build the API's tables from settings
    that carry it: every instance then reads every other's cursors); settings without one
    get a per-process key, enough for cursors that never leave the process.
    """

    def __init__(
        self,
        settings: Settings,
        client: DynamoDBClient | None = None,
        cursors: CursorCodec | None = None,
    ) -> None:
        self.prefix = settings.resolved_table_prefix
        self.client: DynamoDBClient = client or boto3.client(
            "dynamodb",
            region_name=settings.aws_region,
            endpoint_url=settings.dynamodb_endpoint_url,
        )
        secret = settings.jwt_secret
        self.cursors = cursors or CursorCodec.from_secret(
            secret.get_secret_value() if secret is not None else None
        )

    def name(self, spec: TableSpec) -> str:
        return physical_table_name(self.prefix, spec)


def create_tables(tables: Tables, specs: tuple[TableSpec, ...] = ALL_TABLES) -> None:
    """Create the tables from their specs (tests and the local stack; CDK does it in AWS)."""
    existing = set(tables.client.list_tables()["TableNames"])
    for spec in specs:
        name = tables.name(spec)
        if name in existing:
            continue
        request: dict[str, Any] = spec.create_table_request(name)
        tables.client.create_table(**request)
        tables.client.get_waiter("table_exists").wait(TableName=name)
        if spec.ttl_attribute:
            tables.client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
            )
