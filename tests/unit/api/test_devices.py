"""``/api/devices``: enrol with a CSR or a generated key, list, revoke."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from functions.api.context import ApiContext
from functions.dal.listings import ListingRepository
from functions.dal.specs import WORKERS
from functions.dal.workers import WorkerRepository
from functions.local.ca import LocalCertificateAuthority
from functions.ports.csr import generate_key_and_csr
from functions.ports.devices import RecordingPublisher
from tests.api_client import api_settings, auth, client_for
from tests.factories import NOW, PROVIDER, address, listing_of


@pytest.fixture
def ca(tmp_path):
    return LocalCertificateAuthority(tmp_path / "ca")


@pytest.fixture
def client(settings, tables, ca):
    context = ApiContext(
        settings=api_settings(settings),
        tables=tables,
        ca=ca,
        publisher=RecordingPublisher(),
        clock=lambda: NOW,
    )
    return client_for(context)


def test_enrol_with_a_csr_returns_a_certificate_for_the_rigs_own_key(client, tables, ca):
    key_pem, csr_pem = generate_key_and_csr("anything")
    response = client.post(
        "/api/devices", json={"csr_pem": csr_pem, "name": "garage rig"}, headers=auth(PROVIDER)
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert "private_key_pem" not in body
    assert body["ca_pem"] == ca.ca_pem
    assert (body["mqtt_host"], body["mqtt_port"]) == ("localhost", 8883)
    cert = x509.load_pem_x509_certificate(body["certificate_pem"].encode())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == body["worker_id"]
    private = serialization.load_pem_private_key(key_pem.encode(), None)
    assert cert.public_key() == private.public_key()
    worker = WorkerRepository(tables).require(body["worker_id"])
    assert worker.owner == PROVIDER
    assert worker.name == "garage rig"
    assert worker.certificate_id == body["certificate_id"]
    worker_id = body["worker_id"]
    assert body["publish_topics"]["heartbeat"] == (
        f"$aws/rules/xenblocks_test_heartbeat/xenminer/{worker_id}/heartbeat"
    )
    assert body["publish_topics"]["block"] == f"xenminer/{worker_id}/block"


def test_the_local_stage_has_no_basic_ingest():
    from functions.api.routers.devices import publish_topics
    from functions.settings import Settings

    topics = publish_topics(Settings(stage="local"), "rig-1")
    assert topics["heartbeat"] == "xenminer/rig-1/heartbeat"
    assert topics["block"] == "xenminer/rig-1/block"
    assert topics["share"] == "xenminer/rig-1/share"


def test_enrol_without_a_csr_returns_a_generated_key_once(client, tables):
    body = client.post("/api/devices", json={}, headers=auth(PROVIDER)).json()
    private = serialization.load_pem_private_key(body["private_key_pem"].encode(), None)
    cert = x509.load_pem_x509_certificate(body["certificate_pem"].encode())
    assert cert.public_key() == private.public_key()
    stored = tables.client.get_item(
        TableName=tables.name(WORKERS),
        Key={"worker_id": {"S": body["worker_id"]}},
    )["Item"]
    assert "PRIVATE KEY" not in str(stored)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"csr_pem": "not a csr"}, 422),
        ({"csr_pem": "x" * 9000}, 422),
        ({"csr_pem": None, "surprise": 1}, 422),
        ({"name": "tab\there"}, 422),
    ],
)
def test_bad_enrolment_requests_are_refused_with_the_error_format(client, tables, body, status):
    response = client.post("/api/devices", json=body, headers=auth(PROVIDER))
    assert response.status_code == status
    assert response.json()["error"]["code"] == "invalid_input"
    assert WorkerRepository(tables).list_by_owner(PROVIDER, limit=10).items == []


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"}],
)
def test_devices_need_a_signed_in_caller(client, headers):
    response = client.post("/api/devices", json={}, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_list_shows_only_the_callers_devices(client):
    mine = {client.post("/api/devices", json={}, headers=auth(PROVIDER)).json()["worker_id"]}
    client.post("/api/devices", json={}, headers=auth(address(9)))
    listed = client.get("/api/devices", headers=auth(PROVIDER)).json()
    assert {d["worker_id"] for d in listed["items"]} == mine
    assert listed["items"][0]["online"] is False


def test_revoke_marks_the_worker_and_revokes_the_certificate(client, tables, ca):
    body = client.post("/api/devices", json={}, headers=auth(PROVIDER)).json()
    worker_id = body["worker_id"]
    cert = x509.load_pem_x509_certificate(body["certificate_pem"].encode())

    assert client.delete(f"/api/devices/{worker_id}", headers=auth(address(9))).status_code == 404
    assert not ca.is_revoked(cert)
    assert client.delete(f"/api/devices/{worker_id}", headers=auth(PROVIDER)).status_code == 204
    assert client.delete(f"/api/devices/{worker_id}", headers=auth(PROVIDER)).status_code == 204
    assert ca.is_revoked(cert)
    assert WorkerRepository(tables).require(worker_id).revoked


def test_a_listed_device_must_be_delisted_before_revoking(client, tables):
    worker_id = client.post("/api/devices", json={}, headers=auth(PROVIDER)).json()["worker_id"]
    listing = listing_of(worker_id, price_per_hour=1_000_000, hashrate=100.0)
    ListingRepository(tables).create(listing)
    response = client.delete(f"/api/devices/{worker_id}", headers=auth(PROVIDER))
    assert response.status_code == 409
    assert "delist" in response.json()["error"]["message"]
