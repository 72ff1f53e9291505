"""The bridge: the rigs on the farm's LAN ↔ one platform link per rig (``miner.bridge.link``).

``Bridge`` is what the LAN broker (``miner.bridge.lan``) reports to: it tells which rig a
LAN connection speaks for (its client id, ``xenminer_<id>`` or ``sim-<id>``, and the
topics it publishes under), makes each rig's link on first sight, hands it the rig's
messages, reports a rig offline when the last connection speaking for it goes, and sends
what the platform says to the rig's ``task``/``control`` topics on the LAN.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from miner.bridge.link import (
    OUTBOX_FILE,
    BridgeContext,
    ClientFactory,
    Enroller,
    PlatformLink,
    RigLink,
    RigOptions,
)
from miner.bridge.translate import rig_id_from_client_id
from miner.client import BrokerEndpoint, MessageHandler, PlatformClient
from miner.enroll import CertificateBundle
from miner.outbox import OutboxError
from protocol.errors import ProtocolError
from protocol.topics import Uplink, parse_topic

log = logging.getLogger(__name__)


def platform_client(
    bundle: CertificateBundle, on_message: MessageHandler, on_connect: Callable[[], None]
) -> PlatformLink:
    """The miner's own MQTT client, with the rig's certificate and worker id."""
    return PlatformClient(
        BrokerEndpoint.of(bundle), bundle.worker_id, on_message=on_message, on_connect=on_connect
    )


class Bridge:
    """The rigs on the LAN ↔ their platform identities; ``LanEvents`` for the LAN broker."""

    def __init__(
        self,
        fleet_dir: Path,
        *,
        enroller: Enroller,
        client_factory: ClientFactory = platform_client,
        options: RigOptions | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.fleet_dir = fleet_dir
        self._lan_publish: Callable[[str, bytes], None] | None = None
        self._context = BridgeContext(
            enroller=enroller,
            client_factory=client_factory,
            options=options or RigOptions(),
            to_rig=self._to_rig,
            clock=clock,
        )
        self._links: dict[str, RigLink] = {}
        self._sessions: dict[str, set[str]] = {}  # LAN client id -> the rig ids it spoke for
        self._lock = threading.Lock()
        self._stopped = False

    def attach_lan(self, publish: Callable[[str, bytes], None]) -> None:
        """Where messages for rigs go: ``LanBroker.publish``."""
        self._lan_publish = publish

    def resume(self) -> list[str]:
        """Start the rigs whose outbox still holds blocks (a restart): delivered at once."""
        self.fleet_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        resumed: list[str] = []
        for entry in sorted(self.fleet_dir.iterdir()):
            if not (entry / OUTBOX_FILE).is_file():
                continue
            try:
                link = self.link(entry.name)
            except (ProtocolError, OutboxError) as error:
                log.warning("ignoring %s: %s", entry, error)
                continue
            if link.pending_blocks():
                link.start()
                resumed.append(link.rig_id)
        return resumed

    def link(self, rig_id: str) -> RigLink:
        with self._lock:
            link = self._links.get(rig_id)
            if link is None:
                link = RigLink(rig_id, self.fleet_dir / rig_id, self._context)
                self._links[rig_id] = link
            return link

    @property
    def links(self) -> list[RigLink]:
        with self._lock:
            return list(self._links.values())

    # -- LanEvents ---------------------------------------------------------------------

    def on_connected(self, client_id: str) -> None:
        rig_id = rig_id_from_client_id(client_id)
        if rig_id is None or self._stopped:
            return
        with self._lock:
            self._sessions.setdefault(client_id, set()).add(rig_id)
        link = self.link(rig_id)
        link.start()
        link.rig_connected()

    def on_disconnected(self, client_id: str) -> None:
        with self._lock:
            rigs = self._sessions.pop(client_id, set())
            still_there = set().union(*self._sessions.values()) if self._sessions else set()
            links = [self._links[r] for r in rigs - still_there if r in self._links]
        for link in links:
            link.rig_gone("disconnected")

    def on_message(self, client_id: str, topic_name: str, payload: bytes) -> None:
        if self._stopped:
            return
        try:
            parsed = parse_topic(topic_name)
        except ProtocolError:
            return
        if not isinstance(parsed.suffix, Uplink):
            return
        with self._lock:
            self._sessions.setdefault(client_id, set()).add(parsed.worker_id)
        link = self.link(parsed.worker_id)
        link.start()
        link.rig_message(parsed.suffix, payload)

    # -- the rest ----------------------------------------------------------------------

    def _to_rig(self, topic_name: str, payload: bytes) -> None:
        if self._lan_publish is not None:
            self._lan_publish(topic_name, payload)

    def stop(self) -> None:
        """Every rig marked offline and its connection closed; outboxes kept on disk."""
        self._stopped = True
        for link in self.links:
            try:
                link.stop()
            except Exception:
                log.exception("rig %s: stopping failed", link.rig_id)

    def summary(self) -> dict[str, int]:
        snapshots = [link.snapshot() for link in self.links]
        return {
            "rigs": len(snapshots),
            "online": sum(1 for s in snapshots if s["online"]),
            "connected": sum(1 for s in snapshots if s["platform"] == "connected"),
            "received": sum(s["received"] for s in snapshots),
            "delivered": sum(s["delivered"] for s in snapshots),
            "dropped": sum(s["dropped"] for s in snapshots),
            "queued": sum(link.pending_blocks() for link in self.links),
        }
