"""Fixtures shared by the unit tests' folders."""

from __future__ import annotations

import pytest

from functions.ports.broadcast import RecordingBroadcaster
from tests.api_client import api_settings


@pytest.fixture
def live_settings(settings):  # type: ignore[no-untyped-def]
    """Settings that can sign sessions in (the live service verifies their tokens)."""
    return api_settings(settings)


@pytest.fixture
def broadcaster() -> RecordingBroadcaster:
    """Keeps the frames the live service sends."""
    return RecordingBroadcaster()
