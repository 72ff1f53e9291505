"""An in-process API client signed in as a given address (no sockets)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from pydantic import SecretStr

from functions.api.app import create_app
from functions.api.context import ApiContext
from functions.logic.tokens import issue_token
from tests.factories import NOW

JWT_SECRET = "test-secret-test-secret-test-secret!"


def api_settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"jwt_secret": SecretStr(JWT_SECRET)})


def token_for(address: str, now: int = NOW, ttl: int = 3600) -> str:
    return issue_token(address, secret=JWT_SECRET, now=now, ttl=ttl)


def client_for(context: ApiContext) -> TestClient:
    return TestClient(create_app(context), raise_server_exceptions=True)


def auth(address: str, now: int = NOW) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(address, now)}"}


class NoCertificates:
    """A CA for API tests that never enrol a rig."""

    def issue(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("this test does not enrol rigs")

    def revoke(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("this test does not enrol rigs")


def api_context(settings, tables, *, now=NOW, publisher=None, ca=None):  # type: ignore[no-untyped-def]
    """An ApiContext on moto tables with a fixed clock (``now`` may be a callable)."""
    from functions.ports.devices import RecordingPublisher

    clock = now if callable(now) else (lambda: now)
    return ApiContext(
        settings=api_settings(settings),
        tables=tables,
        ca=ca or NoCertificates(),
        publisher=publisher if publisher is not None else RecordingPublisher(),
        clock=clock,
    )
