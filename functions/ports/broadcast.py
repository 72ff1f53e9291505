"""The ``Broadcaster`` port: one frame of live updates to one dashboard connection.

AWS: the API Gateway management API (``post_to_connection``). Locally: the WebSocket hub of
``xenblocks local``. Either answers False for a connection that is gone, so the caller can
forget it; any other failure raises ``BroadcastError`` and the caller moves on (live updates
are best effort: the next change, or the next snapshot, brings the dashboard up to date).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient


class BroadcastError(RuntimeError):
    pass


class Broadcaster(Protocol):
    def send(self, connection_id: str, frame: str) -> bool:
        """Deliver ``frame`` (JSON text); False when the connection is gone."""
        ...


class ApiGatewayBroadcaster:
    """Posts to API Gateway WebSocket connections through their management endpoint."""

    def __init__(self, client: ApiGatewayManagementApiClient) -> None:
        self._client = client

    @classmethod
    def for_endpoint(cls, endpoint_url: str, region: str) -> ApiGatewayBroadcaster:
        import boto3
        from botocore.config import Config

        # Short timeouts and few retries: a slow post must not hold up the other connections.
        config = Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 2})
        client = boto3.client(
            "apigatewaymanagementapi", endpoint_url=endpoint_url, region_name=region, config=config
        )
        return cls(client)

    def send(self, connection_id: str, frame: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=frame.encode())
        except self._client.exceptions.GoneException:
            return False
        except (ClientError, BotoCoreError) as error:
            raise BroadcastError(f"post to {connection_id} failed: {error}") from error
        return True


class RecordingBroadcaster:
    """Keeps what it was asked to send; connections in ``gone`` answer False (tests)."""

    def __init__(self, gone: set[str] | None = None) -> None:
        self.sent: list[tuple[str, str]] = []
        self.gone = set(gone or ())

    def send(self, connection_id: str, frame: str) -> bool:
        if connection_id in self.gone:
            return False
        self.sent.append((connection_id, frame))
        return True
