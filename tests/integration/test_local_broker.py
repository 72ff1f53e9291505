"""The local broker, both kinds, over real sockets: mutual TLS, per-rig ACLs, revocation,
IoT Core's payload cap."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from functions.dal.workers import WorkerRepository
from functions.local import broker as broker_module
from functions.local.broker import (
    BrokerUnavailable,
    RunningBroker,
    find_mosquitto,
    start_broker,
)
from functions.local.ca import SERVICE_IDENTITY, LocalCertificateAuthority
from functions.local.mqtt_client import (
    ConnectionRefused,
    MqttError,
    ServiceClient,
    SubscriptionRefused,
)
from functions.local.stack import PortInUse
from functions.logic.enrolment import EnrolmentService
from functions.ports.aws_iot import MAX_MQTT_PAYLOAD_BYTES
from functions.ports.csr import generate_key_and_csr
from functions.ports.devices import DeviceCommands
from protocol.codec import encode
from protocol.downlink import Control, RegisterAck
from tests.factories import PROVIDER
from tests.local_stack import free_port

KINDS = [
    pytest.param(
        "mosquitto",
        marks=pytest.mark.skipif(
            find_mosquitto() is None,
            reason="mosquitto is not installed (scripts/dev test installs it)",
        ),
    ),
    "amqtt",
]
TIMEOUT = 5.0
# "Nothing arrived" is never watched for a while: a sentinel sent after the forbidden message,
# on the same connections, must arrive, and a broker delivers one sender's messages to one
# subscriber in order, so whatever was let through would have arrived before it.


class Inbox:
    """What a subscription delivered, with a way to wait for a message."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._changed = threading.Condition()

    def __call__(self, topic: str, payload: bytes) -> None:
        with self._changed:
            self.messages.append((topic, payload))
            self._changed.notify_all()

    def wait_for(self, topic: str, payload: bytes, timeout: float = TIMEOUT) -> None:
        with self._changed:
            arrived = self._changed.wait_for(
                lambda: (topic, payload) in self.messages, timeout=timeout
            )
        assert arrived, f"{topic} {payload!r} never arrived; got {self.messages}"

    def topics(self) -> set[str]:
        with self._changed:
            return {topic for topic, _ in self.messages}

    def sizes(self) -> list[int]:
        with self._changed:
            return [len(payload) for _, payload in self.messages]


def _wait_disconnected(client: ServiceClient, timeout: float = TIMEOUT) -> None:
    """Until the client saw the broker close its connection (paho waits a second or more
    before it reconnects, so polling sees the gap)."""
    deadline = time.monotonic() + timeout
    while client.connected:
        assert time.monotonic() < deadline, f"{client.client_id} is still connected"
        time.sleep(0.01)


@pytest.fixture
def ca(tmp_path: Path) -> LocalCertificateAuthority:
    return LocalCertificateAuthority(tmp_path / "ca")


@pytest.fixture
def watch_interval() -> float:
    """How often the broker looks for revocations made by another process."""
    return broker_module.WATCH_INTERVAL


@pytest.fixture(params=KINDS)
def broker(
    request: pytest.FixtureRequest,
    ca: LocalCertificateAuthority,
    tmp_path: Path,
    watch_interval: float,
) -> Iterator[RunningBroker]:
    running = start_broker(
        ca,
        port=free_port(),
        state_dir=tmp_path / "broker",
        kind=request.param,
        watch_interval=watch_interval,
    )
    try:
        yield running
    finally:
        running.stop()


Connect = Callable[..., ServiceClient]


@pytest.fixture
def connect(broker: RunningBroker, tmp_path: Path) -> Iterator[Connect]:
    """A client with the given certificate files, connected; closed after the test."""
    clients: list[ServiceClient] = []

    def make(
        identity: tuple[Path, Path] | None, client_id: str, *, timeout: float = TIMEOUT
    ) -> ServiceClient:
        client = ServiceClient(
            host=broker.host,
            port=broker.port,
            ca_path=broker.ca_path,
            cert_path=identity[0] if identity else None,
            key_path=identity[1] if identity else None,
            client_id=client_id,
            timeout=timeout,
        )
        clients.append(client)
        client.connect()
        return client

    try:
        yield make
    finally:
        for client in clients:
            client.close()


