"""How the Lambda code logs: one Powertools logger, and the correlation id its lines carry.

Every module of ``functions`` (but the local stack, ``functions/local/``) logs through
``logger``: a constant message, every variable part a field (``extra``), exceptions with
``logger.exception`` or ``exc_info`` (``tests/unit/test_logging_style.py`` keeps it so).
Its service is the function's (``POWERTOOLS_SERVICE_NAME``, which ``infra/functions.py``
sets for each), or ``xenblocks`` where one process runs them all (the local stack, tests).

A correlation id follows one piece of work across the platform: an API request (the
caller's ``X-Correlation-Id`` when it is a sane token, else API Gateway's request id, else
a new one; echoed in the response), the commands it publishes to rigs, the status a rig
sends back about them, and ingest's lines about that status; a scheduled run has its own.
It lives in a context variable, so a request served on a worker thread, or one of many at
once on the local stack, carries its own; every line logged meanwhile has it as
``correlation_id``.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from aws_lambda_powertools import Logger

from protocol.fields import is_correlation_id

DEFAULT_SERVICE = "xenblocks"
CORRELATION_HEADER = "X-Correlation-Id"
CORRELATION_KEY = "correlation_id"

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE)

_current: ContextVar[str | None] = ContextVar(CORRELATION_KEY, default=None)


def current_correlation_id() -> str | None:
    """The correlation id of the work under way here, if it has one."""
    return _current.get()


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def correlation_id_from(*candidates: object) -> str:
    """The first candidate that is a sane correlation id (``protocol.fields``), else a new
    one: what a caller sends is never trusted into a log line or a command as it is."""
    for candidate in candidates:
        if is_correlation_id(candidate):
            return candidate
    return new_correlation_id()


@contextmanager
def correlated(correlation_id: str | None) -> Iterator[None]:
    """Run a block of work under ``correlation_id`` (None: under the current one, if any)."""
    if correlation_id is None:
        yield
        return
    token = _current.set(correlation_id)
    try:
        yield
    finally:
        _current.reset(token)


def adopt_correlation_id(correlation_id: str) -> None:
    """Set the correlation id for the rest of the current context, with no block to end it:
    for an ASGI middleware, whose request runs in a task of its own, so that the server's
    last-resort error handler (outside every middleware) still logs and answers with it."""
    _current.set(correlation_id)


class _CorrelationFilter(logging.Filter):
    """Adds the current correlation id to every record ``logger`` makes."""

    def filter(self, record: logging.LogRecord) -> bool:
        correlation_id = _current.get()
        if correlation_id is not None and not hasattr(record, CORRELATION_KEY):
            setattr(record, CORRELATION_KEY, correlation_id)
        return True


logger.addFilter(_CorrelationFilter())
