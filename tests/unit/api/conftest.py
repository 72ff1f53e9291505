"""What the API tests share: a clock a test can move."""

from __future__ import annotations

import pytest

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
