"""Alerts: owners' rules on their fleet, evaluated every minute, delivered to webhooks,
Telegram, Discord and e-mail (the channels: ``functions.logic.alert_channels``).

A rule watches one worker or every worker of its owner for one condition (offline,
hashrate drop, temperature, an anomaly finding, a lost GPU, a failing fan, back online:
``functions/logic/alert_conditions.py``).

A firing is one event, stored only if the rule has not fired for that worker within the
rule's cooldown (a conditional write, so concurrent job runs cannot both fire), then sent
to each of the rule's channels (the webhook, Telegram, Discord, e-mail) unless the rule's
quiet hours or rate limit hold it back, and each channel's outcome recorded on the event.

A rule may also act (``action``: pause the rig, or restart its miner: pause then resume),
at most ``max_actions_per_day`` times per rig and UTC day (a conditional counter, so
concurrent runs cannot exceed it); each action is logged and recorded on its event.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import asdict, dataclass

from functions.dal.alerts import AlertRepository
from functions.dal.insights import InsightsRepository
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.logic.alert_channels import (
    ChannelDispatcher,
    ChannelSenders,
    in_quiet_hours,
    quiet_reason,
    rate_reason,
)
from functions.logic.alert_conditions import (
    MIN_HISTORY_POINTS,
    Finding,
    check_back_online,
    check_findings,
    check_gpu_count,
    check_hashrate_drop,
    check_offline,
    check_temperature,
    is_up,
)
from functions.logic.heartbeat_schedule import silence_allowance
from functions.logic.secret_box import SecretBox
from functions.models.alerts import (
    EVENT_RETENTION_SECONDS,
    AlertEvent,
    AlertKind,
    AlertRule,
    AutoAction,
    ChannelDelivery,
    ChannelKind,
    DeliveryStatus,
)
from functions.models.insights import AnomalyFinding
from functions.models.telemetry import worker_series
from functions.models.workers import Worker
from functions.observability import logger
from functions.ports.devices import DeviceCommands
from functions.ports.webhooks import DeliveryResult, WebhookSender
from functions.settings import Settings
from protocol.downlink import Control

# hashrate_drop's median: the last hour's history points, or the last three when points
# come more sparsely (every 1800 s deployed: 5400 s).
HASHRATE_WINDOW_SECONDS = 3600
_PAGE = 100
# Slow or dead webhooks must not hold up the rest of a one-minute job.
_DELIVERY_THREADS = 8


def new_event_id() -> str:
    return secrets.token_hex(8)


# -- the job ------------------------------------------------------------------------------------


@dataclass
class AlertRunSummary:
    rules_evaluated: int = 0
    workers_checked: int = 0
    events_fired: int = 0
    suppressed: int = 0  # conditions met within a cooldown
    quiet: int = 0  # events recorded, not sent: their rule's quiet hours
    rate_limited: int = 0  # events recorded, not sent: their rule's rate limit
    deliveries_ok: int = 0  # events every channel took
    deliveries_failed: int = 0  # events some channel did not take
    channel_failures: int = 0  # (event, channel) deliveries that failed
    rule_errors: int = 0
    actions_sent: int = 0  # automatic actions published to rigs

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class AlertJob:
    """One run of the scheduled alerts job over every enabled rule."""

    def __init__(
        self,
        settings: Settings,
        alerts: AlertRepository,
        workers: WorkerRepository,
        telemetry: TelemetryRepository,
        sender: WebhookSender,
        channels: ChannelSenders | None = None,
        box: SecretBox | None = None,
        *,
        insights: InsightsRepository | None = None,
        commands: DeviceCommands | None = None,
    ) -> None:
        self._alerts = alerts
        self._workers = workers
        self._telemetry = telemetry
        # The rigs' anomaly findings (None: no finding-based rule fires) and the rigs'
        # control topic (None: automatic actions are recorded as not sent).
        self._insights = insights
        self._commands = commands
        self._dispatcher = ChannelDispatcher(
            box or SecretBox.from_settings(settings),
            sender,
            channels or ChannelSenders(),
            webhook_body=webhook_body,
        )
        self._silence_allowance = silence_allowance(settings)
        self._hashrate_window = max(
            HASHRATE_WINDOW_SECONDS, MIN_HISTORY_POINTS * settings.heartbeat_history_seconds
        )

    def run(self, now: int) -> AlertRunSummary:
        summary = AlertRunSummary()
        fleets: dict[str, list[Worker]] = {}  # an owner's workers, read once per run
        deliveries: list[tuple[AlertRule, AlertEvent]] = []
        for rule in self._enabled_rules():
            summary.rules_evaluated += 1
            try:
                fired = self.evaluate(rule, now, summary, fleets)
            except Exception:
                # One rule's failure (say, throttling) must not silence every other rule.
                logger.exception("alert rule failed", extra={"rule_id": rule.rule_id})
                summary.rule_errors += 1
                continue
            deliveries += [(rule, e) for e in fired if e.delivery is DeliveryStatus.PENDING]
        if deliveries:
            self._deliver_all(deliveries, now, summary)
        return summary

    def _deliver_all(
        self, deliveries: list[tuple[AlertRule, AlertEvent]], now: int, summary: AlertRunSummary
    ) -> None:
        """Every (event, channel) on the pool, each event recorded once all its channels
        have answered."""
        with ThreadPoolExecutor(max_workers=_DELIVERY_THREADS) as pool:
            # Each in a copy of this context: its log lines carry the run's correlation id.
            sends = [
                [
                    (
                        kind,
                        pool.submit(copy_context().run, self._send_safely, kind, rule, event, now),
                    )
                    for kind in rule.channel_kinds()
                ]
                for rule, event in deliveries
            ]
            for (rule, event), futures in zip(deliveries, sends, strict=True):
                outcomes = [(kind, future.result()) for kind, future in futures]
                summary.channel_failures += sum(1 for _, result in outcomes if not result.ok)
                if self._record_safely(rule, event, outcomes, now):
                    summary.deliveries_ok += 1
                else:
                    summary.deliveries_failed += 1

    def evaluate(
        self,
        rule: AlertRule,
        now: int,
        summary: AlertRunSummary | None = None,
        fleets: dict[str, list[Worker]] | None = None,
    ) -> list[AlertEvent]:
        """Check ``rule`` on its workers and fire where the cooldown allows."""
        summary = summary if summary is not None else AlertRunSummary()
        fired: list[AlertEvent] = []
        for worker in self._workers_of(rule, {} if fleets is None else fleets):
            summary.workers_checked += 1
            finding = self._check(rule, worker, now)
            if finding is None:
                continue
            event = self._event(rule, worker, finding, now)
            if not self._alerts.fire(event, cooldown_seconds=rule.cooldown_seconds):
                summary.suppressed += 1
                continue
            summary.events_fired += 1
            if rule.action is not None:
                event = self._act(rule, worker, event, now, summary)
            if event.delivery is DeliveryStatus.SUPPRESSED:
                summary.quiet += 1
            elif event.delivery is DeliveryStatus.PENDING and self._over_rate(rule, now):
                summary.rate_limited += 1
                event = self._alerts.record_delivery(
                    event,
                    delivery=DeliveryStatus.SUPPRESSED,
                    attempts=0,
                    error=None,
                    delivered_at=None,
                    suppressed_reason=rate_reason(rule.max_per_hour or 0),
                )
            fired.append(event)
        return fired

    def _act(
        self,
        rule: AlertRule,
        worker: Worker,
        event: AlertEvent,
        now: int,
        summary: AlertRunSummary,
    ) -> AlertEvent:
        """The rule's automatic action on the rig, within its daily allowance, logged and
        recorded on the event."""
        assert rule.action is not None
        allowed = self._alerts.take_action_slot(
            rule.owner,
            rule.rule_id,
            worker.worker_id,
            now=now,
            max_per_day=rule.max_actions_per_day,
        )
        if not allowed:
            result = "daily_limit"
        elif self._commands is None:
            result = "failed"
        else:
            try:
                if rule.action is AutoAction.PAUSE:
                    self._commands.control(worker.worker_id, Control(action="pause"))
                else:  # restart: the miner stops its GPUs and starts them afresh
                    self._commands.control(worker.worker_id, Control(action="pause"))
                    self._commands.control(worker.worker_id, Control(action="resume"))
                result = "sent"
            except Exception:
                logger.exception("automatic action failed", extra={"worker_id": worker.worker_id})
                result = "failed"
        if result == "sent":
            summary.actions_sent += 1
        logger.info(
            "automatic action",
            extra={
                "rule_id": rule.rule_id,
                "worker_id": worker.worker_id,
                "event_id": event.event_id,
                "action": rule.action.value,
                "result": result,
            },
        )
        return self._alerts.record_action(event, result=result)

    def _over_rate(self, rule: AlertRule, now: int) -> bool:
        """Takes one of this hour's sends of the rule; True when they were all taken."""
        if rule.max_per_hour is None:
            return False
        return not self._alerts.take_send_slot(
            rule.owner, rule.rule_id, now=now, max_per_hour=rule.max_per_hour
        )

    def deliver(self, rule: AlertRule, event: AlertEvent, *, now: int) -> AlertEvent:
        """Send the event to each of the rule's channels, one after another, and record how
        each went (``run`` sends them side by side)."""
        kinds = rule.channel_kinds()
        if not kinds:
            return event
        outcomes = [(kind, self._send_safely(kind, rule, event, now)) for kind in kinds]
        return self._record(rule, event, outcomes, now)

    def _send_safely(
        self, kind: ChannelKind, rule: AlertRule, event: AlertEvent, now: int
    ) -> DeliveryResult:
        try:
            result = self._dispatcher.send(kind, rule, event, now=now)
        except Exception:
            logger.exception(
                "alert delivery failed",
                extra={"channel": kind.value, "rule_id": rule.rule_id, "event_id": event.event_id},
            )
            return DeliveryResult(ok=False, attempts=0, error="could not deliver")
        if not result.ok:
            logger.warning(
                "alert delivery failed",
                extra={
                    "channel": kind.value,
                    "rule_id": rule.rule_id,
                    "event_id": event.event_id,
                    "attempts": result.attempts,
                    "error": result.error,
                },
            )
        return result

    def _record(
        self,
        rule: AlertRule,
        event: AlertEvent,
        outcomes: list[tuple[ChannelKind, DeliveryResult]],
        now: int,
    ) -> AlertEvent:
        deliveries = tuple(
            ChannelDelivery(
                channel=kind,
                status=DeliveryStatus.DELIVERED if result.ok else DeliveryStatus.FAILED,
                attempts=result.attempts,
                error=result.error,
                delivered_at=now if result.ok else None,
            )
            for kind, result in outcomes
        )
        failed = [d for d in deliveries if d.status is DeliveryStatus.FAILED]
        return self._alerts.record_delivery(
            event,
            delivery=DeliveryStatus.FAILED if failed else DeliveryStatus.DELIVERED,
            attempts=sum(d.attempts for d in deliveries),
            error=delivery_error(deliveries),
            delivered_at=None if failed else now,
            deliveries=deliveries,
        )

    def _record_safely(
        self,
        rule: AlertRule,
        event: AlertEvent,
        outcomes: list[tuple[ChannelKind, DeliveryResult]],
        now: int,
    ) -> bool:
        try:
            return self._record(rule, event, outcomes, now).delivery is DeliveryStatus.DELIVERED
        except Exception:
            logger.exception("recording a delivery failed", extra={"event_id": event.event_id})
            return False

    def _enabled_rules(self) -> Iterator[AlertRule]:
        cursor: str | None = None
        while True:
            page = self._alerts.enabled_rules(limit=_PAGE, cursor=cursor)
            # The index is eventually consistent: a rule disabled a moment ago may linger.
            yield from (rule for rule in page.items if rule.enabled)
            cursor = page.cursor
            if cursor is None:
                return

    def _workers_of(self, rule: AlertRule, fleets: dict[str, list[Worker]]) -> list[Worker]:
        if rule.worker_id is not None:
            worker = self._workers.get(rule.worker_id)
            candidates = [] if worker is None else [worker]
        else:
            if rule.owner not in fleets:
                fleets[rule.owner] = self._fleet(rule.owner)
            candidates = fleets[rule.owner]
        return [w for w in candidates if w.owner == rule.owner and not w.revoked]

    def _fleet(self, owner: str) -> list[Worker]:
        workers: list[Worker] = []
        cursor: str | None = None
        while True:
            page = self._workers.list_by_owner(owner, limit=_PAGE, cursor=cursor)
            workers += page.items
            cursor = page.cursor
            if cursor is None:
                return workers

    def _check(self, rule: AlertRule, worker: Worker, now: int) -> Finding | None:
        allowance = self._silence_allowance
        kind = rule.kind
        if kind is AlertKind.OFFLINE:
            return check_offline(worker, rule.threshold, now, silence_allowance=allowance)
        if kind is AlertKind.BACK_ONLINE:
            return check_back_online(worker, rule.threshold, now)
        if not is_up(worker, now, silence_allowance=allowance):
            return None  # a down rig's last figures are stale; the offline rule covers it
        if kind is AlertKind.TEMPERATURE:
            return check_temperature(worker, rule.threshold)
        if kind is AlertKind.HASHRATE_DROP:
            history = self._hashrate_history(worker, now)
            return check_hashrate_drop(
                worker, history, rule.threshold, window_seconds=self._hashrate_window
            )
        reason = None if kind is AlertKind.ANOMALY else kind.value
        found = check_findings(worker, self._findings(worker), rule.threshold, reason=reason)
        if found is None and kind is AlertKind.GPU_LOST:
            return check_gpu_count(worker)
        return found

    def _findings(self, worker: Worker) -> list[AnomalyFinding]:
        """The rig's open findings: read only for a rig the watch counted some on."""
        if self._insights is None or worker.anomalies_open <= 0:
            return []
        return self._insights.rig(worker.worker_id).open_findings

    def _hashrate_history(self, worker: Worker, now: int) -> list[float]:
        rates: list[float] = []
        cursor: str | None = None
        series = worker_series(worker.worker_id)
        while True:
            page = self._telemetry.history(
                series, now - self._hashrate_window, now, limit=_PAGE, cursor=cursor
            )
            rates += [p.values["hashrate"] for p in page.items if "hashrate" in p.values]
            cursor = page.cursor
            if cursor is None:
                return rates

    @staticmethod
    def _event(rule: AlertRule, worker: Worker, finding: Finding, now: int) -> AlertEvent:
        delivery = DeliveryStatus.PENDING if rule.channel_kinds() else DeliveryStatus.NONE
        reason = None
        quiet = rule.quiet_hours
        if delivery is DeliveryStatus.PENDING and quiet and in_quiet_hours(quiet, now):
            delivery, reason = DeliveryStatus.SUPPRESSED, quiet_reason(quiet)
        return AlertEvent(
            event_id=new_event_id(),
            rule_id=rule.rule_id,
            rule_name=rule.name,
            owner=rule.owner,
            worker_id=worker.worker_id,
            kind=rule.kind,
            message=finding.message,
            value=finding.value,
            threshold=rule.threshold,
            ts=now,
            delivery=delivery,
            suppressed_reason=reason,
            expires_at=now + EVENT_RETENTION_SECONDS,
            action=rule.action,
        )


def delivery_error(deliveries: tuple[ChannelDelivery, ...]) -> str | None:
    """The event's one-line error: the failed channel's, or each failed one's, named."""
    failed = [d for d in deliveries if d.status is DeliveryStatus.FAILED]
    if not failed:
        return None
    if len(deliveries) == 1:
        return failed[0].error
    return "; ".join(f"{d.channel}: {d.error}" for d in failed)


def webhook_body(event: AlertEvent) -> bytes:
    """What a webhook receives: the event, without the platform's delivery bookkeeping."""
    data = event.model_dump(
        mode="json",
        exclude={
            "delivery",
            "attempts",
            "delivered_at",
            "delivery_error",
            "expires_at",
            "deliveries",
            "suppressed_reason",
        },
    )
    payload = {"type": "alert", "event": data}
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
