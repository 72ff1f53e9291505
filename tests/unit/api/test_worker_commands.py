"""``POST /api/workers/{id}/commands``: control messages to the caller's own rigs."""

from __future__ import annotations

import pytest

from functions.api.context import ApiContext
from functions.dal.workers import WorkerRepository
from functions.local.ca import LocalCertificateAuthority
from functions.ports.devices import RecordingPublisher
from protocol.codec import parse_control
from tests.api_client import api_settings, auth, client_for
from tests.factories import NOW, PROVIDER, address, enrolled_worker


@pytest.fixture
def publisher():
    return RecordingPublisher()


@pytest.fixture
def client(settings, tables, tmp_path, publisher):
    context = ApiContext(
        settings=api_settings(settings).model_copy(update={"admin_addresses": (address(1),)}),
        tables=tables,
        ca=LocalCertificateAuthority(tmp_path / "ca"),
        publisher=publisher,
        clock=lambda: NOW,
    )
    return client_for(context)


def test_the_owner_pauses_a_rig(client, tables, publisher):
    worker = enrolled_worker(tables)
    response = client.post(
        f"/api/workers/{worker.worker_id}/commands",
        json={"action": "pause"},
        headers=auth(PROVIDER),
    )
    assert response.status_code == 202
    [(topic, payload, qos)] = publisher.sent
    assert topic == f"xenminer/{worker.worker_id}/control"
    assert parse_control(payload).action == "pause"
    assert qos == 1


def test_set_config_carries_its_settings(client, tables, publisher):
    worker = enrolled_worker(tables)
    body = {"action": "set_config", "config": {"heartbeat_sec": 60, "difficulty": 16}}
    response = client.post(
        f"/api/workers/{worker.worker_id}/commands", json=body, headers=auth(address(1))
    )
    assert response.status_code == 202  # an admin may command any rig
    config = parse_control(publisher.sent[0][1]).config
    assert (config.heartbeat_sec, config.difficulty) == (60, 16)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"action": "explode"}, 422),
        ({"action": "set_config"}, 422),  # set_config needs its config
        ({"action": "pause", "config": {"heartbeat_sec": 60}}, 422),
        ({"action": "set_config", "config": {"heartbeat_sec": 1}}, 422),
    ],
)
def test_bad_commands_are_refused_and_nothing_is_sent(client, tables, publisher, body, status):
    worker = enrolled_worker(tables)
    response = client.post(
        f"/api/workers/{worker.worker_id}/commands", json=body, headers=auth(PROVIDER)
    )
    assert response.status_code == status
    assert response.json()["error"]["code"] == "invalid_input"
    assert publisher.sent == []


def test_someone_elses_or_a_revoked_rig_cannot_be_commanded(client, tables, publisher):
    worker = enrolled_worker(tables)
    path = f"/api/workers/{worker.worker_id}/commands"
    assert client.post(path, json={"action": "pause"}, headers=auth(address(5))).status_code == 404
    WorkerRepository(tables).revoke(worker.worker_id, now=NOW)
    assert client.post(path, json={"action": "pause"}, headers=auth(PROVIDER)).status_code == 409
    assert publisher.sent == []
