"""From heartbeats to a phone: a rig's fan fails, ingest's watch opens a finding against the
baseline the insights job built from its history, the alerts job's ``fan_failure`` rule
fires and the message reaches the local Telegram stand-in, and the rule pauses the rig."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest
from pydantic import SecretStr

from functions.dal.alerts import AlertRepository
from functions.dal.insights import InsightsRepository
from functions.dal.workers import WorkerRepository
from functions.handlers.alerts import channel_senders, run_alerts
from functions.handlers.ingest import build_service, process
from functions.local.chat_apis import ChatApis, chat_apis
from functions.logic.alert_rules import AlertRuleService, RuleDraft
from functions.logic.insights import InsightsJob
from functions.models.alerts import AlertKind, AutoAction
from functions.ports.devices import RecordingPublisher
from functions.ports.webhooks import RecordingWebhookSender
from functions.settings import Settings
from protocol.xenblocks import BlockRules
from tests.factories import PROVIDER, online_worker
from tests.unit.test_anomaly import NOW, rig_reading
from tests.unit.test_insights import RNG, heartbeat_event, write_history

BOT_TOKEN = "123456789:AAH" + "x" * 32
CHAT_ID = "-1001234567890"


@pytest.fixture
def apis() -> Iterator[ChatApis]:
    with chat_apis(telegram_tokens={BOT_TOKEN}) as running:
        yield running


@pytest.fixture
def settings(apis: ChatApis) -> Settings:
    return Settings(
        stage="local",
        jwt_secret=SecretStr("integration-" + "s" * 40),
        rules=BlockRules(difficulty=8, block_pattern="XEN"),
        telegram_api_url=apis.url,
        insights_slices=1,
        heartbeat_write_seconds=60,
        heartbeat_history_seconds=300,
    )


def test_a_failing_fan_reaches_telegram_and_pauses_the_rig(settings, tables, apis):
    worker = online_worker(tables, gpu="RTX 3090", gpus=2, now=NOW)
    write_history(tables, worker.worker_id)
    assert InsightsJob(settings, tables).run(NOW).baselines == 1

    rules = AlertRuleService(settings, AlertRepository(tables), WorkerRepository(tables))
    draft = RuleDraft(
        name="fan",
        kind=AlertKind.FAN_FAILURE,
        threshold=4,
        worker_id=worker.worker_id,
        channels={"telegram": {"bot_token": BOT_TOKEN, "chat_id": CHAT_ID}},
        action=AutoAction.PAUSE,
    )
    rules.create(PROVIDER, draft, now=NOW)

    publisher = RecordingPublisher()
    service = build_service(settings, tables, publisher)
    for i in range(12):  # 6 minutes of heartbeats, GPU 1's fan stopped
        sample = replace(rig_reading(0, RNG, temperature=78.0, fan=5.0), ts=NOW + 30 * i)
        process(heartbeat_event(worker.worker_id, sample), service)
    [finding] = InsightsRepository(tables).rig(worker.worker_id).open_findings
    assert (finding.reason, finding.gpu) == ("fan_failure", 1)

    now = NOW + 360
    summary = run_alerts(
        settings, tables, RecordingWebhookSender(), now, channel_senders(settings), publisher
    )

    assert (summary.events_fired, summary.deliveries_ok, summary.actions_sent) == (1, 1, 1)
    (message,) = apis.wait_for("telegram", 1, timeout=10)
    assert "GPU 1: fan at 5%" in message["text"]
    paused = [
        json.loads(payload)["action"]
        for topic, payload, _ in publisher.sent
        if topic == f"xenminer/{worker.worker_id}/control"
    ]
    assert paused == ["pause"]
