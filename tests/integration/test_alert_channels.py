"""Alert channels end to end: the real local SMTP sink and the Telegram/Discord stand-in on
loopback ports, the alerts job's real senders, rules made by the rule service on moto."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from functions.dal.alerts import AlertRepository
from functions.dal.workers import WorkerRepository
from functions.handlers.alerts import channel_senders, run_alerts
from functions.local.chat_apis import ChatApis, chat_apis
from functions.local.smtp_sink import SmtpSink, smtp_sink
from functions.logic.alert_rules import AlertRuleService, RuleDraft
from functions.models.alerts import AlertKind, AlertRule, ChannelKind, DeliveryStatus
from functions.models.workers import Worker
from functions.ports.webhooks import RecordingWebhookSender
from functions.settings import Settings
from tests.factories import NOW, PROVIDER

BOT_TOKEN = "123456789:AAH" + "x" * 32
CHAT_ID = "-1001234567890"
DISCORD_ID = "112233445566778899"
DISCORD_TOKEN = "t0ken_" + "y" * 62
DISCORD_URL = f"https://discord.com/api/webhooks/{DISCORD_ID}/{DISCORD_TOKEN}"
ADDRESS = "ops@example.com"
# NOW is 2025-11-21 04:40 UTC: in 22:00 to 07:00 UTC.
NIGHT = {"start_hour": 22, "end_hour": 7, "timezone": "UTC"}


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    with smtp_sink(directory=tmp_path / "mail") as running:
        yield running


@pytest.fixture
def apis() -> Iterator[ChatApis]:
    # Only this bot and this webhook exist, as on the real services.
    with chat_apis(
        telegram_tokens={BOT_TOKEN}, discord_webhooks={DISCORD_ID: DISCORD_TOKEN}
    ) as running:
        yield running


@pytest.fixture
def settings(sink: SmtpSink, apis: ChatApis) -> Settings:
    return Settings(
        stage="local",
        jwt_secret=SecretStr("integration-" + "s" * 40),
        telegram_api_url=apis.url,
        discord_api_url=apis.url,
        smtp_host=sink.host,
        smtp_port=sink.port,
        alert_email_sender="alerts@xenblocks.local",
        webhook_attempts=2,
        webhook_timeout_seconds=5,
    )


def _rule(settings: Settings, tables: Any, worker_id: str, **draft: Any) -> AlertRule:
    workers = WorkerRepository(tables)
    workers.create(
        Worker(
            worker_id=worker_id,
            owner=PROVIDER,
            created_at=NOW,
            online=False,
            last_seen=NOW - 3600,
        )
    )
    service = AlertRuleService(settings, AlertRepository(tables), workers)
    fields: dict[str, Any] = {"name": f"{worker_id} down", "kind": AlertKind.OFFLINE}
    created = service.create(
        PROVIDER, RuleDraft(**fields, threshold=5, worker_id=worker_id, **draft), now=NOW
    )
    return created.rule


def _run(settings: Settings, tables: Any) -> Any:
    return run_alerts(settings, tables, RecordingWebhookSender(), NOW, channel_senders(settings))


def _events(tables: Any) -> dict[str, Any]:
    return {e.rule_id: e for e in AlertRepository(tables).list_events(PROVIDER, limit=10).items}


def test_one_alert_reaches_telegram_discord_and_the_mail_sink(
    settings, tables, sink, apis, tmp_path
):
    rule = _rule(
        settings,
        tables,
        "rig-all",
        channels={
            "telegram": {"bot_token": BOT_TOKEN, "chat_id": CHAT_ID},
            "discord": {"webhook_url": DISCORD_URL},
            "email": {"address": ADDRESS},
        },
    )

    summary = _run(settings, tables)

    assert (summary.events_fired, summary.deliveries_ok, summary.channel_failures) == (1, 1, 0)
    (telegram,) = apis.wait_for("telegram", 1, timeout=10)
    (discord,) = apis.wait_for("discord", 1, timeout=10)
    (mail,) = sink.wait_for(1, timeout=10)
    assert (telegram["bot_id"], telegram["chat_id"]) == ("123456789", CHAT_ID)
    assert discord["webhook_id"] == DISCORD_ID
    for text in (telegram["text"], discord["content"], mail.text):
        assert "rig-all down" in text  # the rule
        assert "worker rig-all has been offline for 60 minutes" in text  # worker, message
    assert mail.rcpt_tos == (ADDRESS,)
    assert mail.mail_from == "alerts@xenblocks.local"
    assert mail.subject == "XenBlocks alert: rig-all down (rig-all)"
    assert (tmp_path / "mail" / "1.eml").read_bytes() == mail.raw
    # The stand-in's read endpoint shows the same, and never the bot's token.
    url = f"{apis.url}/_local/messages"
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (http on loopback)
        shown = json.load(response)
    assert [m["text"] for m in shown["telegram"]] == [telegram["text"]]
    assert [m["content"] for m in shown["discord"]] == [discord["content"]]
    assert BOT_TOKEN.split(":")[1] not in json.dumps(shown)
    assert DISCORD_TOKEN not in json.dumps(shown)

    event = _events(tables)[rule.rule_id]
    assert (event.delivery, event.delivered_at, event.delivery_error) == (
        DeliveryStatus.DELIVERED,
        NOW,
        None,
    )
    assert [(d.channel, d.status, d.attempts) for d in event.deliveries] == [
        (ChannelKind.TELEGRAM, DeliveryStatus.DELIVERED, 1),
        (ChannelKind.DISCORD, DeliveryStatus.DELIVERED, 1),
        (ChannelKind.EMAIL, DeliveryStatus.DELIVERED, 1),
    ]


def test_an_unknown_bot_and_a_wrong_webhook_token_are_recorded_as_refused(
    settings, tables, apis, sink
):
    other_bot = "987654321:BBH" + "z" * 32
    wrong = f"https://discord.com/api/webhooks/{DISCORD_ID}/{'w' * 68}"
    rule = _rule(
        settings,
        tables,
        "rig-refused",
        channels={
            "telegram": {"bot_token": other_bot, "chat_id": CHAT_ID},
            "discord": {"webhook_url": wrong},
            "email": {"address": ADDRESS},
        },
    )

    summary = _run(settings, tables)

    assert (summary.deliveries_failed, summary.channel_failures) == (1, 2)
    event = _events(tables)[rule.rule_id]
    assert event.delivery is DeliveryStatus.FAILED
    outcomes = {d.channel: (d.status, d.attempts, d.error) for d in event.deliveries}
    # 401s are answers, not outages: one attempt each, no retry.
    assert outcomes[ChannelKind.TELEGRAM] == (DeliveryStatus.FAILED, 1, "HTTP 401")
    assert outcomes[ChannelKind.DISCORD] == (DeliveryStatus.FAILED, 1, "HTTP 401")
    assert outcomes[ChannelKind.EMAIL] == (DeliveryStatus.DELIVERED, 1, None)
    assert event.delivery_error == "telegram: HTTP 401; discord: HTTP 401"
    assert apis.received() == {"telegram": [], "discord": []}
    sink.wait_for(1, timeout=10)


def test_quiet_hours_record_the_event_and_send_nothing(settings, tables, apis):
    telegram = {"telegram": {"bot_token": BOT_TOKEN, "chat_id": CHAT_ID}}
    quiet = _rule(settings, tables, "rig-quiet", channels=telegram, quiet_hours=NIGHT)
    # The sentinel: the same channel, no quiet hours. Its message arriving proves the run
    # sent what it was going to send; the quiet rule's must not be among them.
    sentinel = _rule(settings, tables, "rig-sentinel", channels=telegram)

    summary = _run(settings, tables)

    (sent,) = apis.wait_for("telegram", 1, timeout=10)
    assert "rig-sentinel" in sent["text"]
    assert [m["text"] for m in apis.received()["telegram"]] == [sent["text"]]
    assert (summary.events_fired, summary.quiet) == (2, 1)
    events = _events(tables)
    held = events[quiet.rule_id]
    assert held.delivery is DeliveryStatus.SUPPRESSED
    assert held.suppressed_reason == "quiet hours (22:00 to 07:00 UTC)"
    assert held.deliveries == ()
    assert events[sentinel.rule_id].delivery is DeliveryStatus.DELIVERED


def test_xenblocks_local_starts_the_stand_ins_and_names_them_in_local_json(tmp_path: Path):
    import smtplib
    import threading
    from email.message import EmailMessage

    from functions.local.stack import LocalOptions, run_local
    from tests.local_stack import free_port
    from tests.waiting import wait_for

    options = LocalOptions(
        dynamodb_port=free_port(),
        mqtt_port=free_port(),
        api_port=free_port(),
        ws_port=free_port(),
        node=False,
        broker="amqtt",
        state_dir=tmp_path,
        dashboard_dir=tmp_path / "no-dashboard",
    )
    stop = threading.Event()
    runner = threading.Thread(target=run_local, args=(options,), kwargs={"stop": stop})
    runner.start()
    try:
        wait_for((tmp_path / "local.json").exists, "local.json", timeout=60)
        local = json.loads((tmp_path / "local.json").read_text())
        assert {"api_url", "ws_url", "mqtt_host", "mqtt_port", "network_url"} <= set(local)
        chat = local["chat_api_url"]
        request = urllib.request.Request(  # noqa: S310 (http on loopback)
            f"{chat}/bot{BOT_TOKEN}/sendMessage",
            data=json.dumps({"chat_id": CHAT_ID, "text": "hello"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            assert json.load(response)["ok"] is True
        with urllib.request.urlopen(f"{chat}/_local/messages", timeout=5) as response:  # noqa: S310
            assert [m["text"] for m in json.load(response)["telegram"]] == ["hello"]
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@example.com", ADDRESS, "hi"
        message.set_content("hello")
        with smtplib.SMTP(local["smtp_host"], local["smtp_port"], timeout=5) as smtp:
            smtp.send_message(message)
        mail_dir = Path(local["mail_dir"])
        wait_for((mail_dir / "1.eml").exists, "the mail in mail_dir", timeout=10)
        assert b"Subject: hi" in (mail_dir / "1.eml").read_bytes()
    finally:
        stop.set()
        runner.join(timeout=60)


def test_a_dead_chat_api_is_tried_the_webhook_attempts_then_reported_plainly():
    import socket

    from functions.ports.chat import HttpTelegramSender, JsonPoster
    from functions.ports.webhooks import CONNECTION_FAILED

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps: list[float] = []
    poster = JsonPoster(timeout_seconds=2, attempts=3, sleep=sleeps.append)
    result = HttpTelegramSender(f"http://127.0.0.1:{port}", poster).send(BOT_TOKEN, CHAT_ID, "x")
    assert (result.ok, result.attempts, result.error) == (False, 3, CONNECTION_FAILED)
    assert sleeps == [1.0, 2.0]


def test_the_stand_in_answers_bad_requests_as_the_real_apis_do(apis):
    def post(path: str, payload: object) -> tuple[int, object]:
        request = urllib.request.Request(  # noqa: S310 (http on loopback)
            apis.url + path,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                body = response.read()
                return response.status, json.loads(body) if body else None
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    send = f"/bot{BOT_TOKEN}/sendMessage"
    hook = f"/api/webhooks/{DISCORD_ID}/{DISCORD_TOKEN}"
    assert post(send, {"text": "hi"}) == (
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: chat_id is empty"},
    )
    assert post(send, {"chat_id": CHAT_ID})[0] == 400
    assert post("/bot123:short/sendMessage", {"chat_id": CHAT_ID, "text": "hi"})[0] == 404
    assert post(f"/bot{BOT_TOKEN}/getUpdates", {})[0] == 404
    assert post(hook, {}) == (400, {"message": "Cannot send an empty message", "code": 50006})
    assert post(hook, {"content": "hi"}) == (204, None)
    assert post(f"/api/webhooks/998877665544332211/{DISCORD_TOKEN}", {"content": "hi"}) == (
        404,
        {"message": "Unknown Webhook", "code": 10015},
    )
    assert apis.received()["telegram"] == []
    assert [m["content"] for m in apis.received()["discord"]] == ["hi"]
