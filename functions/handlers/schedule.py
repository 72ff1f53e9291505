"""What scheduled Lambdas share: the time an EventBridge event stands for."""

from __future__ import annotations

import time
from datetime import datetime

from aws_lambda_powertools import Logger


def scheduled_time(event: object, logger: Logger) -> int:
    """The schedule's time (EventBridge ``time``), so a delayed or retried run acts for its
    slot; the clock when the event has none or it cannot be read."""
    when = event.get("time") if isinstance(event, dict) else None
    if isinstance(when, str):
        try:
            return int(datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp())
        except ValueError:
            logger.warning("unreadable event time; using the clock", extra={"time": when[:64]})
    return int(time.time())