@pytest.fixture
def identities(ca: LocalCertificateAuthority, tmp_path: Path) -> Callable[[str], tuple[Path, Path]]:
    return lambda name: ca.issue_identity(name, tmp_path / "identities")


@pytest.fixture
def service(connect: Connect, identities: Callable[[str], tuple[Path, Path]]) -> ServiceClient:
    return connect(identities(SERVICE_IDENTITY), "platform")


def test_a_rig_publishes_on_its_own_topic_and_the_service_receives_it(
    broker, connect, identities, service
):
    inbox = Inbox()
    service.subscribe("xenminer/#", inbox)
    rig = connect(identities("rig-a"), "rig-a")

    rig.publish("xenminer/rig-a/heartbeat", b'{"hashrate": 1}')

    inbox.wait_for("xenminer/rig-a/heartbeat", b'{"hashrate": 1}')


def test_the_service_commands_reach_the_rig(broker, connect, identities, service):
    rig = connect(identities("rig-a"), "rig-a")
    inbox = Inbox()
    rig.subscribe("xenminer/rig-a/#", inbox)
    commands = DeviceCommands(service)  # the ServiceClient is the port's local adapter

    commands.task("rig-a", RegisterAck(accepted=True))
    commands.control("rig-a", Control(action="pause"))

    inbox.wait_for("xenminer/rig-a/task", encode(RegisterAck(accepted=True)))
    inbox.wait_for("xenminer/rig-a/control", encode(Control(action="pause")))


def test_a_client_without_a_certificate_is_refused(broker, connect):
    with pytest.raises(MqttError):
        connect(None, "rig-a")


def test_a_certificate_from_another_ca_is_refused(broker, connect, tmp_path):
    stranger = LocalCertificateAuthority(tmp_path / "another-ca")
    with pytest.raises(MqttError):
        connect(stranger.issue_identity("rig-a", tmp_path / "stranger"), "rig-a")


def test_the_brokers_server_certificate_is_not_a_client_certificate(broker, connect):
    server = (broker.state_dir / "server.pem", broker.state_dir / "server.key")
    with pytest.raises(MqttError):
        connect(server, "xenblocks-local-broker")


def test_a_rig_cannot_publish_for_another_worker(broker, connect, identities, service):
    inbox = Inbox()
    service.subscribe("xenminer/#", inbox)
    rig = connect(identities("rig-a"), "rig-a")

    rig.publish("xenminer/rig-b/heartbeat", b"forged")  # acknowledged, then dropped
    rig.publish("xenminer/rig-a/heartbeat", b"after")  # proves the first had its chance

    inbox.wait_for("xenminer/rig-a/heartbeat", b"after")
    assert "xenminer/rig-b/heartbeat" not in inbox.topics()


def test_a_rig_receives_nothing_of_another_worker(broker, connect, identities, service):
    rig = connect(identities("rig-a"), "rig-a")
    foreign, own = Inbox(), Inbox()
    if broker.kind == "amqtt":
        with pytest.raises(SubscriptionRefused):
            rig.subscribe("xenminer/rig-b/task", foreign)
    else:  # mosquitto 2.0 grants the subscription and filters every delivery
        rig.subscribe("xenminer/rig-b/task", foreign)
    rig.subscribe("xenminer/rig-a/task", own)

    service.publish("xenminer/rig-b/task", b"not yours")
    service.publish("xenminer/rig-a/task", b"yours")

    own.wait_for("xenminer/rig-a/task", b"yours")  # the sentinel, after the other
    assert foreign.messages == []
    assert own.messages == [("xenminer/rig-a/task", b"yours")]


