"""Alert rules as owners manage them (the API): input checks, creation, changes.

A rule watches one worker or every worker of its owner for one condition
(``functions/logic/alert_conditions.py``), delivers to its webhook and channels
(``functions/logic/alert_channels.py``) and may act on the rig; ``functions/logic/alerts.py``
runs them every minute.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from functions.dal.alerts import AlertRepository
from functions.dal.pagination import Page
from functions.dal.workers import WorkerRepository
from functions.errors import InvalidInput, NotFound
from functions.logic.alert_channels import (
    build_channels,
    validate_max_per_hour,
    validate_quiet_hours,
)
from functions.logic.secret_box import SecretBox
from functions.models.alerts import (
    MAX_ACTIONS_PER_DAY,
    MAX_COOLDOWN_SECONDS,
    MIN_COOLDOWN_SECONDS,
    THRESHOLDS,
    AlertChannels,
    AlertEvent,
    AlertKind,
    AlertRule,
    AutoAction,
)
from functions.netguard import Host, HostRefused, is_internal_name, is_public_address, url_host
from functions.ports.email import sends_email
from functions.settings import Settings

MAX_RULES_PER_OWNER = 50
MAX_NAME_LENGTH = 64
MAX_WEBHOOK_URL_LENGTH = 2048
# Fields PATCH may change (kind and worker are what a rule is; make a new rule instead).
MUTABLE_FIELDS = frozenset(
    {
        "name",
        "threshold",
        "cooldown_seconds",
        "enabled",
        "webhook_url",
        "channels",
        "quiet_hours",
        "max_per_hour",
        "action",
        "max_actions_per_day",
    }
)
# Fields PATCH may set to null: the webhook, the rate limit, quiet hours, the action.
_NULLABLE_FIELDS = frozenset({"webhook_url", "quiet_hours", "max_per_hour", "action"})


def new_rule_id() -> str:
    return f"rule-{secrets.token_hex(8)}"


def new_webhook_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


# -- input checks ---------------------------------------------------------------------------


def validate_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise InvalidInput(f"name must be 1 to {MAX_NAME_LENGTH} printable characters")
    return name


def validate_threshold(kind: AlertKind, threshold: float) -> float:
    allowed = THRESHOLDS[kind]
    if not allowed.contains(threshold):
        raise InvalidInput(
            f"threshold of a {kind} rule is in {allowed.unit}, "
            f"from {allowed.low:g} to {allowed.high:g}"
        )
    return float(threshold)


def validate_max_actions(count: int) -> int:
    if isinstance(count, bool) or not isinstance(count, int):
        raise InvalidInput("max_actions_per_day must be a whole number")
    if not 1 <= count <= MAX_ACTIONS_PER_DAY:
        raise InvalidInput(f"max_actions_per_day must be between 1 and {MAX_ACTIONS_PER_DAY}")
    return count


def _action(value: object) -> AutoAction:
    try:
        return AutoAction(str(value))
    except ValueError:
        choices = ", ".join(a.value for a in AutoAction)
        raise InvalidInput(f"action must be one of: {choices}") from None


def validate_cooldown(seconds: int) -> int:
    if not MIN_COOLDOWN_SECONDS <= seconds <= MAX_COOLDOWN_SECONDS:
        raise InvalidInput(
            f"cooldown_seconds must be from {MIN_COOLDOWN_SECONDS} to {MAX_COOLDOWN_SECONDS}"
        )
    return seconds


def validate_webhook_url(url: str, *, local: bool) -> str:
    """An https URL to a public host; the local stage also allows http and private hosts.

    The host is read as a resolver would (``functions.netguard``): ``https://2130706433``,
    ``https://127.1`` or ``https://[::ffff:7f00:1]`` are loopback and refused like
    ``https://127.0.0.1``. A name is allowed unless it is internal by its form (``localhost``,
    ``*.internal``, a single label): what it resolves to can change, so the sender checks the
    addresses again at every delivery.
    """
    if len(url) > MAX_WEBHOOK_URL_LENGTH or not url.isprintable() or any(c.isspace() for c in url):
        raise InvalidInput(
            f"webhook_url must be at most {MAX_WEBHOOK_URL_LENGTH} characters, no spaces"
        )
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InvalidInput("webhook_url is not a valid URL") from None
    schemes = ("https", "http") if local else ("https",)
    if parts.scheme not in schemes:
        raise InvalidInput(
            "webhook_url must be an " + " or ".join(f"{s}://" for s in schemes) + " URL"
        )
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise InvalidInput("webhook_url has an invalid port") from None
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("webhook_url must not carry credentials; the body is signed instead")
    try:
        host = url_host(parts)
    except HostRefused as refused:
        raise InvalidInput(f"webhook_url {refused}") from None
    if not local and _is_internal(host):
        raise InvalidInput("webhook_url must point at a public host")
    return url


def _is_internal(host: Host) -> bool:
    if host.address is not None:
        return not is_public_address(host.address)
    return is_internal_name(host.name)


# -- managing rules (the API) -----------------------------------------------------------------


@dataclass(frozen=True)
class RuleDraft:
    name: str
    kind: AlertKind
    threshold: float
    worker_id: str | None = None
    webhook_url: str | None = None
    cooldown_seconds: int | None = None
    enabled: bool = True
    # {"telegram": {"bot_token", "chat_id"}, "discord": {"webhook_url"}, "email": {"address"}}
    channels: Mapping[str, Any] | None = None
    quiet_hours: Mapping[str, Any] | None = None  # {"start_hour", "end_hour", "timezone"}
    max_per_hour: int | None = None
    action: AutoAction | None = None
    max_actions_per_day: int = 3


@dataclass(frozen=True)
class CreatedRule:
    rule: AlertRule
    webhook_secret: str  # shown once


class AlertRuleService:
    def __init__(
        self,
        settings: Settings,
        alerts: AlertRepository,
        workers: WorkerRepository,
        box: SecretBox | None = None,
    ) -> None:
        self._settings = settings
        self._alerts = alerts
        self._workers = workers
        self._box = box or SecretBox.from_settings(settings)

    def create(self, owner: str, draft: RuleDraft, *, now: int) -> CreatedRule:
        """A new rule; a worker that is not the owner's (or not enrolled) is a NotFound."""
        if draft.worker_id is not None:
            worker = self._workers.get(draft.worker_id)
            if worker is None or worker.owner != owner or worker.revoked:
                raise NotFound(f"worker {draft.worker_id} not found")
        cooldown = draft.cooldown_seconds
        secret = new_webhook_secret()
        rule_id = new_rule_id()
        rule = AlertRule(
            rule_id=rule_id,
            owner=owner,
            name=validate_name(draft.name),
            kind=draft.kind,
            threshold=validate_threshold(draft.kind, draft.threshold),
            worker_id=draft.worker_id,
            webhook_url=self._webhook_url(draft.webhook_url),
            webhook_secret=SecretStr(secret),
            cooldown_seconds=validate_cooldown(
                self._settings.alert_cooldown_seconds if cooldown is None else cooldown
            ),
            enabled=draft.enabled,
            created_at=now,
            updated_at=now,
            channels=self._channels(draft.channels or {}, AlertChannels(), owner, rule_id),
            quiet_hours=validate_quiet_hours(draft.quiet_hours),
            max_per_hour=validate_max_per_hour(draft.max_per_hour),
            action=draft.action,
            max_actions_per_day=validate_max_actions(draft.max_actions_per_day),
        )
        self._alerts.create_rule(rule, max_rules=MAX_RULES_PER_OWNER)
        return CreatedRule(rule, secret)

    def rules(self, owner: str, *, limit: int, cursor: str | None) -> Page[AlertRule]:
        return self._alerts.list_rules(owner, limit=limit, cursor=cursor)

    def update(self, owner: str, rule_id: str, changes: dict[str, Any], *, now: int) -> AlertRule:
        """Change some of ``MUTABLE_FIELDS``; ``webhook_url``, ``quiet_hours`` or
        ``max_per_hour`` None removes it; ``channels`` sets (or, with None, removes) each
        channel it names and keeps the others."""
        unknown = set(changes) - MUTABLE_FIELDS
        if unknown:
            raise InvalidInput(f"these fields cannot be changed: {', '.join(sorted(unknown))}")
        if not changes:
            raise InvalidInput("nothing to change")
        rule = self._alerts.get_rule(owner, rule_id)
        if rule is None:
            raise NotFound(f"alert rule {rule_id} not found")
        checked: dict[str, Any] = {}
        for name, value in changes.items():
            if value is None and name not in _NULLABLE_FIELDS:
                raise InvalidInput(f"{name} cannot be null")
            if name == "name":
                checked[name] = validate_name(value)
            elif name == "threshold":
                checked[name] = validate_threshold(rule.kind, value)
            elif name == "cooldown_seconds":
                checked[name] = validate_cooldown(value)
            elif name == "webhook_url":
                checked[name] = self._webhook_url(value)
            elif name == "channels":
                channels = self._channels(value, rule.channels, owner, rule_id)
                checked[name] = channels.model_dump(mode="json")
            elif name == "quiet_hours":
                quiet = validate_quiet_hours(value)
                checked[name] = None if quiet is None else quiet.model_dump(mode="json")
            elif name == "max_per_hour":
                checked[name] = validate_max_per_hour(value)
            elif name == "action":
                checked[name] = None if value is None else _action(value).value
            elif name == "max_actions_per_day":
                checked[name] = validate_max_actions(value)
            else:
                checked[name] = bool(value)
        return self._alerts.update_rule(owner, rule_id, checked, now=now)

    def delete(self, owner: str, rule_id: str) -> None:
        self._alerts.delete_rule(owner, rule_id)

    def events(self, owner: str, *, limit: int, cursor: str | None) -> Page[AlertEvent]:
        return self._alerts.list_events(owner, limit=limit, cursor=cursor)

    def _webhook_url(self, url: str | None) -> str | None:
        if url is None:
            return None
        return validate_webhook_url(url, local=self._settings.is_local)

    def _channels(
        self, changes: Mapping[str, Any], current: AlertChannels, owner: str, rule_id: str
    ) -> AlertChannels:
        return build_channels(
            changes,
            current=current,
            box=self._box,
            owner=owner,
            rule_id=rule_id,
            sends_email=sends_email(self._settings),
        )
