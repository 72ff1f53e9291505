from __future__ import annotations

import pytest

from functions.dal.accounts import AccountRepository
from functions.dal.leases import LeaseRepository
from functions.handlers.ingest import build_service
from functions.ports.devices import RecordingPublisher
from functions.settings import Settings
from protocol.xenblocks import BlockRules
from tests.factories import NOW, RENTER, lease_for, open_listing


@pytest.fixture
def settings() -> Settings:
    # Easy patterns so tests find blocks in a few thousand hashes at difficulty 8.
    rules = BlockRules(difficulty=8, block_pattern="XEN", xuni_pattern="UN[0-9]")
    return Settings(stage="test", rules=rules, heartbeat_write_seconds=60)


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def service(settings, tables, publisher):
    return build_service(settings, tables, publisher)


@pytest.fixture
def leased(tables):
    """An active lease on a listed worker, the renter funded."""
    listing = open_listing(tables)
    AccountRepository(tables).deposit(RENTER, 100_000_000, entry_id="fund", now=NOW)
    lease = lease_for(listing, duration_sec=3600)
    return LeaseRepository(tables).create(lease, listing)
