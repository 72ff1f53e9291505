"""Alert channels beside the webhook (issue #22): Telegram, Discord and e-mail, chosen per
rule, with quiet hours and a rate limit per rule.

- **Input**: every value is checked here (``InvalidInput`` says what is wrong); a bot token
  and a Discord webhook URL are sealed at once (``functions.logic.secret_box``) and only a
  hint (``…ab12``) is ever shown again.
- **Quiet hours**: an event fired in them is recorded with ``delivery: suppressed`` and a
  reason, and is not sent, neither then nor later. Its cooldown still runs: a condition
  that still holds once quiet hours are over fires again when the cooldown allows, and
  that event is sent.
- **Rate limit**: at most ``max_per_hour`` events of a rule are sent per clock hour (UTC,
  a counter in the alerts table); the rest are recorded as suppressed, with the reason.
- **Sending**: ``ChannelDispatcher`` sends one event to one channel; the text is the
  event's message with the rule's and the worker's names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from functions.errors import InvalidInput
from functions.logic.secret_box import SealBroken, SecretBox, hint, seal_context
from functions.models.alerts import (
    DISCORD_WEBHOOK_PATTERN,
    EMAIL_PATTERN,
    MAX_EMAIL_LENGTH,
    MAX_PER_HOUR_LIMIT,
    TELEGRAM_CHAT_PATTERN,
    TELEGRAM_TOKEN_PATTERN,
    AlertChannels,
    AlertEvent,
    AlertRule,
    ChannelKind,
    DiscordChannel,
    EmailChannel,
    QuietHours,
    TelegramChannel,
)
from functions.ports.chat import DiscordSender, TelegramSender
from functions.ports.email import EmailSender
from functions.ports.webhooks import DeliveryResult, WebhookSender

TELEGRAM_TOKEN_FIELD = "telegram.bot_token"  # noqa: S105 (a field name, not a secret)
DISCORD_URL_FIELD = "discord.webhook_url"
SEAL_UNREADABLE = "could not deliver (the stored token cannot be read: set the channel again)"
_OFFSET = re.compile(r"(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?")
_CHANNEL_FIELDS: dict[str, frozenset[str]] = {
    "telegram": frozenset({"bot_token", "chat_id"}),
    "discord": frozenset({"webhook_url"}),
    "email": frozenset({"address"}),
}

# -- input checks -------------------------------------------------------------------------------


def validate_bot_token(token: Any) -> str:
    if not isinstance(token, str) or not re.fullmatch(TELEGRAM_TOKEN_PATTERN, token):
        raise InvalidInput(
            "telegram.bot_token must be a bot token as @BotFather gives it: "
            "<digits>:<30 or more letters, digits, _ or ->"
        )
    return token


def validate_chat_id(chat_id: Any) -> str:
    if isinstance(chat_id, int) and not isinstance(chat_id, bool):
        chat_id = str(chat_id)
    if not isinstance(chat_id, str) or not re.fullmatch(TELEGRAM_CHAT_PATTERN, chat_id):
        raise InvalidInput(
            "telegram.chat_id must be a chat's numeric id (negative for groups) "
            "or a public channel's @username"
        )
    return chat_id


def validate_discord_url(url: Any) -> str:
    if not isinstance(url, str) or not re.fullmatch(DISCORD_WEBHOOK_PATTERN, url):
        raise InvalidInput(
            "discord.webhook_url must be a Discord webhook URL: "
            "https://discord.com/api/webhooks/<id>/<token>"
        )
    return url


def validate_email(address: Any, *, sends_email: bool) -> str:
    if not sends_email:
        raise InvalidInput("this deployment does not send e-mail (no SES sender or SMTP host)")
    if (
        not isinstance(address, str)
        or len(address) > MAX_EMAIL_LENGTH
        or not re.fullmatch(EMAIL_PATTERN, address)
    ):
        raise InvalidInput("email.address must be an e-mail address such as ops@example.com")
    return address


def validate_max_per_hour(value: Any) -> int | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 1 <= value <= MAX_PER_HOUR_LIMIT
    ):
        raise InvalidInput(f"max_per_hour must be from 1 to {MAX_PER_HOUR_LIMIT}, or null")
    return value


def validate_quiet_hours(values: Mapping[str, Any] | None) -> QuietHours | None:
    if values is None:
        return None
    unknown = set(values) - {"start_hour", "end_hour", "timezone"}
    if unknown:
        raise InvalidInput(f"quiet_hours has unknown fields: {', '.join(sorted(unknown))}")
    start, end = values.get("start_hour"), values.get("end_hour")
    for name, hour in (("start_hour", start), ("end_hour", end)):
        if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
            raise InvalidInput(f"quiet_hours.{name} must be an hour from 0 to 23")
    if start == end:
        raise InvalidInput("quiet_hours.start_hour and end_hour must differ")
    name = values.get("timezone") or "UTC"
    if not isinstance(name, str):
        raise InvalidInput("quiet_hours.timezone must be a string")
    return QuietHours(start_hour=start, end_hour=end, timezone=canonical_timezone(name))


def canonical_timezone(name: str) -> str:
    """An IANA name as given (``Europe/Berlin``), ``UTC``, or an offset as ``+05:30``."""
    name = name.strip()
    if name.upper() in ("UTC", "Z", "GMT"):
        return "UTC"
    match = _OFFSET.fullmatch(name.upper())
    if match is not None:
        sign, hours, minutes = match[1], int(match[2]), int(match[3] or 0)
        if hours > 14 or minutes > 59 or (hours == 14 and minutes):
            raise InvalidInput("quiet_hours.timezone: an offset is from -14:00 to +14:00")
        return f"{sign}{hours:02d}:{minutes:02d}"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            "quiet_hours.timezone must be an IANA time zone (Europe/Berlin), UTC, "
            "or an offset such as +05:30"
        ) from None
    return name


@lru_cache(maxsize=256)
def _zone(name: str) -> tzinfo:
    match = _OFFSET.fullmatch(name)
    if name == "UTC":
        return UTC
    if match is not None:
        sign = -1 if match[1] == "-" else 1
        return timezone(sign * timedelta(hours=int(match[2]), minutes=int(match[3] or 0)))
    return ZoneInfo(name)


def in_quiet_hours(quiet: QuietHours | None, now: int) -> bool:
    """Whether ``now`` falls in ``[start_hour, end_hour)`` on the rule's clock; a start
    after the end spans midnight."""
    if quiet is None:
        return False
    hour = datetime.fromtimestamp(now, _zone(quiet.timezone)).hour
    if quiet.start_hour < quiet.end_hour:
        return quiet.start_hour <= hour < quiet.end_hour
    return hour >= quiet.start_hour or hour < quiet.end_hour


def quiet_reason(quiet: QuietHours) -> str:
    return f"quiet hours ({quiet.start_hour:02d}:00 to {quiet.end_hour:02d}:00 {quiet.timezone})"


def rate_reason(max_per_hour: int) -> str:
    return f"rate limit ({max_per_hour} per hour) reached"


# -- building a rule's channels --------------------------------------------------------------


def build_channels(
    changes: Mapping[str, Any],
    *,
    current: AlertChannels,
    box: SecretBox,
    owner: str,
    rule_id: str,
    sends_email: bool,
) -> AlertChannels:
    """``current`` with each channel named in ``changes`` set (a mapping) or removed (None)."""
    if not isinstance(changes, Mapping):
        raise InvalidInput("channels must be an object")
    unknown = set(changes) - set(_CHANNEL_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown channels: {', '.join(sorted(unknown))}")
    updated: dict[str, Any] = {}
    for name, values in changes.items():
        if values is None:
            updated[name] = None
            continue
        if not isinstance(values, Mapping):
            raise InvalidInput(f"channels.{name} must be an object or null")
        extra = set(values) - _CHANNEL_FIELDS[name]
        if extra:
            raise InvalidInput(f"channels.{name} has unknown fields: {', '.join(sorted(extra))}")
        if name == "telegram":
            token = validate_bot_token(values.get("bot_token"))
            updated[name] = TelegramChannel(
                chat_id=validate_chat_id(values.get("chat_id")),
                bot_token_sealed=box.seal(
                    token, context=seal_context(owner, rule_id, TELEGRAM_TOKEN_FIELD)
                ),
                bot_token_hint=hint(token),
            )
        elif name == "discord":
            url = validate_discord_url(values.get("webhook_url"))
            updated[name] = DiscordChannel(
                webhook_url_sealed=box.seal(
                    url, context=seal_context(owner, rule_id, DISCORD_URL_FIELD)
                ),
                webhook_url_hint=hint(url),
            )
        else:
            address = validate_email(values.get("address"), sends_email=sends_email)
            updated[name] = EmailChannel(address=address)
    return current.model_copy(update=updated)


# -- sending ----------------------------------------------------------------------------------


def alert_text(event: AlertEvent) -> str:
    """What a chat or a mail says: the rule, the worker and the event's message."""
    return f'XenBlocks alert "{event.rule_name}" on worker {event.worker_id}: {event.message}'


