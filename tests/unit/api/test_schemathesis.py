"""Property-based API tests: schemathesis generates requests for every operation of
``/api/openapi.json`` and sends them in-process (ASGI, no sockets) to one moto setup.

Every response must be free of 5xx, every 4xx/5xx body must be the one error format, and
documented response schemas must hold. Requests are signed in as seeded users (or carry no
token, or a bad one), and ids often name seeded records, so the happy paths are reached too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from functions.api.app import create_app
from functions.dal.tables import Tables, create_tables
from functions.local.ca import LocalCertificateAuthority
from functions.settings import Settings
from protocol.xenblocks import BlockRules
from tests.api_client import api_context, auth, client_for, token_for
from tests.factories import NOW, PROVIDER, RENTER, address, online_worker
from tests.unit.market.conftest import fund

ADMIN = address(0xAD)
# Signs out on the sign-out operations, so the seeded users' sessions live on.
LEAVER = address(0x1EAF)
MIN_REQUESTS = 1000
# Fuzzed cases per operation; the coverage phase adds its own boundary and negative cases.
FUZZED_PER_OPERATION = 25
REQUEST_TIMEOUT = 60  # seconds

SETTINGS = settings(
    max_examples=FUZZED_PER_OPERATION,
    derandomize=True,  # the same cases on every run: stable in CI
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        # `records` is reseeded per operation on purpose, not per generated case.
        HealthCheck.function_scoped_fixture,
    ],
)


def _settings() -> Settings:
    return Settings(
        stage="test", rules=BlockRules(difficulty=8, block_pattern="XEN"), admin_addresses=(ADMIN,)
    )


def _schema_app() -> Any:
    """An app that only serves its OpenAPI document (which never reaches DynamoDB)."""
    settings = _settings()
    return create_app(api_context(settings, Tables(settings)))


schema = schemathesis.openapi.from_asgi("/api/openapi.json", _schema_app())


def _bearer(address: str) -> str:
    return f"Bearer {token_for(address)}"


# Who a generated request claims to be: mostly seeded users, sometimes an admin, nobody,
# or a token that is not one.
AUTHORIZATION = (
    *[_bearer(RENTER)] * 3,
    *[_bearer(PROVIDER)] * 3,
    _bearer(ADMIN),
    None,
    "Bearer not-a-token",
)

sent: dict[str, int] = {}  # requests sent, per operation


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One moto DynamoDB and one app for the whole module, with funded users."""
    from moto import mock_aws

    from functions.local.moto_dynamodb import serialize_dynamodb_requests

    settings = _settings()
    serialize_dynamodb_requests()
    with mock_aws():
        tables = Tables(settings)
        create_tables(tables)
        ca = LocalCertificateAuthority(tmp_path_factory.mktemp("ca"))
        context = api_context(settings, tables, now=NOW, ca=ca)
        fund(tables, RENTER)
        fund(tables, PROVIDER)
        yield {"app": create_app(context), "client": client_for(context), "tables": tables}


@pytest.fixture
def records(api: dict[str, Any]) -> dict[str, Any]:
    """Fresh records for each operation (earlier ones may have delisted or rented the last):
    the provider's open listing, a running lease of the renter, an unlisted online rig."""
    client, tables = api["client"], api["tables"]
    open_listing = _listed(client, tables)
    leased = _listed(client, tables)
    lease = client.post(
        "/api/leases",
        json={"listing_id": leased["listing_id"], "duration_sec": 3600},
        headers=auth(RENTER),
    )
    assert lease.status_code == 201, lease.text
    spare = online_worker(tables, owner=PROVIDER)
    return {
        "path": {
            "worker_id": open_listing["worker_id"],
            "listing_id": open_listing["listing_id"],
            "lease_id": lease.json()["lease_id"],
            "address": RENTER,
            "owner": PROVIDER,
        },
        "body": {"worker_id": spare.worker_id, "listing_id": open_listing["listing_id"]},
    }


def _listed(client: Any, tables: Tables) -> dict[str, Any]:
    worker = online_worker(tables, owner=PROVIDER)
    body = {"worker_id": worker.worker_id, "price_per_hour": 3_600_000}
    response = client.post("/api/listings", json=body, headers=auth(PROVIDER))
    assert response.status_code == 201, response.text
    return dict(response.json())


