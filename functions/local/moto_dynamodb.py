"""Make moto's DynamoDB answer one request at a time, as DynamoDB's own atomicity implies.

moto applies a ``TransactWriteItems`` item by item and rolls back by swapping whole table
objects, so two threads (the local stack's servers, a race test) can interleave inside one
transaction or undo each other's writes. DynamoDB serializes each request against the items
it touches; holding one lock per request gives moto that guarantee (more coarsely), so
races are decided by our conditions, as they would be in AWS.
"""

from __future__ import annotations

import threading
from typing import Any

_LOCK = threading.RLock()
_MARK = "_xenblocks_serialized"


def serialize_dynamodb_requests() -> None:
    """Install the lock around moto's DynamoDB request handler (idempotent)."""
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler, _MARK, False):
        return
    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with _LOCK:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    setattr(DynamoHandler, _MARK, True)
