"""What scheduled Lambdas share: the time an EventBridge event stands for, and the
correlation id each run logs under."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar

from functions.observability import correlated, correlation_id_from, logger

Handler = TypeVar("Handler", bound=Callable[..., Any])


def scheduled_time(event: object) -> int:
    """The schedule's time (EventBridge ``time``), so a delayed or retried run acts for its
    slot; the clock when the event has none or it cannot be read."""
    when = event.get("time") if isinstance(event, dict) else None
    if isinstance(when, str):
        try:
            return int(datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp())
        except ValueError:
            logger.warning("unreadable event time; using the clock", extra={"time": when[:64]})
    return int(time.time())


def correlated_run(handler: Handler) -> Handler:
    """Each run of a scheduled Lambda logs (and publishes its commands) under a correlation
    id of its own: the EventBridge event's id (a retry of the same event keeps it), else a
    new one."""

    @wraps(handler)
    def run(event: Any, context: Any) -> Any:
        event_id = event.get("id") if isinstance(event, dict) else None
        with correlated(correlation_id_from(event_id)):
            return handler(event, context)

    return run  # type: ignore[return-value]
