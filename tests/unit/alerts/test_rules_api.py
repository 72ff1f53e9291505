"""``/api/alerts``: rules of one's own, validated; the secret shown once; events paged."""

from __future__ import annotations

import pytest

from functions.dal.alerts import rule_sk
from functions.dal.specs import ALERTS
from functions.logic.alert_rules import MAX_RULES_PER_OWNER
from tests.api_client import api_context, auth, client_for
from tests.factories import PROVIDER, address, alert_event
from tests.unit.alerts.conftest import HOOK

STRANGER = address(0x5EE)


@pytest.fixture
def client(settings, tables):
    return client_for(api_context(settings, tables))


def new_rule(**fields):
    return {"name": "too hot", "kind": "temperature", "threshold": 85, **fields}


def create(client, owner=PROVIDER, **fields):
    return client.post("/api/alerts/rules", json=new_rule(**fields), headers=auth(owner))


def test_create_returns_the_rule_and_its_secret_once(client, tables, rig):
    worker = rig()
    response = create(client, worker_id=worker.worker_id, webhook_url=HOOK)

    assert response.status_code == 201, response.text
    body = response.json()
    secret = body["webhook_secret"]
    assert secret.startswith("whsec_")
    assert len(secret) > 40
    assert body["worker_id"] == worker.worker_id
    assert (body["kind"], body["threshold"], body["enabled"]) == ("temperature", 85.0, True)
    assert body["cooldown_seconds"] == 3600  # the settings' default
    assert body["webhook_url"] == HOOK
    listed = client.get("/api/alerts/rules", headers=auth(PROVIDER)).json()["items"]
    assert [r["rule_id"] for r in listed] == [body["rule_id"]]
    assert "webhook_secret" not in listed[0]
    patched = client.patch(
        f"/api/alerts/rules/{body['rule_id']}", json={"threshold": 90}, headers=auth(PROVIDER)
    )
    assert "webhook_secret" not in patched.json()
    stored = tables.client.get_item(
        TableName=tables.name(ALERTS),
        Key={"owner": {"S": PROVIDER}, "sk": {"S": rule_sk(body["rule_id"])}},
    )["Item"]
    assert stored["webhook_secret"]["S"] == secret  # kept for signing
    assert stored["rule_shard"]["S"] == "enabled"


def test_each_rule_gets_its_own_secret(client):
    first = create(client).json()["webhook_secret"]
    second = create(client).json()["webhook_secret"]
    assert first != second


@pytest.mark.parametrize("whose", ["stranger", "unknown", "revoked"])
def test_a_rule_on_a_worker_that_is_not_the_callers_is_404(client, rig, whose):
    worker_id = {
        "stranger": lambda: rig(owner=STRANGER).worker_id,
        "unknown": lambda: "rig-nobody",
        "revoked": lambda: rig(revoked=True).worker_id,
    }[whose]()
    response = create(client, worker_id=worker_id)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert client.get("/api/alerts/rules", headers=auth(PROVIDER)).json()["items"] == []


@pytest.mark.parametrize(
    ("kind", "threshold"),
    [("offline", 1441), ("hashrate_drop", 100), ("temperature", 29.9)],
)
def test_thresholds_out_of_range_are_refused(client, kind, threshold):
    response = create(client, kind=kind, threshold=threshold)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_input"
    assert "threshold" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "url", ["http://hooks.example.com/x", "file:///etc/passwd", "https://169.254.169.254/x"]
)
def test_webhook_urls_must_be_public_https(client, url):
    response = create(client, webhook_url=url)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_input"


def test_the_local_stage_also_allows_http_and_private_hosts(settings, tables):
    local = client_for(api_context(settings.model_copy(update={"stage": "local"}), tables))
    response = create(local, webhook_url="http://127.0.0.1:9000/hook")
    assert response.status_code == 201, response.text
    assert create(local, webhook_url="ftp://127.0.0.1/x").status_code == 422


@pytest.mark.parametrize(
    "fields",
    [
        {"cooldown_seconds": 59},
        {"cooldown_seconds": 7 * 86_400 + 1},
        {"kind": "fan"},
        {"name": ""},
        {"name": "x" * 65},
        {"name": "tab\there"},
        {"worker_id": "bad/id"},
        {"surprise": True},
    ],
)
def test_bad_rule_bodies_are_refused(client, fields):
    response = create(client, **fields)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_input"