def _stable_choice(case: schemathesis.Case, salt: str, options: tuple[Any, ...]) -> Any:
    """A choice derived from the generated inputs, so a replayed case makes the same one."""
    seen = json.dumps(
        [salt, case.path_parameters, case.query, repr(case.body)], sort_keys=True, default=repr
    )
    return options[hashlib.sha256(seen.encode()).digest()[0] % len(options)]


def _sign_in(case: schemathesis.Case) -> None:
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    authorization = _stable_choice(case, "authorization", AUTHORIZATION)
    if case.operation.path.startswith("/api/auth/logout") and authorization is not None:
        authorization = _bearer(LEAVER)
    if authorization is not None:
        headers["Authorization"] = authorization
    case.headers = headers


def _name_seeded_records(case: schemathesis.Case, records: dict[str, Any]) -> None:
    """Often point ids (path, query, body) at seeded records: random ones only reach 4xx."""
    for parameters in (case.path_parameters, case.query):
        for name in list(parameters or {}):
            if name in records["path"] and _stable_choice(case, name, (True, False)):
                parameters[name] = records["path"][name]
    if isinstance(case.body, dict):
        for name in list(case.body):
            if name in records["body"] and _stable_choice(case, name, (True, False)):
                case.body[name] = records["body"][name]


def one_error_format(ctx: Any, response: Any, case: schemathesis.Case) -> None:
    """Every 4xx/5xx body is ``{"error": {"code": str, "message": str}}`` and nothing else."""
    if response.status_code < 400:
        return
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(
            f"{response.status_code} body is not JSON: {response.content[:200]!r}"
        ) from None
    error = body.get("error") if isinstance(body, dict) else None
    well_formed = (
        isinstance(error, dict)
        and set(body) == {"error"}
        and set(error) == {"code", "message"}
        and isinstance(error["code"], str)
        and isinstance(error["message"], str)
    )
    if not well_formed:
        raise AssertionError(f"{response.status_code} body is not the error format: {body!r}")


@pytest.mark.parametrize(
    ("status", "content", "valid"),
    [
        (404, b'{"error": {"code": "not_found", "message": "no such lease"}}', True),
        (200, b'{"detail": "anything goes below 400"}', True),
        (422, b'{"detail": [{"loc": ["body"], "msg": "bad"}]}', False),
        (409, b'{"error": {"code": "conflict"}}', False),
        (401, b'{"error": {"code": 401, "message": "no"}}', False),
        (400, b'{"error": {"code": "x", "message": "y"}, "extra": 1}', False),
        (500, b"Internal Server Error", False),
    ],
)
def test_the_error_format_check_tells_good_bodies_from_bad(
    status: int, content: bytes, valid: bool
) -> None:
    response = SimpleNamespace(status_code=status, content=content)
    if valid:
        one_error_format(None, response, None)
    else:
        with pytest.raises(AssertionError, match=r"error format|not JSON"):
            one_error_format(None, response, None)


CHECKS = [not_a_server_error, response_schema_conformance, one_error_format]


def _send_and_check(case: schemathesis.Case, api: dict[str, Any], records: dict[str, Any]) -> None:
    _sign_in(case)
    _name_seeded_records(case, records)
    sent[case.operation.label] = sent.get(case.operation.label, 0) + 1
    # schemathesis's 10 s default read timeout was hit once on a loaded 2-core machine
    # (moto in-process behind the app); a hang still fails, a slow machine no longer does.
    case.call_and_validate(app=api["app"], checks=CHECKS, timeout=REQUEST_TIMEOUT)


@schema.parametrize()
@SETTINGS
def test_every_operation_keeps_its_contract(
    case: schemathesis.Case, api: dict[str, Any], records: dict[str, Any]
) -> None:
    _send_and_check(case, api, records)


def test_at_least_a_thousand_requests_were_generated() -> None:
    operations = sum(1 for _ in schema.get_all_operations())
    if len(sent) < operations:
        pytest.skip("only counted when every operation ran (the whole module)")
    assert sum(sent.values()) >= MIN_REQUESTS, sent
