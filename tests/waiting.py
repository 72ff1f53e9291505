"""Waiting in tests for something another thread or process does: poll, with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T], what: str, timeout: float = 30.0, *, every: float = 0.1
) -> T:
    """Poll ``predicate`` every ``every`` seconds until its value is true, and return that
    value; fail naming ``what`` once ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(every)
    return value
