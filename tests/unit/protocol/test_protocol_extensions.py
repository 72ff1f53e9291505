"""This platform's protocol extensions: each has a JSON schema and an example in
``protocol/``, and the schema, the example and the model agree."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from protocol.errors import ProtocolError
from protocol.messages import NetworkStatus, NetworkVerdict, parse_uplink
from protocol.topics import Uplink

PROTOCOL = Path(__file__).resolve().parents[3] / "protocol"
SCHEMA = json.loads((PROTOCOL / "schemas" / "verdict.schema.json").read_text())
EXAMPLE: dict[str, Any] = json.loads((PROTOCOL / "examples" / "verdict.json").read_text())


def test_the_verdict_example_is_valid_to_the_schema_and_the_model():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(EXAMPLE, SCHEMA)
    verdict = parse_uplink(Uplink.VERDICT, json.dumps(EXAMPLE).encode())
    assert isinstance(verdict, NetworkVerdict)
    assert verdict.status is NetworkStatus.REFUSED
    assert verdict.http_status == 401


def test_the_schema_lists_every_field_and_status_of_the_model():
    assert set(SCHEMA["properties"]) == set(NetworkVerdict.model_fields)
    assert SCHEMA["properties"]["status"]["enum"] == [s.value for s in NetworkStatus]
    required = {name for name, field in NetworkVerdict.model_fields.items() if field.is_required()}
    assert set(SCHEMA["required"]) == required


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"status": "maybe"}, "status"),
        ({"http_status": 99}, "http_status"),
        ({"http_status": "401"}, "http_status"),
        ({"hash": "not base64!"}, "hash"),
        ({"message": "x" * 513}, "message"),
        ({"difficulty": 7}, "difficulty"),
        ({"extra": 1}, "extra"),
    ],
)
def test_schema_and_model_refuse_the_same_bad_verdicts(change, field):
    bad = {**copy.deepcopy(EXAMPLE), **change}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)
    with pytest.raises(ProtocolError) as refused:
        parse_uplink(Uplink.VERDICT, json.dumps(bad).encode())
    assert refused.value.field == f"verdict.{field}"
