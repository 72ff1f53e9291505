"""Live dashboard connections (WebSocket)."""

from __future__ import annotations

from pydantic import StrictInt

from functions.models.base import Record

# The subject of a connection that has not signed in.
ANONYMOUS = "anonymous"


class Connection(Record):
    connection_id: str
    subject: str  # a checksum address, or ANONYMOUS
    shard: str  # the broadcast shard (dal.connections.shard_for)
    connected_at: StrictInt
    expires_at: StrictInt
