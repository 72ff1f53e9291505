"""CursorCodec: signed cursors bound to a scope; query_page's checks of the start key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from pydantic import SecretStr

from functions.dal.pagination import CursorCodec, clamp_limit
from functions.dal.reads import query_page
from functions.dal.specs import WORKERS
from functions.dal.tables import Tables
from functions.dal.telemetry import TelemetryRepository
from functions.errors import InvalidInput
from functions.models.telemetry import TelemetryPoint
from functions.settings import Settings

KEY = {"worker_id": {"S": "w1"}, "owner": {"S": "0xA"}}
SCOPE = ("workers", "by_owner", "", "0xA")
NAMES = ("worker_id", "owner")


def codec(secret: str = "s" * 32) -> CursorCodec:
    return CursorCodec.from_secret(secret)


def test_round_trip_for_its_scope() -> None:
    cursor = codec().encode(KEY, SCOPE)
    assert cursor is not None
    assert cursor.count(".") == 1
    assert codec().decode_key(cursor, SCOPE, key_names=NAMES) == KEY
    position = codec().encode("000000000001#h", ("blocks", "recent"))
    assert codec().decode_position(position, ("blocks", "recent")) == "000000000001#h"
    assert codec().encode(None, SCOPE) is None
    assert codec().encode({}, SCOPE) is None
    assert codec().decode_key(None, SCOPE, key_names=NAMES) is None
    assert codec().decode_position("", SCOPE) is None


@pytest.mark.parametrize(
    "scope",
    [
        ("workers", "by_owner", "", "0xB"),  # another owner
        ("workers", "by_liveness", "", "0xA"),  # another index
        ("workers", "by_owner", "x", "0xA"),  # another listing
        ("leases", "by_owner", "", "0xA"),  # another table
        ("workers", "by_owner", "", "0xA", ""),  # not the same tuple
    ],
)
def test_another_scope_is_refused(scope: tuple[str, ...]) -> None:
    cursor = codec().encode(KEY, SCOPE)
    with pytest.raises(InvalidInput):
        codec().decode_key(cursor, scope, key_names=NAMES)


def test_scopes_are_unambiguous() -> None:
    # Joining with a separator would make these two the same message.
    cursor = codec().encode("p", ("a:b", "c"))
    with pytest.raises(InvalidInput):
        codec().decode_position(cursor, ("a", "b:c"))


def test_another_secret_is_refused_and_the_same_secret_accepted() -> None:
    cursor = codec("one" * 11).encode(KEY, SCOPE)
    with pytest.raises(InvalidInput):
        codec("two" * 11).decode_key(cursor, SCOPE, key_names=NAMES)
    # Another process (another Lambda instance) with the deployment's secret reads it.
    assert CursorCodec.from_secret("one" * 11).decode_key(cursor, SCOPE, key_names=NAMES)


def test_the_key_is_derived_not_the_secret_itself() -> None:
    secret = "s" * 32
    cursor = codec(secret).encode("p", ("x",))
    raw_secret_codec = CursorCodec(secret.encode())
    with pytest.raises(InvalidInput):
        raw_secret_codec.decode_position(cursor, ("x",))
    derived = hmac.new(secret.encode(), b"xenblocks/cursor-v1", hashlib.sha256).digest()
    assert CursorCodec(derived).decode_position(cursor, ("x",)) == "p"


def test_no_secret_means_one_key_per_process() -> None:
    a, b = CursorCodec.from_secret(None), CursorCodec.from_secret("")
    cursor = a.encode(KEY, SCOPE)
    assert b.decode_key(cursor, SCOPE, key_names=NAMES) == KEY


def test_tables_key_their_codec_from_the_jwt_secret() -> None:
    secret = SecretStr("t" * 32)
    one = Tables(Settings(jwt_secret=secret), client=object())  # type: ignore[arg-type]
    two = Tables(Settings(jwt_secret=secret), client=object())  # type: ignore[arg-type]
    other = Tables(Settings(jwt_secret=SecretStr("u" * 32)), client=object())  # type: ignore[arg-type]
    cursor = one.cursors.encode("p", ("x",))
    assert two.cursors.decode_position(cursor, ("x",)) == "p"
    with pytest.raises(InvalidInput):
        other.cursors.decode_position(cursor, ("x",))
    given = CursorCodec(b"g" * 32)
    assert Tables(Settings(), client=object(), cursors=given).cursors is given  # type: ignore[arg-type]


def _forge(payload: object, tag: str = "A" * 22) -> str:
    raw = json.dumps(payload).encode()
    return f"{base64.urlsafe_b64encode(raw).decode().rstrip('=')}.{tag}"


@pytest.mark.parametrize(
    "cursor",
    [
        "x" * 2049,
        "no-dot",
        "a.b",
        "a.b.c",
        "é." + "A" * 22,
        "!!!." + "A" * 22,
        _forge(KEY),
        base64.urlsafe_b64encode(json.dumps(KEY).encode()).decode(),  # the old, unsigned form
    ],
)
def test_malformed_or_unsigned_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidInput):
        codec().decode_key(cursor, SCOPE, key_names=NAMES)


@pytest.mark.parametrize(
    "value",
    [
        {"worker_id": {"S": "w1"}},  # a key of another shape
        {"worker_id": {"S": "w1"}, "owner": {"M": {}}},
        {"worker_id": {"S": "w1"}, "owner": {"N": 5}},
        {"worker_id": {"S": "w1"}, "owner": {"S": "0xA", "N": "1"}},
        "a position",
    ],
)
def test_a_signed_value_of_the_wrong_shape_is_refused(value: object) -> None:
    cursor = codec().encode(value, SCOPE)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        codec().decode_key(cursor, SCOPE, key_names=NAMES)
    if not isinstance(value, str):
        with pytest.raises(InvalidInput):
            codec().decode_position(cursor, SCOPE)


def test_expect_pins_the_partition() -> None:
    cursor = codec().encode(KEY, SCOPE)
    assert codec().decode_key(cursor, SCOPE, key_names=NAMES, expect={"owner": {"S": "0xA"}})
    with pytest.raises(InvalidInput):
        codec().decode_key(cursor, SCOPE, key_names=NAMES, expect={"owner": {"S": "0xB"}})


def test_clamp_limit() -> None:
    assert clamp_limit(None) == 50
    assert clamp_limit(1000) == 200
    with pytest.raises(InvalidInput):
        clamp_limit(0)


# -- query_page -----------------------------------------------------------------------------


def test_query_page_refuses_a_start_key_outside_its_partition(tables: Tables) -> None:
    """Defence in depth: even a correctly signed cursor must name the queried partition."""
    scope = (WORKERS.name, "by_owner", "", "0xA")
    foreign = {"worker_id": {"S": "w9"}, "owner": {"S": "0xB"}}
    cursor = tables.cursors.encode(foreign, scope)
    with pytest.raises(InvalidInput):
        query_page(
            tables,
            WORKERS,
            index="by_owner",
            key_condition="#owner = :owner",
            names={"#owner": "owner"},
            values={"owner": "0xA"},
            partition="0xA",
            limit=5,
            cursor=cursor,
        )


def test_query_page_refuses_a_start_key_outside_the_sort_range(tables: Tables) -> None:
    repo = TelemetryRepository(tables)
    repo.put_many(
        [TelemetryPoint(series="s", ts=t, values={"v": 1.0}, expires_at=9_999) for t in range(6)]
    )
    first = repo.history("s", 0, 5, limit=2)
    assert [p.ts for p in first.items] == [0, 1]
    assert [p.ts for p in repo.history("s", 0, 5, limit=9, cursor=first.cursor).items] == [
        2,
        3,
        4,
        5,
    ]
    assert [p.ts for p in repo.history("s", 1, 4, limit=9, cursor=first.cursor).items] == [
        2,
        3,
        4,
    ]
    with pytest.raises(InvalidInput):
        repo.history("s", 2, 5, limit=9, cursor=first.cursor)
    with pytest.raises(InvalidInput):
        repo.history("other", 0, 5, limit=9, cursor=first.cursor)
