"""The dashboard's API types (``frontend/src/api/types.gen.ts``) are the app's OpenAPI schemas.

The first test regenerates the file from the app as it is now and compares it with the
committed one; the rest pin how ``tools.api_types`` translates each kind of schema.
"""

from __future__ import annotations

from typing import Any

import pytest

from tools.api_types import COMMAND, HEADER, OUTPUT, SchemaError, openapi_document, render


def test_the_committed_dashboard_types_are_what_the_app_generates():
    generated = render(openapi_document())
    committed = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
    assert committed == generated, (
        f"{OUTPUT.relative_to(OUTPUT.parents[3])} is not what the API's OpenAPI document "
        f"generates: run `.venv/bin/{COMMAND}` and commit the file"
    )


def types_of(schemas: dict[str, Any]) -> str:
    """The generated module without its header, for a document of ``schemas``."""
    text = render({"components": {"schemas": schemas}})
    assert text.startswith(HEADER)
    return text[len(HEADER) :]


def test_an_object_is_a_type_literal_with_required_optional_and_defaulted_properties():
    schema = {
        "type": "object",
        "description": "A rig's listing",
        "properties": {
            "listing_id": {"type": "string"},
            "price": {"type": "integer", "minimum": 1, "description": "Micro-credits"},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "status": {"$ref": "#/components/schemas/Status", "default": "open"},
            "ok": {"type": "boolean", "readOnly": True},
            "odd-name": {"type": "number"},
        },
        "required": ["listing_id", "price", "ok"],
        "additionalProperties": False,
    }
    status = {"type": "string", "enum": ["open", "paused"]}
    assert types_of({"Listing": schema, "Status": status}) == (
        "\n/** A rig's listing */\n"
        "export type Listing = {\n"
        "  listing_id: string;\n"
        "  /** Micro-credits */\n"
        "  price: number;\n"
        "  note?: string | null;\n"
        "  status: Status;\n"  # a default: always in an answer
        "  readonly ok: boolean;\n"
        '  "odd-name"?: number;\n'
        "};\n"
        '\nexport type Status = "open" | "paused";\n'
    )


def test_maps_arrays_nested_objects_and_unions():
    schema = {
        "type": "object",
        "properties": {
            "ids": {"type": "object", "additionalProperties": {"type": "string"}},
            "anything": {"type": "object"},
            "tags": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
            "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]},
            "inner": {
                "type": "object",
                "properties": {"depth": {"type": ["integer", "null"]}},
                "required": ["depth"],
            },
            "kind": {"const": "block"},
            "both": {
                "allOf": [{"$ref": "#/components/schemas/A"}, {"$ref": "#/components/schemas/B"}]
            },
            "rows": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
        },
        "required": ["ids", "anything", "tags", "pair", "inner", "kind", "both", "rows"],
    }
    empty = {"type": "object", "properties": {}, "additionalProperties": False}
    assert types_of({"T": schema, "A": empty, "B": empty}) == (
        "\nexport type A = Record<string, never>;\n"
        "\nexport type B = Record<string, never>;\n"
        "\nexport type T = {\n"
        "  ids: {\n"
        "    [key: string]: string;\n"
        "  };\n"
        "  anything: {\n"
        "    [key: string]: unknown;\n"
        "  };\n"
        "  tags: (string | null)[];\n"
        "  pair: [number, string];\n"
        "  inner: {\n"
        "    depth: number | null;\n"
        "  };\n"
        '  kind: "block";\n'
        "  both: A & B;\n"
        "  rows: number[][];\n"
        "};\n"
    )


def test_properties_beside_an_index_signature_make_it_unknown():
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
        "additionalProperties": {"type": "string"},
    }
    assert types_of({"T": schema}) == (
        "\nexport type T = {\n  n: number;\n  [key: string]: unknown;\n};\n"
    )


def test_descriptions_become_safe_jsdoc():
    schema = {"type": "string", "description": "First line\n\nthen */ a closing mark  "}
    assert types_of({"T": schema}) == (
        "\n/**\n * First line\n *\n * then *\\/ a closing mark\n */\nexport type T = string;\n"
    )


def test_literals_are_json_and_names_become_identifiers():
    schemas = {
        "Model-Input": {"enum": ['say "hi"', 7, True, None]},
        "9lives": {"type": "integer"},
    }
    assert types_of(schemas) == (
        "\nexport type _9lives = number;\n"
        '\nexport type Model_Input = "say \\"hi\\"" | 7 | true | null;\n'
    )


def test_a_union_member_with_a_pipe_inside_a_string_is_not_split():
    schema = {"type": "array", "items": {"enum": ["a | b", "c"]}}
    assert types_of({"T": schema}) == '\nexport type T = ("a | b" | "c")[];\n'
    literal = {"type": "array", "items": {"const": "a | b"}}
    assert types_of({"T": literal}) == '\nexport type T = "a | b"[];\n'


@pytest.mark.parametrize(
    ("schemas", "message"),
    [
        (
            {"T": {"type": "object", "patternProperties": {}}},
            "T: cannot translate patternProperties",
        ),
        ({"T": {"not": {"type": "string"}}}, "T: cannot translate not"),
        ({"T": {"$ref": "#/components/schemas/Missing"}}, "T: a \\$ref to no component schema"),
        ({"T": {"type": "file"}}, "T: cannot translate type 'file'"),
        ({"T": {"enum": [{"a": 1}]}}, "T: cannot translate the literal"),
        ({"A-B": {"type": "string"}, "A_B": {"type": "string"}}, "clash as TypeScript names: A_B"),
        (
            {"T": {"type": "object", "properties": {"x": {"if": {}}}}},
            "T.x: cannot translate if",
        ),
    ],
)
def test_a_schema_it_cannot_translate_is_an_error_naming_it(schemas, message):
    with pytest.raises(SchemaError, match=message):
        render({"components": {"schemas": schemas}})
