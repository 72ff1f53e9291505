"""``/api/alerts`` with channels: secrets accepted, sealed, and never returned."""

from __future__ import annotations

import json

import pytest

from functions.dal.alerts import rule_sk
from functions.dal.specs import ALERTS
from tests.api_client import api_context, auth, client_for
from tests.factories import PROVIDER

TOKEN = "123456789:AAH" + "x" * 28 + "SeCr"
DISCORD_TOKEN = "d" * 64 + "HoOk"
DISCORD = f"https://discord.com/api/webhooks/112233445566778899/{DISCORD_TOKEN}"
CHANNELS = {
    "telegram": {"bot_token": TOKEN, "chat_id": "-100123"},
    "discord": {"webhook_url": DISCORD},
    "email": {"address": "ops@example.com"},
}


@pytest.fixture
def client(settings, tables):
    sending = settings.model_copy(update={"alert_email_sender": "alerts@example.com"})
    return client_for(api_context(sending, tables))


def create(client, **fields):
    body = {"name": "too hot", "kind": "temperature", "threshold": 85, **fields}
    return client.post("/api/alerts/rules", json=body, headers=auth(PROVIDER))


def _secret_free(text: str) -> bool:
    return "AAH" + "x" * 28 not in text and DISCORD_TOKEN not in text and DISCORD not in text


def test_secrets_are_accepted_sealed_and_shown_only_as_hints(client, tables):
    response = create(
        client,
        channels=CHANNELS,
        quiet_hours={"start_hour": 22, "end_hour": 7, "timezone": "Europe/Berlin"},
        max_per_hour=5,
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["channels"] == {
        "telegram": {"chat_id": "-100123", "bot_token_hint": "…SeCr"},
        "discord": {"webhook_url_hint": "…HoOk"},
        "email": {"address": "ops@example.com"},
    }
    assert body["quiet_hours"] == {"start_hour": 22, "end_hour": 7, "timezone": "Europe/Berlin"}
    assert body["max_per_hour"] == 5
    listed = client.get("/api/alerts/rules", headers=auth(PROVIDER))
    patched = client.patch(
        f"/api/alerts/rules/{body['rule_id']}", json={"threshold": 90}, headers=auth(PROVIDER)
    )
    assert patched.json()["channels"] == body["channels"]
    for answer in (response, listed, patched):
        assert _secret_free(answer.text), answer.text
        assert "sealed" not in answer.text
    stored = tables.client.get_item(
        TableName=tables.name(ALERTS),
        Key={"owner": {"S": PROVIDER}, "sk": {"S": rule_sk(body["rule_id"])}},
    )["Item"]
    assert _secret_free(json.dumps(stored))
    assert stored["channels"]["M"]["telegram"]["M"]["bot_token_sealed"]["S"].startswith("v1.")


def test_a_rule_without_channels_shows_none(client):
    body = create(client).json()
    assert body["channels"] == {"telegram": None, "discord": None, "email": None}
    assert (body["quiet_hours"], body["max_per_hour"]) == (None, None)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"channels": {"telegram": {"bot_token": "nope", "chat_id": "1"}}}, "bot_token"),
        ({"channels": {"telegram": {"bot_token": TOKEN, "chat_id": "x"}}}, "chat_id"),
        ({"channels": {"discord": {"webhook_url": "https://evil.example/x"}}}, "Discord"),
        ({"channels": {"email": {"address": "not-an-address"}}}, "e-mail address"),
        ({"quiet_hours": {"start_hour": 3, "end_hour": 3}}, "must differ"),
        ({"quiet_hours": {"start_hour": 3, "end_hour": 4, "timezone": "Moon/Base"}}, "IANA"),
    ],
)
def test_bad_channel_input_is_a_422_that_says_what_is_wrong(client, fields, message):
    response = create(client, **fields)
    assert response.status_code == 422, response.text
    assert message in response.json()["error"]["message"]
    assert _secret_free(response.text)


def test_an_email_channel_is_refused_where_no_email_is_sent(settings, tables):
    plain = client_for(api_context(settings, tables))
    response = create(plain, channels={"email": {"address": "ops@example.com"}})
    assert response.status_code == 422
    assert "does not send e-mail" in response.json()["error"]["message"]


def test_patch_sets_and_removes_channels_one_by_one(client):
    rule = create(client, channels=CHANNELS, max_per_hour=5).json()
    url = f"/api/alerts/rules/{rule['rule_id']}"

    changed = client.patch(
        url,
        json={
            "channels": {"discord": None, "telegram": {"bot_token": TOKEN, "chat_id": "@ops_chat"}},
            "quiet_hours": {"start_hour": 1, "end_hour": 5},
            "max_per_hour": None,
        },
        headers=auth(PROVIDER),
    )

    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["channels"] == {
        "telegram": {"chat_id": "@ops_chat", "bot_token_hint": "…SeCr"},
        "discord": None,
        "email": {"address": "ops@example.com"},
    }
    assert body["quiet_hours"] == {"start_hour": 1, "end_hour": 5, "timezone": "UTC"}
    assert body["max_per_hour"] is None
    cleared = client.patch(url, json={"quiet_hours": None}, headers=auth(PROVIDER)).json()
    assert cleared["quiet_hours"] is None
    assert cleared["channels"] == body["channels"]
    refused = client.patch(url, json={"channels": None}, headers=auth(PROVIDER))
    assert refused.status_code == 422


def test_events_show_each_channels_outcome(client, tables):
    from functions.dal.alerts import AlertRepository
    from functions.models.alerts import ChannelDelivery, ChannelKind, DeliveryStatus
    from tests.factories import alert_event

    alerts = AlertRepository(tables)
    event = alert_event(1, delivery=DeliveryStatus.PENDING)
    assert alerts.fire(event, cooldown_seconds=60)
    failed = ChannelDelivery(
        channel=ChannelKind.TELEGRAM, status=DeliveryStatus.FAILED, attempts=3, error="HTTP 502"
    )
    alerts.record_delivery(
        event,
        delivery=DeliveryStatus.FAILED,
        attempts=3,
        error="HTTP 502",
        delivered_at=None,
        deliveries=(failed,),
    )

    (shown,) = client.get("/api/alerts/events", headers=auth(PROVIDER)).json()["items"]
    assert shown["deliveries"] == [
        {
            "channel": "telegram",
            "status": "failed",
            "attempts": 3,
            "error": "HTTP 502",
            "delivered_at": None,
        }
    ]
    assert shown["suppressed_reason"] is None