def test_a_wildcard_subscription_only_brings_the_rigs_own_topics(
    broker, connect, identities, service
):
    rig = connect(identities("rig-a"), "rig-a")
    inbox = Inbox()
    if broker.kind == "amqtt":
        with pytest.raises(SubscriptionRefused):
            rig.subscribe("xenminer/+/task", inbox)
        rig.subscribe("xenminer/rig-a/#", inbox)
    else:
        rig.subscribe("xenminer/+/task", inbox)

    service.publish("xenminer/rig-b/task", b"not yours")
    service.publish("xenminer/rig-a/task", b"yours")

    inbox.wait_for("xenminer/rig-a/task", b"yours")  # the sentinel, after the other
    assert inbox.topics() == {"xenminer/rig-a/task"}


def test_another_rigs_client_id_neither_lends_its_rights_nor_knocks_it_offline(
    broker, connect, identities, service
):
    inbox = Inbox()
    service.subscribe("xenminer/#", inbox)
    owner, commands = connect(identities("rig-a"), "rig-a"), Inbox()
    owner.subscribe("xenminer/rig-a/task", commands)
    impostor_identity = identities("rig-b")

    if broker.kind == "amqtt":
        # As IoT Core: the CONNECT is refused, before any take-over of the owner's session.
        with pytest.raises(ConnectionRefused, match="Not authorized"):
            connect(impostor_identity, "rig-a")
    else:
        # mosquitto 2.0 cannot refuse it: the client is renamed to its CN, so the owner's
        # connection stays, and the rights are rig-b's.
        impostor = connect(impostor_identity, "rig-a")
        impostor.publish("xenminer/rig-a/heartbeat", b"forged")
        impostor.publish("xenminer/rig-b/heartbeat", b"after")
        inbox.wait_for("xenminer/rig-b/heartbeat", b"after")
        assert "xenminer/rig-a/heartbeat" not in inbox.topics()
    service.publish("xenminer/rig-a/task", b"still yours")
    commands.wait_for("xenminer/rig-a/task", b"still yours")
    owner.publish("xenminer/rig-a/heartbeat", b"still here")
    inbox.wait_for("xenminer/rig-a/heartbeat", b"still here")
    assert owner.connected


def test_a_retained_publish_ends_the_connection_and_is_never_relayed(
    broker, connect, identities, service
):
    identity = identities("rig-a")
    rig = connect(identity, "rig-a", timeout=2.0)
    with contextlib.suppress(MqttError):  # never acknowledged: the broker hangs up
        rig.publish("xenminer/rig-a/status", b"retained", retain=True)
    _wait_disconnected(rig)
    rig.close()  # or paho sends it again once it is back

    inbox = Inbox()  # a subscriber that comes after would get a retained message at once
    service.subscribe("xenminer/#", inbox)
    again = connect(identity, "rig-a")
    again.publish("xenminer/rig-a/heartbeat", b"sentinel")
    inbox.wait_for("xenminer/rig-a/heartbeat", b"sentinel")
    assert inbox.messages == [("xenminer/rig-a/heartbeat", b"sentinel")]


def test_a_connect_with_a_retained_last_will_is_refused(broker, identities, service, tmp_path):
    rig = ServiceClient(
        host=broker.host,
        port=broker.port,
        ca_path=broker.ca_path,
        cert_path=identities("rig-a")[0],
        key_path=identities("rig-a")[1],
        client_id="rig-a",
        timeout=TIMEOUT,
    )
    rig.set_will("xenminer/rig-a/status", b'{"status":"offline"}', retain=True)
    try:
        with pytest.raises(MqttError):
            rig.connect()
    finally:
        rig.close()
    assert service.connected


def test_a_revoked_certificate_is_refused(broker, connect, ca, tmp_path):
    key_pem, csr_pem = generate_key_and_csr("rig-r")
    issued = ca.issue("rig-r", csr_pem)
    identity = (tmp_path / "rig-r.pem", tmp_path / "rig-r.key")
    identity[0].write_text(issued.certificate_pem)
    identity[1].write_text(key_pem)
    connect(identity, "rig-r").close()  # good until revoked

    ca.revoke("rig-r", issued.certificate_id)
    broker.sync_revocations()

    with pytest.raises(MqttError):
        connect(identity, "rig-r")