def test_rules_need_a_signed_in_caller(client):
    assert client.get("/api/alerts/rules").status_code == 401
    assert client.post("/api/alerts/rules", json=new_rule()).status_code == 401
    assert client.get("/api/alerts/events").status_code == 401


def test_an_owner_has_at_most_the_cap_of_rules(client):
    ids = [create(client).json()["rule_id"] for _ in range(MAX_RULES_PER_OWNER)]
    refused = create(client)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "conflict"
    assert create(client, owner=STRANGER).status_code == 201  # the cap is per owner
    assert client.delete(f"/api/alerts/rules/{ids[0]}", headers=auth(PROVIDER)).status_code == 204
    assert create(client).status_code == 201


def test_rules_are_listed_paged(client):
    made = {create(client).json()["rule_id"] for _ in range(5)}
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/alerts/rules", params=params, headers=auth(PROVIDER)).json()
        seen += [r["rule_id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(made)


def test_only_the_owner_sees_patches_and_deletes_a_rule(client, alerts):
    rule_id = create(client).json()["rule_id"]
    path = f"/api/alerts/rules/{rule_id}"

    assert client.get("/api/alerts/rules", headers=auth(STRANGER)).json()["items"] == []
    other_patch = client.patch(path, json={"enabled": False}, headers=auth(STRANGER))
    assert other_patch.status_code == 404
    assert client.delete(path, headers=auth(STRANGER)).status_code == 404
    assert alerts.get_rule(PROVIDER, rule_id).enabled

    assert client.delete(path, headers=auth(PROVIDER)).status_code == 204
    assert client.delete(path, headers=auth(PROVIDER)).status_code == 404
    assert client.get("/api/alerts/rules", headers=auth(PROVIDER)).json()["items"] == []


def test_patch_enables_disables_and_changes_thresholds(client, alerts):
    rule_id = create(client, webhook_url=HOOK).json()["rule_id"]
    path = f"/api/alerts/rules/{rule_id}"

    off = client.patch(path, json={"enabled": False}, headers=auth(PROVIDER))
    assert off.status_code == 200, off.text
    assert off.json()["enabled"] is False
    assert alerts.enabled_rules(limit=10).items == []

    on = client.patch(
        path,
        json={"enabled": True, "threshold": 95, "cooldown_seconds": 120, "webhook_url": None},
        headers=auth(PROVIDER),
    ).json()
    assert (on["enabled"], on["threshold"], on["cooldown_seconds"]) == (True, 95.0, 120)
    assert on["webhook_url"] is None
    assert [r.rule_id for r in alerts.enabled_rules(limit=10).items] == [rule_id]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"threshold": 500},
        {"threshold": None},
        {"enabled": None},
        {"webhook_url": "http://hooks.example.com"},
        {"kind": "offline"},
        {"cooldown_seconds": 10},
    ],
)
def test_bad_patches_change_nothing(client, alerts, body):
    rule_id = create(client).json()["rule_id"]
    before = alerts.get_rule(PROVIDER, rule_id)
    response = client.patch(f"/api/alerts/rules/{rule_id}", json=body, headers=auth(PROVIDER))
    assert response.status_code == 422, response.text
    assert alerts.get_rule(PROVIDER, rule_id) == before


def test_a_bad_rule_id_in_the_path_is_refused(client):
    response = client.delete("/api/alerts/rules/bad.id", headers=auth(PROVIDER))
    assert response.status_code == 422


def test_events_are_listed_newest_first_and_paged(client, alerts):
    for n in range(5):
        # Each on its own rule, so no cooldown stands in the way.
        assert alerts.fire(alert_event(n, rule_id=f"rule-{n}"), cooldown_seconds=60)
    alerts.fire(alert_event(9, owner=STRANGER), cooldown_seconds=60)

    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = client.get("/api/alerts/events", params=params, headers=auth(PROVIDER))
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        seen += [e["event_id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["ev4", "ev3", "ev2", "ev1", "ev0"]
    first = client.get("/api/alerts/events", headers=auth(PROVIDER)).json()["items"][0]
    assert first["delivery"] == "none"
    assert first["message"] == "event 4"
    bad = client.get("/api/alerts/events", params={"cursor": "nonsense"}, headers=auth(PROVIDER))
    assert bad.status_code == 422
