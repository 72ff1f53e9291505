from __future__ import annotations

import pytest

from functions.dal.accounts import AccountRepository
from functions.ports.devices import RecordingPublisher
from tests.api_client import api_context, client_for
from tests.factories import NOW, RENTER


@pytest.fixture
def publisher():
    return RecordingPublisher()


@pytest.fixture
def clock():
    """A settable clock: ``clock.now = …`` moves time for the API."""

    class Clock:
        now = NOW

        def __call__(self) -> int:
            return self.now

    return Clock()


@pytest.fixture
def context(settings, tables, publisher, clock):
    return api_context(settings, tables, now=clock, publisher=publisher)


@pytest.fixture
def client(context):
    return client_for(context)


def fund(tables, address=RENTER, amount=1_000_000_000):
    AccountRepository(tables).deposit(address, amount, entry_id=f"fund-{address}-{amount}", now=NOW)