def _enrol(ca: LocalCertificateAuthority, tables, directory: Path):  # type: ignore[no-untyped-def]
    """A rig enrolled through the EnrolmentService: (service, worker id, identity files)."""
    enrolment = EnrolmentService(WorkerRepository(tables), ca)
    key_pem, csr_pem = generate_key_and_csr("rig")
    enrolled = enrolment.enrol(PROVIDER, csr_pem=csr_pem, name="", now=int(time.time()))
    worker_id = enrolled.worker.worker_id
    identity = (directory / f"{worker_id}.pem", directory / f"{worker_id}.key")
    identity[0].write_text(enrolled.certificate.certificate_pem)
    identity[1].write_text(key_pem)
    return enrolment, worker_id, identity


# The broker's watcher (revocations by another process) sleeps: the revocation itself closes
# the connection.
@pytest.mark.parametrize("watch_interval", [3600.0])
def test_revoking_a_rig_closes_its_open_connection_for_good(
    broker, connect, identities, service, ca, tables, tmp_path
):
    inbox = Inbox()
    service.subscribe("xenminer/#", inbox)
    enrolment, worker_id, identity = _enrol(ca, tables, tmp_path)
    rig = connect(identity, worker_id)
    rig.publish(f"xenminer/{worker_id}/heartbeat", b"before")
    inbox.wait_for(f"xenminer/{worker_id}/heartbeat", b"before")
    other = connect(identities("rig-b"), "rig-b")

    enrolment.revoke(PROVIDER, worker_id, now=int(time.time()))

    _wait_disconnected(rig)  # the rig sees its connection closed...
    with pytest.raises(MqttError):  # ...cannot come back...
        connect(identity, worker_id)
    rig.timeout = 1.0
    with pytest.raises(MqttError):  # ...and what it publishes now is never acknowledged
        rig.publish(f"xenminer/{worker_id}/heartbeat", b"after")
    assert not rig.connected
    other.publish("xenminer/rig-b/heartbeat", b"sentinel")  # a valid rig still gets through
    inbox.wait_for("xenminer/rig-b/heartbeat", b"sentinel")
    # "after" never left the rig: it has no connection and cannot make one.
    assert (f"xenminer/{worker_id}/heartbeat", b"after") not in inbox.messages
    assert other.connected
    assert service.connected


@pytest.mark.parametrize("watch_interval", [3600.0])
@pytest.mark.parametrize("broker", KINDS[:1], indirect=True)  # amqtt refuses such a rig
def test_revocation_closes_a_rig_connected_under_another_client_id(
    broker, connect, service, ca, tables, tmp_path
):
    assert broker.kind == "mosquitto"
    enrolment, worker_id, identity = _enrol(ca, tables, tmp_path)
    rig = connect(identity, "not-the-worker-id")

    enrolment.revoke(PROVIDER, worker_id, now=int(time.time()))

    _wait_disconnected(rig)
    assert service.connected


def test_a_revocation_made_by_another_process_closes_the_connection_too(
    broker, connect, service, ca, tables, tmp_path
):
    _, worker_id, identity = _enrol(ca, tables, tmp_path)
    rig = connect(identity, worker_id)
    elsewhere = LocalCertificateAuthority(ca.directory)  # a CLI's view of the same CA

    elsewhere.revoke(worker_id, WorkerRepository(tables).require(worker_id).certificate_id)

    _wait_disconnected(rig)  # the broker's watcher noticed
    with pytest.raises(MqttError):
        connect(identity, worker_id)
    assert service.connected


