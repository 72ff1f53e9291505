"""The job sending to Telegram, Discord and e-mail: outcomes per channel, quiet hours, the
rate limit, sealed secrets, and rules stored before channels existed."""

from __future__ import annotations

import pytest

from functions.dal import codec
from functions.dal.alerts import AlertRepository, rule_sk
from functions.dal.specs import ALERTS
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.logic.alert_channels import SEAL_UNREADABLE, ChannelSenders
from functions.logic.alert_rules import AlertRuleService, RuleDraft
from functions.logic.alerts import AlertJob
from functions.logic.secret_box import SecretBox
from functions.models.alerts import AlertKind, ChannelKind, DeliveryStatus
from functions.ports.chat import RecordingDiscordSender, RecordingTelegramSender
from functions.ports.email import RecordingEmailSender
from functions.ports.webhooks import RecordingWebhookSender
from tests.factories import NOW, PROVIDER
from tests.unit.alerts.conftest import HOOK

TOKEN = "123456789:AAH" + "x" * 32
DISCORD = "https://discord.com/api/webhooks/112233445566778899/" + "t" * 68
ALL = {
    "telegram": {"bot_token": TOKEN, "chat_id": "-100123"},
    "discord": {"webhook_url": DISCORD},
    "email": {"address": "ops@example.com"},
}
BOX = SecretBox.from_secret("unit-jwt-secret")


@pytest.fixture
def email_settings(settings):
    return settings.model_copy(update={"alert_email_sender": "alerts@example.com"})


@pytest.fixture
def senders():
    return ChannelSenders(
        telegram=RecordingTelegramSender(),
        discord=RecordingDiscordSender(),
        email=RecordingEmailSender(),
    )


def make_job(settings, tables, senders, box=BOX, webhook=None):
    return AlertJob(
        settings,
        AlertRepository(tables),
        WorkerRepository(tables),
        TelemetryRepository(tables),
        webhook or RecordingWebhookSender(),
        senders,
        box=box,
    )


@pytest.fixture
def channel_rule(email_settings, tables, alerts):
    service = AlertRuleService(email_settings, alerts, WorkerRepository(tables), box=BOX)

    def make(worker=None, **draft):
        fields = {
            "name": "hot",
            "kind": AlertKind.TEMPERATURE,
            "threshold": 80,
            "worker_id": worker.worker_id if worker else None,
            "cooldown_seconds": 600,
            **draft,
        }
        return service.create(PROVIDER, RuleDraft(**fields), now=NOW - 3600).rule

    return make


def test_each_channel_gets_the_event_and_its_outcome_is_recorded(
    email_settings, tables, alerts, rig, channel_rule, senders
):
    worker = rig(temperatures=(91.0,))
    rule = channel_rule(worker, channels=ALL)

    summary = make_job(email_settings, tables, senders).run(NOW)

    assert (summary.deliveries_ok, summary.deliveries_failed, summary.channel_failures) == (1, 0, 0)
    label = f"worker {worker.worker_id}"
    text = f'XenBlocks alert "hot" on {label}: {label} GPU 0 is at 91 °C'
    assert senders.telegram.sent == [(TOKEN, "-100123", text)]
    assert senders.discord.sent == [(DISCORD, text)]
    assert senders.email.sent == [
        ("ops@example.com", f"XenBlocks alert: hot ({worker.worker_id})", text)
    ]
    (event,) = alerts.list_events(PROVIDER, limit=5).items
    assert event.rule_id == rule.rule_id
    assert (event.delivery, event.attempts, event.delivered_at) == (
        DeliveryStatus.DELIVERED,
        3,
        NOW,
    )
    assert [(d.channel, d.status, d.delivered_at) for d in event.deliveries] == [
        (ChannelKind.TELEGRAM, DeliveryStatus.DELIVERED, NOW),
        (ChannelKind.DISCORD, DeliveryStatus.DELIVERED, NOW),
        (ChannelKind.EMAIL, DeliveryStatus.DELIVERED, NOW),
    ]


def test_one_failing_channel_fails_the_event_and_names_itself(
    email_settings, tables, alerts, rig, channel_rule
):
    senders = ChannelSenders(telegram=RecordingTelegramSender(ok=False))
    telegram = {"telegram": ALL["telegram"]}
    channel_rule(rig(temperatures=(91.0,)), webhook_url=HOOK, channels=telegram)

    summary = make_job(email_settings, tables, senders).run(NOW)

    assert (summary.deliveries_ok, summary.deliveries_failed, summary.channel_failures) == (0, 1, 1)
    (event,) = alerts.list_events(PROVIDER, limit=5).items
    assert event.delivery is DeliveryStatus.FAILED
    assert event.delivered_at is None
    assert event.delivery_error == "telegram: HTTP 401"
    assert [(d.channel, d.status) for d in event.deliveries] == [
        (ChannelKind.WEBHOOK, DeliveryStatus.DELIVERED),
        (ChannelKind.TELEGRAM, DeliveryStatus.FAILED),
    ]


def test_a_channel_the_deployment_does_not_send_fails_with_a_reason(
    email_settings, tables, alerts, rig, channel_rule
):
    channel_rule(rig(temperatures=(91.0,)), channels={"discord": ALL["discord"]})
    make_job(email_settings, tables, ChannelSenders()).run(NOW)
    (event,) = alerts.list_events(PROVIDER, limit=5).items
    assert event.delivery_error == "this deployment does not send discord"


