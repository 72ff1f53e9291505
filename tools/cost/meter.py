"""DynamoDB's on-demand billing rules and a meter that applies them to every request of a
client: write units per started KiB of the larger item image plus index writes, read units
per started 4 KiB."""

from __future__ import annotations

import base64
import json
import math
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
_READS = frozenset({"GetItem", "BatchGetItem", "Query", "TransactGetItems"})


def attribute_size(value: Mapping[str, Any]) -> int:
    """Bytes DynamoDB counts for one attribute value (DynamoDB JSON)."""
    ((kind, data),) = value.items()
    if kind == "S":
        return len(str(data).encode())
    if kind == "N":
        digits = str(data).lstrip("-").replace(".", "").lstrip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(data) if isinstance(data, bytes) else len(base64.b64decode(data))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in data)
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + attribute_size(v) for k, v in data.items())
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: v}) for v in data)
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Mapping[str, Any] | None) -> int:
    """An item's size as DynamoDB bills it: names plus values (DynamoDB JSON)."""
    if not item:
        return 0
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


def index_write_units(
    spec: Any, index: Any, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> int:
    """Write units one item write costs on one global secondary index: a put when the item
    enters the (sparse) index, a delete when it leaves, both when its index key changes,
    a put when projected attributes change."""
    keys = [index.partition_key.name] + ([index.sort_key.name] if index.sort_key else [])
    projected = (*spec.key_names, *keys)
    everything = index.projection.value == "ALL"

    def size(item: dict[str, Any]) -> int:
        if everything:
            return item_size(item)
        return item_size({k: v for k, v in item.items() if k in projected})

    was_in = before is not None and all(k in before for k in keys)
    now_in = after is not None and all(k in after for k in keys)
    if after is not None and now_in and not was_in:
        return write_units(size(after))
    if was_in and not now_in:
        return 1
    if before is None or after is None or not (was_in and now_in):
        return 0
    if any(before.get(k) != after.get(k) for k in keys):
        return 1 + write_units(size(after))
    if size(before) != size(after) or (everything and before != after):
        return write_units(size(after))
    return 0


@dataclass
class Usage:
    """What one category of work (a route, a job...) did in the measured run."""

    invocations: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    write_units: float = 0.0
    read_units: float = 0.0
    dynamodb_calls: int = 0
    cpu_seconds: float = 0.0
    log_bytes: int = 0
    log_events: int = 0
    publishes: int = 0
    stream_records: int = 0
    records: int = 0  # messages handled (a batch invocation handles many)

    def per_invocation(self, value: float) -> float:
        return value / self.invocations if self.invocations else 0.0

    def per_record(self, value: float) -> float:
        return value / self.records if self.records else 0.0


def cpu_seconds() -> float:
    """This process's CPU time: what a handler costs, whatever else the machine is running
    (wall time on a loaded machine counts the wait for a core too)."""
    return time.process_time()


class DynamoMeter:
    """Counts and prices every DynamoDB request of a client (boto3 event hooks)."""

    def __init__(self, client: Any, shadow: Any, specs: Mapping[str, Any]) -> None:
        self._shadow = shadow  # an unhooked client on the same backend, to read images
        self._specs = specs  # physical table name → TableSpec
        self.usage = Usage()
        self._pending: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
        self._started = 0.0
        self.dynamodb_seconds = 0.0  # inside DynamoDB (moto): not the handler's CPU
        self.overhead_seconds = 0.0  # the meter's own work: not the handler's CPU either
        # The latest image of every item written while metered: what the tables hold.
        self.images: dict[tuple[str, str], dict[str, Any]] = {}
        client.meta.events.register("before-parameter-build.dynamodb", self._before)
        client.meta.events.register("before-call.dynamodb", self._start)
        client.meta.events.register("after-call.dynamodb", self._after)

    # -- hooks --

    def _before(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        entered = cpu_seconds()
        operation = model.name
        self._pending = []
        if operation in _WRITES:
            for table, key in self._write_keys(operation, params):
                self._pending.append((table, key, self._image(table, key)))
        self.overhead_seconds += cpu_seconds() - entered

    def _start(self, **_: Any) -> None:
        self._started = cpu_seconds()

    def _after(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        entered = cpu_seconds()
        self.dynamodb_seconds += entered - self._started
        try:
            self._account(model, parsed)
        finally:
            self.overhead_seconds += cpu_seconds() - entered

    def _account(self, model: Any, parsed: dict[str, Any]) -> None:
        operation = model.name
        usage = self.usage
        usage.requests[operation] += 1
        usage.dynamodb_calls += 1
        failed = "Error" in parsed
        if operation in _WRITES:
            factor = 2 if operation == "TransactWriteItems" else 1
            for table, key, before in self._pending:
                after = None if failed else self._image(table, key)
                usage.write_units += factor * self._write_cost(table, before, after, failed)
                identity = (table, json.dumps(key, sort_keys=True))
                if after is not None:
                    self.images[identity] = after
                elif not failed:
                    self.images.pop(identity, None)
                if not failed and before != after and self._specs[table].stream is not None:
                    usage.stream_records += 1
        elif operation in _READS and not failed:
            usage.read_units += self._read_cost(operation, parsed)
        self._pending = []

    # -- helpers --

    def _write_keys(self, operation: str, params: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            table = params["TableName"]
            yield table, self._key(table, params.get("Key") or params["Item"])
        elif operation == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    body = request.get("PutRequest", {}).get("Item") or request.get(
                        "DeleteRequest", {}
                    ).get("Key")
                    yield table, self._key(table, body)
        else:  # TransactWriteItems
            for item in params["TransactItems"]:
                ((kind, body),) = item.items()
                if kind == "ConditionCheck":
                    continue
                table = body["TableName"]
                yield table, self._key(table, body.get("Key") or body["Item"])

    def spec(self, table: str) -> Any:
        return self._specs[table]

    def _key(self, table: str, item: Mapping[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self._specs[table].key_names}

    def _image(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        found = self._shadow.get_item(TableName=table, Key=key, ConsistentRead=True)
        item: dict[str, Any] | None = found.get("Item")
        return item

    def _write_cost(
        self,
        table: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        failed: bool,
    ) -> float:
        units = write_units(max(item_size(before), item_size(after)))
        if failed:
            return units
        spec = self._specs[table]
        return units + sum(index_write_units(spec, index, before, after) for index in spec.indexes)

    def _read_cost(self, operation: str, parsed: dict[str, Any]) -> float:
        if operation == "GetItem":
            return read_units(item_size(parsed.get("Item")), consistent=True)
        if operation == "Query":
            total = sum(item_size(item) for item in parsed.get("Items", []))
            return read_units(total, consistent=False)
        if operation == "BatchGetItem":
            return sum(
                read_units(item_size(item), consistent=False)
                for items in parsed.get("Responses", {}).values()
                for item in items
            )
        return sum(
            read_units(item_size(entry.get("Item")), consistent=True)
            for entry in parsed.get("Responses", [])
        )