def test_a_payload_over_iot_cores_cap_ends_the_connection_and_is_never_relayed(
    broker, connect, identities, service
):
    inbox = Inbox()
    service.subscribe("xenminer/#", inbox)
    identity = identities("rig-a")
    rig = connect(identity, "rig-a", timeout=2.0)
    huge = b"x" * (20 * 1024 * 1024)
    publishing = threading.Thread(target=_publish_quietly, args=(rig, huge))
    publishing.start()

    _wait_disconnected(rig)
    rig.close()  # or paho sends the message again once it is back
    publishing.join()
    again = connect(identity, "rig-a")
    again.publish("xenminer/rig-a/heartbeat", b"sentinel")

    # The broker hung up on the huge one before taking it, and the rig that sent it is
    # closed, so nothing of it is left to arrive after the sentinel.
    inbox.wait_for("xenminer/rig-a/heartbeat", b"sentinel")
    assert inbox.sizes() == [len(b"sentinel")]


def _publish_quietly(client: ServiceClient, payload: bytes) -> None:
    with contextlib.suppress(MqttError):  # never acknowledged: the broker hung up
        client.publish("xenminer/rig-a/heartbeat", payload)


@pytest.mark.parametrize("size", [100 * 1000, MAX_MQTT_PAYLOAD_BYTES])
def test_a_payload_within_iot_cores_cap_goes_through(broker, connect, identities, service, size):
    inbox = Inbox()
    service.subscribe("xenminer/#", inbox)
    rig = connect(identities("rig-a"), "rig-a")
    payload = bytes(range(256)) * (size // 256) + b"!" * (size % 256)

    rig.publish("xenminer/rig-a/heartbeat", payload)

    inbox.wait_for("xenminer/rig-a/heartbeat", payload)
    assert rig.connected


def test_subscriptions_come_back_after_the_broker_restarts(
    broker, connect, identities, service, ca, tmp_path
):
    inbox = Inbox()
    service.subscribe("xenminer/#", inbox)
    rig_identity = identities("rig-a")
    broker.stop()

    service.timeout = 0.5
    with pytest.raises(MqttError):  # publish or raise: never dropped silently
        service.publish("xenminer/rig-a/task", b"while down")
    service.timeout = TIMEOUT

    again = start_broker(ca, port=broker.port, state_dir=tmp_path / "again", kind=broker.kind)
    try:
        rig = ServiceClient(
            host=again.host,
            port=again.port,
            ca_path=again.ca_path,
            cert_path=rig_identity[0],
            key_path=rig_identity[1],
            client_id="rig-a",
            timeout=TIMEOUT,
        )
        with rig:
            # paho reconnects on its own (after about a second) and subscribes again.
            for attempt in range(30):
                rig.publish("xenminer/rig-a/heartbeat", f"{attempt}".encode())
                if "xenminer/rig-a/heartbeat" in inbox.topics():
                    break
                threading.Event().wait(0.2)
            assert "xenminer/rig-a/heartbeat" in inbox.topics()
    finally:
        again.stop()


def test_a_port_in_use_is_a_clear_error(broker, ca, tmp_path):
    with pytest.raises(PortInUse, match=str(broker.port)):
        start_broker(ca, port=broker.port, state_dir=tmp_path / "second", kind=broker.kind)


def test_asking_for_a_missing_mosquitto_is_a_clear_error(ca, tmp_path, monkeypatch):
    monkeypatch.setattr(broker_module, "find_mosquitto", lambda: None)
    with pytest.raises(BrokerUnavailable, match="mosquitto is not installed"):
        start_broker(ca, port=free_port(), state_dir=tmp_path / "b", kind="mosquitto")


def test_auto_falls_back_to_amqtt_and_says_so(ca, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(broker_module, "find_mosquitto", lambda: None)
    with (
        caplog.at_level(logging.INFO, logger="functions.local.broker"),
        start_broker(ca, port=free_port(), state_dir=tmp_path / "b", kind="auto") as running,
    ):
        assert running.kind == "amqtt"
    assert "using the embedded amqtt broker" in caplog.text


@pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto is not installed")
def test_stopping_mosquitto_leaves_no_process_and_frees_the_port(ca, tmp_path):
    port = free_port()
    running = start_broker(ca, port=port, state_dir=tmp_path / "b", kind="mosquitto")
    process = running.process
    running.stop()
    running.stop()  # twice is fine
    assert process.poll() is not None
    start_broker(ca, port=port, state_dir=tmp_path / "c", kind="mosquitto").stop()
