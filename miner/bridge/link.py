"""One rig of the farm: its platform identity, connection and outbox (``RigLink``).

A rig id seen on the LAN becomes a link: enrolled on first sight like ``xenblocks-miner
enroll`` (its bundle reused on restart), then its own mutual-TLS connection to the platform
with client id = its worker id and a last will that marks it offline. Its state lives in
``<fleet dir>/<rig id>/``:

    bundle/           the certificate bundle ``enroll`` writes (worker.json, keys, CA)
    outbox.sqlite3    blocks not yet acknowledged by the platform's broker (miner.outbox)
    register.json     the rig's last ``register``, announced again after any reconnect

Blocks are written to the outbox as soon as they arrive (before the rig is even enrolled)
and leave it on the platform broker's PUBACK, so neither side's restart loses one.
Registers, heartbeats and statuses are live: sent while the platform connection is up,
a heartbeat dropped while it is not. A rig that leaves the LAN (its last will, a
``{"status": "offline"}``, a clean or unclean disconnect) is reported offline at once.

Threads: the LAN broker's calls ``rig_*``; paho's calls ``_platform_up`` and
``_from_platform``; the link's own enrols, connects and delivers the outbox. State is
guarded by ``_lock``, never held while waiting on paho.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from miner.bridge.translate import (
    Untranslatable,
    block_for,
    check_block_account,
    heartbeat_for,
    is_network_block,
    is_offline_status,
    offline_status,
    register_for,
    rig_address,
    rig_control,
    rig_set_config,
    rig_task,
    share_for,
    status_for,
)
from miner.client import MessageHandler
from miner.enroll import CertificateBundle, EnrollError
from miner.outbox import Outbox, OutboxError
from protocol.addresses import same_address
from protocol.codec import decode_json, encode, parse_control, parse_task, parse_uplink
from protocol.downlink import AssignTask, RegisterAck, Release
from protocol.errors import ProtocolError
from protocol.shares import SharePattern
from protocol.topics import Downlink, Uplink, topic, validate_worker_id
from protocol.uplink import BlockFound, Share

log = logging.getLogger(__name__)

PLATFORM = "platform"  # the outbox channel
BUNDLE_DIR = "bundle"
OUTBOX_FILE = "outbox.sqlite3"
REGISTER_FILE = "register.json"
# A rig that connects without registering (the C++ miner after the bridge restarted: it
# only resubscribes) is announced with its remembered register after this long.
REGISTER_GRACE_SECONDS = 2.0
# The rig's last heartbeat follows a (re)registration if it is no older than this.
HEARTBEAT_REPLAY_SECONDS = 60.0
RETRY_MIN_SECONDS = 5.0
RETRY_MAX_SECONDS = 300.0
MAX_NAME_LENGTH = 64
NETWORK_BLOCK_PATTERN = "XEN11"  # what the C++ miner counts as a block by default


class PlatformLink(Protocol):
    """What a rig link needs of its platform connection (``miner.client.PlatformClient``)."""

    @property
    def connected(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def publish(self, topic_name: str, payload: bytes, *, qos: int = 1) -> Any: ...

    def deliver(self, topic_name: str, payload: bytes, *, timeout: float = 10.0) -> bool: ...


ClientFactory = Callable[[CertificateBundle, MessageHandler, Callable[[], None]], PlatformLink]


class Enroller(Protocol):
    def enrol(self, name: str, directory: Path, *, force: bool) -> CertificateBundle: ...


@dataclass(frozen=True)
class RigOptions:
    """What the bridge does for every rig."""

    name_prefix: str = ""  # the platform name of rig <id> is <prefix><id>
    # Sent to a rig (set_config) each time the platform accepts its register:
    block_pattern: str | None = None  # what the rig counts as a block (C++ default XEN11)
    mine_for_owner: bool = False  # self-mine for the owner (when the rig mines for another)


@dataclass
class BridgeContext:
    enroller: Enroller
    client_factory: ClientFactory
    options: RigOptions
    to_rig: Callable[[str, bytes], None]  # (LAN topic, payload)
    clock: Callable[[], float]


class RigLink:
    """One rig: its outbox (from first sight), its enrolment, its platform connection."""

    def __init__(self, rig_id: str, directory: Path, context: BridgeContext) -> None:
        self.rig_id = validate_worker_id(rig_id)
        self.directory = directory
        self._context = context
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.outbox = Outbox(directory / OUTBOX_FILE)
        self.bundle: CertificateBundle | None = None
        self.client: PlatformLink | None = None
        self.counters: Counter[str] = Counter()  # received, delivered, dropped:<reason>
        self.problem: str | None = None  # why the rig has no platform connection yet
        self._lock = threading.RLock()
        self._register = self._load_register()
        self._rig_address = rig_address(self._register or {})
        self._warned_address: str | None = None
        self._active_gpus = 0
        # The lease the rig mines for now, and its share pattern (a literal the rig was
        # given as its block pattern): its hits are the lease's shares.
        self._lease: tuple[str, SharePattern] | None = None
        self._heartbeat: tuple[dict[str, Any], float] | None = None  # the last, and when
        self.online = False  # the rig is on the LAN
        self._announced = False  # registered on the current platform connection
        self._listed_online = False  # the platform was told it is online, not yet offline
        self._register_due: float | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._thread is not None or self._stopping.is_set():
                return
            self._thread = threading.Thread(
                target=self._run, name=f"bridge-{self.rig_id}", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """A last delivery, the rig marked offline, the connection closed cleanly."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        # Never under ``_lock`` while waiting on paho: its thread may be waiting for it.
        client = self.client
        if client is not None:
            self._deliver(limit=1000)
            with self._lock:
                listed = self.online or self._listed_online
                self.online = self._announced = self._listed_online = False
            if listed and client.connected and self.bundle is not None:
                offline = offline_status(self._worker_id, int(self._now()))
                client.deliver(self._topic(Uplink.STATUS), encode(offline), timeout=5.0)
            client.stop()  # a clean disconnect: no last will, hence the status first
        self.outbox.close()

    def _run(self) -> None:
        delay = RETRY_MIN_SECONDS
        while not self._stopping.is_set():
            try:
                self._attach()
                break
            except EnrollError as error:
                self.problem = str(error)
                log.error("rig %s: %s; retrying in %.0f s", self.rig_id, error, delay)
            except Exception as error:
                self.problem = f"{type(error).__name__}: {error}"
                log.exception("rig %s: connecting it to the platform failed", self.rig_id)
            self._stopping.wait(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)
        while not self._stopping.is_set():
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            try:
                self._tick()
            except OutboxError:
                if not self._stopping.is_set():
                    log.exception("rig %s: its outbox failed", self.rig_id)
            except Exception:
                log.exception("rig %s: delivering failed; retrying", self.rig_id)

    def _attach(self) -> None:
        bundle = self._bundle()
        client = self._context.client_factory(bundle, self._from_platform, self._platform_up)
        with self._lock:
            if self._stopping.is_set():
                return  # stopped while enrolling: never connected
            self.bundle, self.client, self.problem = bundle, client, None
        client.start()

    def _bundle(self) -> CertificateBundle:
        """The rig's bundle: the one on disk, or a new enrolment."""
        directory = self.directory / BUNDLE_DIR
        complete = (directory / "worker.json").exists()
        if complete:
            return CertificateBundle.load(directory)
        name = f"{self._context.options.name_prefix}{self.rig_id}"[:MAX_NAME_LENGTH]
        # An interrupted enrolment left parts without worker.json: they never worked.
        partial = CertificateBundle.exists(directory)
        bundle = self._context.enroller.enrol(name, directory, force=partial)
        log.info("rig %s enrolled as worker %s (%s)", self.rig_id, bundle.worker_id, name)
        return bundle

    # -- the rig (LAN broker thread) ---------------------------------------------------

    def rig_connected(self) -> None:
        with self._lock:
            self._set_online()
            if not self._announced and self._register_due is None:
                self._register_due = self._now() + REGISTER_GRACE_SECONDS
        self._wake.set()

    def rig_gone(self, why: str) -> None:
        """The rig left the LAN: offline on the platform at once."""
        with self._lock:
            if not self.online and not self._announced:
                return
            self.online = False
            self._announced = False
            self._register_due = None
            self._report_offline()
        log.info("rig %s is offline (%s)", self.rig_id, why)

    def _report_offline(self) -> None:
        """The platform is told the rig is gone; while it is unreachable, on its return
        (its broker may have lost the link's last will with its own restart)."""
        client = self.client
        if client is not None and client.connected and self.bundle is not None:
            offline = offline_status(self._worker_id, int(self._now()))
            self._publish(Uplink.STATUS, encode(offline))
            self._listed_online = False

    def rig_message(self, suffix: Uplink, raw: bytes) -> None:
        try:
            payload = decode_json(raw)
        except ProtocolError as error:
            self._drop(suffix.value, "malformed", str(error))
            return
        try:
            if suffix is Uplink.REGISTER:
                self._on_register(payload)
            elif suffix is Uplink.HEARTBEAT:
                self._on_heartbeat(payload)
            elif suffix is Uplink.STATUS:
                self._on_status(payload)
            elif suffix is Uplink.BLOCK:
                self._on_block(payload)
            else:
                self._drop(suffix.value, "unsupported", "the bridge relays no such message")
        except Untranslatable as error:
            self._drop(suffix.value, error.reason, error.detail)

    def _on_register(self, payload: dict[str, Any]) -> None:
        with self._lock:
            self._set_online()
            self._note_address(rig_address(payload))
            if payload != self._register:
                self._register = payload
                self._save_register(payload)
            self._register_due = None  # it registered by itself: no grace to wait out
            self._announce()

    def _on_heartbeat(self, payload: dict[str, Any]) -> None:
        with self._lock:
            self._set_online()
            self._note_address(rig_address(payload))
            heartbeat = heartbeat_for(payload, worker_id=self._worker_id, now=int(self._now()))
            self._active_gpus = heartbeat.active_gpus
            self._heartbeat = (payload, self._now())
            if not self._announced:
                self._announce()  # registers it, then sends this heartbeat
            elif self._can_publish():
                self._publish(Uplink.HEARTBEAT, encode(heartbeat), qos=0)

    def _on_status(self, payload: dict[str, Any]) -> None:
        if is_offline_status(payload):
            self.rig_gone("it said offline")
            return
        with self._lock:
            self._seen()
            if self._can_publish():
                status = status_for(payload, worker_id=self._worker_id, now=int(self._now()))
                self._publish(Uplink.STATUS, encode(status))

    def _on_block(self, payload: dict[str, Any]) -> None:
        # The rig id stands in for the worker id until delivery (it may not be enrolled yet).
        block = block_for(payload, worker_id=self.rig_id, now=int(self._now()))
        with self._lock:
            lease = self._lease
        share = None
        if lease is not None and block.lease_id == lease[0] and lease[1].matches(block.hash):
            share = share_for(block)
        if share is not None:
            self.outbox.put(PLATFORM, Uplink.SHARE.value, encode(share), kind="share")
        usual = self._context.options.block_pattern or NETWORK_BLOCK_PATTERN
        is_block = share is None or is_network_block(block.hash, usual)
        if is_block:
            self.outbox.put(PLATFORM, Uplink.BLOCK.value, encode(block), kind="block")
        with self._lock:
            self.counters["received"] += 1
            self._seen()
        what = "a block" if is_block else "a share"
        log.info("rig %s found %s %s…", self.rig_id, what, block.hash[:16])
        self._wake.set()

    def _set_online(self) -> None:
        if not self.online:
            self.online = True
            log.info("rig %s is online", self.rig_id)

    def _seen(self) -> None:
        """Any message: the rig is there; registered again first if it was not."""
        self._set_online()
        if not self._announced:
            self._announce()

    # -- the platform (paho's thread) --------------------------------------------------

    def _platform_up(self) -> None:
        """Every (re)connection: the rig registers again, then its outbox flows."""
        with self._lock:
            self._announced = False
            due = self._register_due
            # A rig that has just connected gets its grace to register by itself.
            if self.online and (due is None or self._now() >= due):
                self._announce()
            elif not self.online and self._listed_online:
                self._report_offline()
        self._wake.set()

    def _from_platform(self, downlink: Downlink, raw: bytes) -> None:
        try:
            if downlink is Downlink.TASK:
                message = parse_task(raw)
                self._to_rig(Downlink.TASK, rig_task(message))
                if isinstance(message, RegisterAck):
                    self._on_register_ack(message)
                elif isinstance(message, AssignTask):
                    self._on_assign(message)
                elif isinstance(message, Release):
                    self._on_release(message)
                return
            command = rig_control(parse_control(raw))
            if command is None:
                log.debug("rig %s: a set_config with nothing it understands", self.rig_id)
                return
            self._to_rig(Downlink.CONTROL, command)
        except ProtocolError as error:
            log.warning("rig %s: ignoring a malformed %s: %s", self.rig_id, downlink.value, error)

    def _on_register_ack(self, ack: RegisterAck) -> None:
        if not ack.accepted:
            log.error("rig %s: the platform refused it: %s", self.rig_id, ack.reason)
            return
        options = self._context.options
        owner = self._owner
        address = None
        if (
            options.mine_for_owner
            and owner is not None
            and self._rig_address is not None
            and not same_address(self._rig_address, owner)
        ):
            address = owner
        settings = rig_set_config(address=address, block_pattern=options.block_pattern)
        if settings is not None:
            self._to_rig(Downlink.CONTROL, settings)

    def _on_assign(self, task: AssignTask) -> None:
        """The lease's share pattern becomes the rig's block pattern (the only pattern the
        C++ miner takes), so its hits come back as block reports: the lease's shares."""
        pattern = SharePattern.parse(task.share_pattern) if task.share_pattern else None
        if pattern is None or pattern.char_set:
            log.warning("rig %s: lease %s has no literal share pattern", self.rig_id, task.lease_id)
            return
        with self._lock:
            self._lease = (task.lease_id, pattern)
        settings = rig_set_config(block_pattern=str(pattern))
        assert settings is not None
        self._to_rig(Downlink.CONTROL, settings)

    def _on_release(self, release: Release) -> None:
        with self._lock:
            if self._lease is None or release.lease_id not in ("", self._lease[0]):
                return
            self._lease = None
        # Back to its usual block pattern ("" is the C++ miner's own, XEN11).
        settings = rig_set_config(block_pattern=self._context.options.block_pattern or "")
        assert settings is not None
        self._to_rig(Downlink.CONTROL, settings)

    # -- delivery (the link's thread) --------------------------------------------------

    def _tick(self) -> None:
        with self._lock:
            due = self._register_due
            if due is not None and self._now() >= due and self.online and not self._announced:
                self._announce()
        self._deliver()

    def _deliver(self, limit: int = 100) -> None:
        client, bundle = self.client, self.bundle
        if client is None or bundle is None or not client.connected:
            return
        for entry in self.outbox.pending(PLATFORM, limit, due_only=False):
            uplink = Uplink.SHARE if entry.topic == Uplink.SHARE.value else Uplink.BLOCK
            try:
                stored = parse_uplink(uplink, entry.payload)
                assert isinstance(stored, BlockFound | Share)
                proof = stored.model_copy(update={"worker_id": bundle.worker_id})
                if isinstance(proof, BlockFound) and self._owner is not None:
                    check_block_account(proof, self._owner)
            except (ProtocolError, Untranslatable) as error:
                self.outbox.remove(entry.id)
                reason = error.reason if isinstance(error, Untranslatable) else "malformed"
                self._drop(uplink.value, reason, str(error))
                continue
            if client.deliver(self._topic(uplink), encode(proof)):
                self.outbox.remove(entry.id)
                with self._lock:
                    self.counters["delivered"] += 1
            else:
                self.outbox.mark_attempt(entry.id, "no PUBACK from the broker", retry_in=0)
                return  # the connection is down; the next connect wakes us

    # -- helpers -----------------------------------------------------------------------

    @property
    def _worker_id(self) -> str:
        return self.bundle.worker_id if self.bundle is not None else self.rig_id

    @property
    def _owner(self) -> str | None:
        return self.bundle.owner if self.bundle is not None else None

    def _now(self) -> float:
        return self._context.clock()

    def _can_publish(self) -> bool:
        client = self.client
        return client is not None and client.connected and self.bundle is not None

    def _announce(self) -> None:
        """Register the rig on the platform (its last register, or one made up from what
        it said since): the owner's address, the rig's GPUs. Under ``_lock``."""
        if not self._can_publish() or self._owner is None:
            return
        payload = self._register or {"gpu_count": self._active_gpus}
        register = register_for(
            payload, worker_id=self._worker_id, owner=self._owner, now=int(self._now())
        )
        self._publish(Uplink.REGISTER, encode(register))
        self._announced = True
        self._listed_online = True
        self._register_due = None
        # Its figures at once, not at its next heartbeat (the C++ miner's come every 30 s).
        if self._heartbeat is not None:
            payload, at = self._heartbeat
            if self._now() - at <= HEARTBEAT_REPLAY_SECONDS:
                heartbeat = heartbeat_for(payload, worker_id=self._worker_id, now=int(at))
                self._publish(Uplink.HEARTBEAT, encode(heartbeat), qos=0)

    def _note_address(self, address: str | None) -> None:
        owner = self._owner
        if address is None or address == self._warned_address:
            return
        self._rig_address = address
        if owner is not None and not same_address(address, owner):
            self._warned_address = address
            log.warning(
                "rig %s mines for %s, not the owner %s: it is registered under the owner's "
                "address, and its self-mined blocks are not the platform's (dropped)%s",
                self.rig_id,
                address,
                owner,
                "; asking it to mine for the owner"
                if self._context.options.mine_for_owner
                else " (--mine-for-owner asks it to mine for the owner)",
            )

    def _topic(self, uplink: Uplink) -> str:
        bundle = self.bundle
        assert bundle is not None
        return bundle.publish_topics.get(uplink.value) or topic(bundle.worker_id, uplink)

    def _publish(self, uplink: Uplink, payload: bytes, *, qos: int = 1) -> None:
        client = self.client
        if client is not None and self.bundle is not None:
            client.publish(self._topic(uplink), payload, qos=qos)

    def _to_rig(self, downlink: Downlink, message: dict[str, Any]) -> None:
        payload = json.dumps(message, separators=(",", ":")).encode()
        self._context.to_rig(topic(self.rig_id, downlink), payload)

    def _drop(self, what: str, reason: str, detail: str) -> None:
        with self._lock:
            self.counters[f"dropped:{reason}"] += 1
        log.warning("rig %s: dropped a %s (%s): %s", self.rig_id, what, reason, detail)

    def _load_register(self) -> dict[str, Any] | None:
        path = self.directory / REGISTER_FILE
        try:
            return decode_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ProtocolError) as error:
            log.warning("rig %s: ignoring %s: %s", self.rig_id, path, error)
            return None

    def _save_register(self, payload: dict[str, Any]) -> None:
        path = self.directory / REGISTER_FILE
        temp = path.with_name(f".{REGISTER_FILE}.tmp")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(json.dumps(payload).encode())
            os.replace(temp, path)
        except OSError as error:
            log.warning("rig %s: cannot keep its register in %s: %s", self.rig_id, path, error)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            dropped = sum(n for key, n in self.counters.items() if key.startswith("dropped:"))
            client = self.client
            return {
                "rig_id": self.rig_id,
                "worker_id": self.bundle.worker_id if self.bundle is not None else None,
                "online": self.online,
                "platform": "connected" if client is not None and client.connected else "down",
                "received": self.counters["received"],
                "delivered": self.counters["delivered"],
                "dropped": dropped,
                "problem": self.problem,
            }

    def pending_blocks(self) -> int:
        try:
            return self.outbox.count(PLATFORM)
        except OutboxError:
            return 0
