"""Python values ⇄ DynamoDB attribute values.

Numbers come back from DynamoDB as ``Decimal``; integral ones become ``int`` (money,
counters, timestamps), the rest ``float`` (hashrates, temperatures). Floats go in through
their shortest ``repr`` so 1250.75 is stored as exactly 1250.75.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    if isinstance(value, set):
        return {_from_dynamo(v) for v in value}
    return value


def serialize(value: Any) -> dict[str, Any]:
    """One attribute value, e.g. ``5`` → ``{"N": "5"}``."""
    return dict(_serializer.serialize(_to_dynamo(value)))


def to_item(data: Mapping[str, Any]) -> dict[str, Any]:
    """A whole item; ``None`` attributes are left out (DynamoDB has no useful null)."""
    return {k: serialize(v) for k, v in data.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _from_dynamo(_deserializer.deserialize(v)) for k, v in item.items()}


def values(**named: Any) -> dict[str, Any]:
    """Expression attribute values: ``values(a=1)`` → ``{":a": {"N": "1"}}``."""
    return {f":{k}": serialize(v) for k, v in named.items()}
