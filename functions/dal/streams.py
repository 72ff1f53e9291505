"""DynamoDB stream records of the streamed tables, decoded into what they are about.

A record (``NEW_AND_OLD_IMAGES``, as Lambda or the local stream tap delivers it) names its
table in ``eventSourceARN``; its images are DynamoDB JSON. ``StreamDecoder.decode`` answers
the change as domain objects: the worker, lease or block before and after, or the alert
event an alerts-table item is (rules, counters and cooldowns share that table and are none).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from functions.dal import codec
from functions.dal.alerts import EVENT_PREFIX
from functions.dal.specs import ALERTS, BLOCKS, LEASES, WORKERS, TableSpec
from functions.dal.tables import Tables
from functions.models.alerts import AlertEvent
from functions.models.blocks import Block
from functions.models.market import Lease
from functions.models.workers import Worker

# The tables whose streams feed the dashboards (infra/live.py subscribes to the same).
STREAMED = (WORKERS, LEASES, BLOCKS, ALERTS)
StreamItem = Worker | Lease | Block | AlertEvent
_MODELS: Mapping[TableSpec, type[Worker] | type[Lease] | type[Block] | type[AlertEvent]] = {
    WORKERS: Worker,
    LEASES: Lease,
    BLOCKS: Block,
    ALERTS: AlertEvent,
}


class UnreadableRecord(ValueError):
    """A record of a streamed table whose images are not what the table holds."""

    def __init__(self, table: TableSpec, reason: str) -> None:
        super().__init__(f"{table.name}: {reason}")
        self.table = table


@dataclass(frozen=True)
class StreamChange:
    table: TableSpec
    event: str  # INSERT, MODIFY or REMOVE
    new: StreamItem | None  # None: removed, or an item no dashboard shows
    old: StreamItem | None  # None: inserted, or an item no dashboard shows
    ts: float | None  # when DynamoDB made the change (ApproximateCreationDateTime)


def table_name(record: Mapping[str, Any]) -> str:
    """The table a record comes from: arn:aws:dynamodb:<region>:<account>:table/<name>/…"""
    arn = str(record.get("eventSourceARN", ""))
    parts = arn.split(":", 5)
    resource = parts[5] if len(parts) == 6 else ""
    pieces = resource.split("/")
    return pieces[1] if len(pieces) >= 2 and pieces[0] == "table" else ""


class StreamDecoder:
    def __init__(self, tables: Tables, specs: Iterable[TableSpec] = STREAMED) -> None:
        self._specs = {tables.name(spec): spec for spec in specs}

    def decode(self, record: Mapping[str, Any]) -> StreamChange | None:
        """The change a record describes; None for a table not decoded here.

        Raises ``UnreadableRecord`` when an image is not an item of its table."""
        spec = self._specs.get(table_name(record))
        if spec is None:
            return None
        images = record.get("dynamodb", {})
        try:
            new = _item(spec, images.get("NewImage"))
            old = _item(spec, images.get("OldImage"))
        except (ValidationError, ValueError, TypeError, KeyError) as error:
            raise UnreadableRecord(spec, str(error)[:200]) from None
        when = images.get("ApproximateCreationDateTime")
        return StreamChange(
            table=spec,
            event=str(record.get("eventName", "")),
            new=new,
            old=old,
            ts=float(when) if when else None,
        )


def _item(spec: TableSpec, image: Mapping[str, Any] | None) -> StreamItem | None:
    if not image:
        return None
    item = codec.from_item(image)
    if spec is ALERTS and not str(item.get("sk", "")).startswith(EVENT_PREFIX):
        return None  # a rule, a counter or a cooldown
    return _MODELS[spec].model_validate(item)
