"""Session sign-outs: one item per address in the credentials table (``session#<address>``).

The item holds everything the per-request check needs, so that check is one GetItem: the
epoch before which the address's tokens are void, and the ids of single tokens signed out
(with their expiry, pruned on every write). Writes are read–modify–write under a version
number; the item expires (TTL) once no token it refuses could still be presented.
"""

from __future__ import annotations

from typing import Any

from functions.dal import codec
from functions.dal.reads import get_record
from functions.dal.specs import CREDENTIALS
from functions.dal.tables import Tables
from functions.dal.transact import condition_failure_as
from functions.errors import ConcurrentUpdate
from functions.models.auth import SessionState

SESSION_PREFIX = "session#"


def session_key(address: str) -> str:
    return f"{SESSION_PREFIX}{address}"


class SessionRepository:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables
        self._name = tables.name(CREDENTIALS)

    def get(self, address: str) -> SessionState | None:
        """The address's sign-outs (a strongly consistent read: signed out means out)."""
        return get_record(self._tables, CREDENTIALS, SessionState, {"pk": session_key(address)})

    def save(self, state: SessionState, *, previous_version: int) -> None:
        """Write ``state`` if nobody else wrote since ``previous_version`` was read (0: the
        item did not exist); ``ConcurrentUpdate`` otherwise."""
        item: dict[str, Any] = {"pk": session_key(state.address), **state.model_dump(mode="json")}
        with condition_failure_as(ConcurrentUpdate):
            self._tables.client.put_item(
                TableName=self._name,
                Item=codec.to_item(item),
                # Version 0 never exists, so it matches only an absent item.
                ConditionExpression="attribute_not_exists(#pk) OR #version = :version",
                ExpressionAttributeNames={"#pk": "pk", "#version": "version"},
                ExpressionAttributeValues=codec.values(version=previous_version),
            )
