"""The dashboards' connections: where they are kept, and how frames reach them.

``Fanout`` is the live updates' one way out: it stores and forgets connections (the
connections table, with a TTL), walks them (every connection, shard by shard, or one
subject's), and posts frames through a ``Broadcaster``: the API Gateway management API in
AWS, the WebSocket hub of ``xenblocks local``. A connection found gone is forgotten; any
other failed post is counted and logged, never raised (live updates are best effort: the
next change, or the next snapshot, brings a dashboard up to date).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from functions.dal.connections import ConnectionRepository, shard_for, shard_names
from functions.dal.pagination import Page
from functions.dal.tables import Tables
from functions.models.live import Connection
from functions.observability import logger
from functions.ports.broadcast import Broadcaster, BroadcastError

_PAGE = 100


@dataclass
class Delivery:
    """What posting a set of frames did."""

    connections: int = 0  # connections a frame was for
    frames: int = 0  # frames delivered
    gone: int = 0  # connections found closed, and forgotten
    failed: int = 0  # posts that failed otherwise (throttled, timed out)


class Fanout:
    def __init__(self, connections: ConnectionRepository, broadcaster: Broadcaster) -> None:
        self._connections = connections
        self.broadcaster = broadcaster

    @classmethod
    def over(cls, tables: Tables, broadcaster: Broadcaster) -> Fanout:
        """The connections of ``tables``, reached through ``broadcaster``."""
        return cls(ConnectionRepository(tables), broadcaster)

    # --- the store -----------------------------------------------------------------------

    def open(self, connection_id: str, subject: str, *, now: int, ttl: int) -> Connection:
        """Keep a new connection of ``subject`` for ``ttl`` seconds, in its broadcast shard."""
        connection = Connection(
            connection_id=connection_id,
            subject=subject,
            shard=shard_for(connection_id),
            connected_at=now,
            expires_at=now + ttl,
        )
        self._connections.put(connection)
        return connection

    def get(self, connection_id: str) -> Connection | None:
        return self._connections.get(connection_id)

    def forget(self, connection_id: str) -> None:
        self._connections.delete(connection_id)

    def everyone(self) -> Iterator[Connection]:
        """Every open connection (one query per shard, page by page)."""
        for shard in shard_names():
            yield from _all_pages(self._connections.by_shard, shard)

    def of_subject(self, subject: str) -> Iterator[Connection]:
        return _all_pages(self._connections.by_subject, subject)

    # --- posting -------------------------------------------------------------------------

    def send(self, connection_id: str, frame: str) -> bool:
        """Post one frame; False (and the connection forgotten) when it is gone.
        Raises ``BroadcastError`` for any other failure."""
        if self.broadcaster.send(connection_id, frame):
            return True
        self.forget(connection_id)
        return False

    def deliver(self, frames: Mapping[str, str]) -> Delivery:
        """Post each connection its frame, whatever happens to the others."""
        delivery = Delivery(connections=len(frames))
        for connection_id, frame in frames.items():
            try:
                delivered = self.send(connection_id, frame)
            except BroadcastError as error:
                delivery.failed += 1
                logger.warning(
                    "live post failed", extra={"connection": connection_id, "error": error}
                )
                continue
            if delivered:
                delivery.frames += 1
            else:
                delivery.gone += 1
        return delivery


def _all_pages(query: Callable[..., Page[Connection]], value: str) -> Iterator[Connection]:
    cursor: str | None = None
    while True:
        page = query(value, limit=_PAGE, cursor=cursor)
        yield from page.items
        cursor = page.cursor
        if cursor is None:
            return
