"""The data construct: every DynamoDB table, built from ``functions.dal.specs``.

The specs are the single source of truth for keys, indexes, TTL attributes and streams; this
module only adds what is AWS's business: on-demand billing, point-in-time recovery, deletion
protection (``xenblocks:deletionProtection``), and the physical names the Lambdas derive from
``XENBLOCKS_TABLE_PREFIX`` (``functions.dal.tables.physical_table_name``).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from functions.dal.specs import (
    ALL_TABLES,
    AttrType,
    KeyAttr,
    Projection,
    StreamView,
    TableSpec,
)
from functions.dal.tables import physical_table_name

_ATTRIBUTE_TYPES = {
    AttrType.STRING: dynamodb.AttributeType.STRING,
    AttrType.NUMBER: dynamodb.AttributeType.NUMBER,
}
_PROJECTIONS = {
    Projection.ALL: dynamodb.ProjectionType.ALL,
    Projection.KEYS_ONLY: dynamodb.ProjectionType.KEYS_ONLY,
}
_STREAMS = {StreamView.NEW_AND_OLD_IMAGES: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES}


def _attribute(key: KeyAttr) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=key.name, type=_ATTRIBUTE_TYPES[key.type])


class DataTables(Construct):
    """``self.tables[spec.name]`` for every spec in ``ALL_TABLES``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table_prefix: str,
        deletion_protection: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.table_prefix = table_prefix
        self.tables: dict[str, dynamodb.Table] = {}
        self.specs: dict[str, TableSpec] = {}
        for spec in ALL_TABLES:
            self.tables[spec.name] = self._table(spec, deletion_protection)
            self.specs[spec.name] = spec

    def _table(self, spec: TableSpec, deletion_protection: bool) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            _construct_id(spec.name),
            table_name=physical_table_name(self.table_prefix, spec),
            partition_key=_attribute(spec.partition_key),
            sort_key=_attribute(spec.sort_key) if spec.sort_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=deletion_protection,
            # Protected tables also survive a stack deletion; unprotected (dev) ones go.
            removal_policy=RemovalPolicy.RETAIN if deletion_protection else RemovalPolicy.DESTROY,
            time_to_live_attribute=spec.ttl_attribute,
            stream=_STREAMS[spec.stream] if spec.stream else None,
        )
        for index in spec.indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=_attribute(index.partition_key),
                sort_key=_attribute(index.sort_key) if index.sort_key else None,
                projection_type=_PROJECTIONS[index.projection],
            )
        return table

    def streamed(self) -> dict[str, dynamodb.Table]:
        """The tables with a stream (what live updates consume)."""
        return {name: t for name, t in self.tables.items() if self.specs[name].stream}


def _construct_id(name: str) -> str:
    return "".join(part.title() for part in name.split("_")) + "Table"