def alert_subject(event: AlertEvent) -> str:
    return f"XenBlocks alert: {event.rule_name} ({event.worker_id})"


@dataclass(frozen=True)
class ChannelSenders:
    """The ports beside the webhook's; a missing one fails its channel's deliveries."""

    telegram: TelegramSender | None = None
    discord: DiscordSender | None = None
    email: EmailSender | None = None


class ChannelDispatcher:
    """Sends one event to one of its rule's channels; never raises for a failed delivery."""

    def __init__(
        self,
        box: SecretBox,
        webhook: WebhookSender,
        senders: ChannelSenders,
        *,
        webhook_body: Callable[[AlertEvent], bytes],
    ) -> None:
        self._box = box
        self._webhook = webhook
        self._senders = senders
        self._webhook_body = webhook_body

    def send(
        self, kind: ChannelKind, rule: AlertRule, event: AlertEvent, *, now: int
    ) -> DeliveryResult:
        try:
            return self._send(kind, rule, event, now)
        except SealBroken:
            return DeliveryResult(ok=False, attempts=0, error=SEAL_UNREADABLE)

    def _send(
        self, kind: ChannelKind, rule: AlertRule, event: AlertEvent, now: int
    ) -> DeliveryResult:
        channels = rule.channels
        if kind is ChannelKind.WEBHOOK and rule.webhook_url:
            body = self._webhook_body(event)
            secret = rule.webhook_secret.get_secret_value()
            return self._webhook.send(rule.webhook_url, secret, body, timestamp=now)
        if kind is ChannelKind.TELEGRAM and channels.telegram is not None:
            if self._senders.telegram is None:
                return _unavailable(kind)
            token = self._open(rule, channels.telegram.bot_token_sealed, TELEGRAM_TOKEN_FIELD)
            return self._senders.telegram.send(token, channels.telegram.chat_id, alert_text(event))
        if kind is ChannelKind.DISCORD and channels.discord is not None:
            if self._senders.discord is None:
                return _unavailable(kind)
            url = self._open(rule, channels.discord.webhook_url_sealed, DISCORD_URL_FIELD)
            return self._senders.discord.send(url, alert_text(event))
        if kind is ChannelKind.EMAIL and channels.email is not None:
            if self._senders.email is None:
                return _unavailable(kind)
            return self._senders.email.send(
                channels.email.address, alert_subject(event), alert_text(event)
            )
        return DeliveryResult(ok=False, attempts=0, error=f"the rule has no {kind} channel")

    def _open(self, rule: AlertRule, sealed: str, field: str) -> str:
        return self._box.open(sealed, context=seal_context(rule.owner, rule.rule_id, field))


def _unavailable(kind: ChannelKind) -> DeliveryResult:
    return DeliveryResult(ok=False, attempts=0, error=f"this deployment does not send {kind}")
