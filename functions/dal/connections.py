"""Live WebSocket connections: who they belong to and which broadcast shard they are in."""

from __future__ import annotations

import hashlib

from functions.dal import codec
from functions.dal.pagination import Page
from functions.dal.reads import get_record, query_index
from functions.dal.specs import CONNECTIONS
from functions.dal.tables import Tables
from functions.models.live import Connection

# Broadcasts fan out one Query per shard, so many connections never share one partition.
SHARDS = 4


def shard_for(connection_id: str, shards: int = SHARDS) -> str:
    """The connection's shard; stable across processes (``hash()`` is salted per process)."""
    if shards < 1:
        raise ValueError("shards must be at least 1")
    digest = hashlib.sha256(connection_id.encode("utf-8")).digest()
    return f"shard-{int.from_bytes(digest[:8], 'big') % shards}"


def shard_names(shards: int = SHARDS) -> list[str]:
    """Every shard ``shard_for`` can answer, for a broadcast to walk."""
    if shards < 1:
        raise ValueError("shards must be at least 1")
    return [f"shard-{n}" for n in range(shards)]


class ConnectionRepository:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables
        self._name = tables.name(CONNECTIONS)

    def put(self, connection: Connection) -> None:
        """Store a connection; storing it again (say, after sign-in) replaces it."""
        self._tables.client.put_item(
            TableName=self._name, Item=codec.to_item(connection.model_dump(mode="json"))
        )

    def get(self, connection_id: str) -> Connection | None:
        return get_record(self._tables, CONNECTIONS, Connection, {"connection_id": connection_id})

    def delete(self, connection_id: str) -> None:
        """Forget a connection; forgetting one already gone is fine (disconnects race TTL)."""
        self._tables.client.delete_item(
            TableName=self._name, Key=codec.to_item({"connection_id": connection_id})
        )

    def by_subject(
        self, subject: str, *, limit: int, cursor: str | None = None
    ) -> Page[Connection]:
        return self._query("by_subject", subject, limit, cursor)

    def by_shard(self, shard: str, *, limit: int, cursor: str | None = None) -> Page[Connection]:
        return self._query("by_shard", shard, limit, cursor)

    def _query(self, index: str, value: str, limit: int, cursor: str | None) -> Page[Connection]:
        items, next_cursor = query_index(
            self._tables, CONNECTIONS, index, value, limit=limit, cursor=cursor
        )
        return Page([Connection.model_validate(i) for i in items], next_cursor)