def test_a_secret_sealed_under_another_key_fails_without_sending(
    email_settings, tables, alerts, rig, channel_rule, senders
):
    channel_rule(rig(temperatures=(91.0,)), channels={"telegram": ALL["telegram"]})
    rotated = SecretBox.from_secret("a rotated jwt secret")

    make_job(email_settings, tables, senders, box=rotated).run(NOW)

    assert senders.telegram.sent == []
    (event,) = alerts.list_events(PROVIDER, limit=5).items
    assert (event.delivery, event.delivery_error) == (DeliveryStatus.FAILED, SEAL_UNREADABLE)


# -- quiet hours ------------------------------------------------------------------------------

# NOW is 04:40 UTC.
NIGHT = {"start_hour": 22, "end_hour": 7, "timezone": "UTC"}


def test_in_quiet_hours_the_event_is_recorded_not_sent(
    email_settings, tables, alerts, rig, channel_rule, senders
):
    worker = rig(online=False, last_seen=NOW - 3600)
    offline = {"kind": AlertKind.OFFLINE, "threshold": 10}
    channel_rule(worker, webhook_url=HOOK, channels=ALL, quiet_hours=NIGHT, **offline)
    webhook = RecordingWebhookSender()
    job = make_job(email_settings, tables, senders, webhook=webhook)

    summary = job.run(NOW)

    assert (summary.events_fired, summary.quiet, summary.deliveries_ok) == (1, 1, 0)
    assert (webhook.sent, senders.telegram.sent, senders.discord.sent) == ([], [], [])
    assert senders.email.sent == []
    (event,) = alerts.list_events(PROVIDER, limit=5).items
    assert event.delivery is DeliveryStatus.SUPPRESSED
    assert event.suppressed_reason == "quiet hours (22:00 to 07:00 UTC)"

    # Still down after 07:00 and after the cooldown: that event is sent.
    seven = NOW + 2 * 3600 + 20 * 60
    later = job.run(seven)
    assert (later.events_fired, later.quiet, later.deliveries_ok) == (1, 0, 1)
    assert len(webhook.sent) == len(senders.telegram.sent) == len(senders.email.sent) == 1


# -- the rate limit ---------------------------------------------------------------------------


def test_events_over_the_hourly_limit_are_recorded_as_suppressed(
    email_settings, tables, alerts, rig, channel_rule, senders
):
    for _ in range(4):
        rig(online=False, last_seen=NOW - 3600)
    telegram = {"telegram": ALL["telegram"]}
    # The whole fleet, down for an hour: four events a run.
    channel_rule(kind=AlertKind.OFFLINE, threshold=10, channels=telegram, max_per_hour=2)
    job = make_job(email_settings, tables, senders)

    summary = job.run(NOW)

    assert (summary.events_fired, summary.rate_limited, summary.deliveries_ok) == (4, 2, 2)
    assert len(senders.telegram.sent) == 2
    events = alerts.list_events(PROVIDER, limit=10).items
    held = [e for e in events if e.delivery is DeliveryStatus.SUPPRESSED]
    assert len(held) == 2
    assert {e.suppressed_reason for e in held} == {"rate limit (2 per hour) reached"}
    assert all(e.deliveries == () for e in held)

    # The next clock hour (and past the cooldown) has two sends again.
    next_hour = (NOW // 3600 + 1) * 3600 + 600
    again = job.run(next_hour)
    assert (again.events_fired, again.rate_limited, again.deliveries_ok) == (4, 2, 2)
    assert len(senders.telegram.sent) == 4


def test_the_limit_is_per_rule(email_settings, tables, alerts, rig, channel_rule, senders):
    worker = rig(temperatures=(91.0,))
    for _ in range(2):
        channel_rule(worker, channels={"telegram": ALL["telegram"]}, max_per_hour=1)
    summary = make_job(email_settings, tables, senders).run(NOW)
    assert (summary.events_fired, summary.rate_limited, summary.deliveries_ok) == (2, 0, 2)


def test_the_send_counter_stops_at_the_limit_and_starts_again_each_hour(alerts):
    taken = [alerts.take_send_slot(PROVIDER, "rule-r", now=NOW, max_per_hour=3) for _ in range(5)]
    assert taken == [True, True, True, False, False]
    assert alerts.take_send_slot(PROVIDER, "rule-r", now=NOW + 3600, max_per_hour=3) is True


# -- rules stored before channels ---------------------------------------------------------------


def test_a_rule_stored_without_the_new_fields_loads_and_delivers_to_its_webhook(
    settings, tables, alerts, rig
):
    worker = rig(temperatures=(91.0,))
    old = {
        "owner": PROVIDER,
        "sk": rule_sk("rule-old"),
        "rule_id": "rule-old",
        "name": "old",
        "kind": "temperature",
        "threshold": 80,
        "worker_id": worker.worker_id,
        "webhook_url": HOOK,
        "webhook_secret": "whsec_old",
        "cooldown_seconds": 600,
        "enabled": True,
        "created_at": NOW - 86_400,
        "updated_at": NOW - 86_400,
        "rule_shard": "enabled",
    }
    tables.client.put_item(TableName=tables.name(ALERTS), Item=codec.to_item(old))

    loaded = alerts.get_rule(PROVIDER, "rule-old")
    assert loaded is not None
    assert (loaded.channels.kinds(), loaded.quiet_hours, loaded.max_per_hour) == ((), None, None)
    webhook = RecordingWebhookSender()
    summary = make_job(settings, tables, ChannelSenders(), webhook=webhook).run(NOW)
    assert (summary.events_fired, summary.deliveries_ok) == (1, 1)
    assert [url for url, *_ in webhook.sent] == [HOOK]
