"""What the API tests share: a clock a test can move, the API on the test tables at that
clock and a client of it (a test module needing other settings overrides ``context``)."""

from __future__ import annotations

import pytest

from tests.api_client import api_context, client_for
from tests.factories import NOW


class Clock:
    """A clock a test can move."""

    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def context(settings, tables, clock):  # type: ignore[no-untyped-def]
    return api_context(settings, tables, now=clock)


@pytest.fixture
def client(context):  # type: ignore[no-untyped-def]
    return client_for(context)
