"""Alert rules an owner sets on their fleet, the channels they deliver to, and the events
they fire."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import Field, SecretStr, StrictInt

from functions.models.base import Record

# How long fired events stay listed before DynamoDB's TTL removes them.
EVENT_RETENTION_SECONDS = 30 * 86_400
# Bounds of a rule's cooldown (the default comes from the settings).
MIN_COOLDOWN_SECONDS = 60
MAX_COOLDOWN_SECONDS = 7 * 86_400
# A rule's rate limit: at most this many events sent per clock hour (UTC).
MAX_PER_HOUR_LIMIT = 1000

# What an owner may type for each channel (the API, the senders and the stand-ins agree).
TELEGRAM_TOKEN_PATTERN = r"\d{1,20}:[A-Za-z0-9_-]{30,100}"  # noqa: S105 (a pattern)
# A chat's numeric id (groups and channels are negative) or a public channel's @username.
TELEGRAM_CHAT_PATTERN = r"-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31}"
# https://discord.com/api/webhooks/<id>/<token> (discordapp.com, an /api/v<n> path too).
DISCORD_WEBHOOK_PATTERN = (
    r"https://(?:discord\.com|discordapp\.com)/api(?:/v\d{1,2})?/webhooks/"
    r"(?P<id>\d{15,25})/(?P<token>[A-Za-z0-9_-]{20,128})"
)
# An address SES and SMTP both take: ASCII, a dotted domain, no spaces or line breaks.
EMAIL_PATTERN = (
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
MAX_EMAIL_LENGTH = 254


class AlertKind(StrEnum):
    OFFLINE = "offline"  # threshold: minutes without a word from the rig
    HASHRATE_DROP = "hashrate_drop"  # threshold: percent below the 1-hour median
    TEMPERATURE = "temperature"  # threshold: °C, the hottest GPU
    # Anomaly findings (functions/logic/anomaly_watch.py); threshold: the least score.
    ANOMALY = "anomaly"  # any reason
    GPU_LOST = "gpu_lost"  # also: fewer GPUs at work than registered
    FAN_FAILURE = "fan_failure"
    BACK_ONLINE = "back_online"  # threshold: minutes it was down, at least


class AutoAction(StrEnum):
    """What a rule may do to the rig when it fires (at most ``max_actions_per_day``)."""

    PAUSE = "pause"  # stop mining (a hot or failing rig cools down)
    RESTART = "restart"  # pause, then resume: the miner starts its GPUs afresh


@dataclass(frozen=True)
class ThresholdRange:
    low: float
    high: float
    unit: str

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


THRESHOLDS: dict[AlertKind, ThresholdRange] = {
    AlertKind.OFFLINE: ThresholdRange(1, 1440, "minutes"),
    AlertKind.HASHRATE_DROP: ThresholdRange(1, 99, "percent"),
    AlertKind.TEMPERATURE: ThresholdRange(30, 120, "°C"),
    AlertKind.ANOMALY: ThresholdRange(0, 100, "score"),
    AlertKind.GPU_LOST: ThresholdRange(0, 100, "score"),
    AlertKind.FAN_FAILURE: ThresholdRange(0, 100, "score"),
    AlertKind.BACK_ONLINE: ThresholdRange(1, 1440, "minutes"),
}
# Automatic actions a rule may take per rig and UTC day.
MAX_ACTIONS_PER_DAY = 10


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # fired, channels not tried yet
    DELIVERED = "delivered"  # every channel took it
    FAILED = "failed"  # a channel's every attempt failed; not retried later
    NONE = "none"  # the rule has no webhook and no channel
    SUPPRESSED = "suppressed"  # quiet hours or the rule's rate limit: recorded, not sent


class ChannelKind(StrEnum):
    WEBHOOK = "webhook"
    TELEGRAM = "telegram"
    DISCORD = "discord"
    EMAIL = "email"


class TelegramChannel(Record):
    """A Telegram chat a bot posts to. The bot token is sealed (``logic.secret_box``)."""

    chat_id: str
    bot_token_sealed: str
    bot_token_hint: str  # "…ab12": enough to tell two tokens apart, never the token


class DiscordChannel(Record):
    """A Discord channel's webhook. Its URL embeds a token, so it is sealed too."""

    webhook_url_sealed: str
    webhook_url_hint: str


class EmailChannel(Record):
    address: str


class AlertChannels(Record):
    """Where a rule's events go besides its webhook; each at most once."""

    telegram: TelegramChannel | None = None
    discord: DiscordChannel | None = None
    email: EmailChannel | None = None

    def kinds(self) -> tuple[ChannelKind, ...]:
        return tuple(
            kind
            for kind, channel in (
                (ChannelKind.TELEGRAM, self.telegram),
                (ChannelKind.DISCORD, self.discord),
                (ChannelKind.EMAIL, self.email),
            )
            if channel is not None
        )


class QuietHours(Record):
    """Hours in which events are recorded but not sent: from ``start_hour`` to before
    ``end_hour`` on the clock of ``timezone`` (an IANA name, ``UTC`` or ``+05:30``); a
    start after the end spans midnight (22 to 7)."""

    start_hour: Annotated[StrictInt, Field(ge=0, le=23)]
    end_hour: Annotated[StrictInt, Field(ge=0, le=23)]
    timezone: str = "UTC"


class AlertRule(Record):
    rule_id: str
    owner: str  # the checksum address the rule belongs to
    name: str
    kind: AlertKind
    threshold: float
    worker_id: str | None = None  # None: every worker of the owner
    webhook_url: str | None = None
    # Signs webhook bodies; shown to the owner once, at creation.
    webhook_secret: SecretStr
    cooldown_seconds: Annotated[StrictInt, Field(ge=MIN_COOLDOWN_SECONDS, le=MAX_COOLDOWN_SECONDS)]
    enabled: bool = True
    created_at: StrictInt
    updated_at: StrictInt
    # Rules stored before issue #22 have none of these: they load as webhook-only rules.
    channels: AlertChannels = AlertChannels()
    quiet_hours: QuietHours | None = None
    max_per_hour: Annotated[StrictInt, Field(ge=1, le=MAX_PER_HOUR_LIMIT)] | None = None
    action: AutoAction | None = None
    max_actions_per_day: Annotated[StrictInt, Field(ge=1, le=MAX_ACTIONS_PER_DAY)] = 3

    def channel_kinds(self) -> tuple[ChannelKind, ...]:
        """Every place an event of this rule goes, the webhook first."""
        webhook = (ChannelKind.WEBHOOK,) if self.webhook_url else ()
        return webhook + self.channels.kinds()


class ChannelDelivery(Record):
    """How one channel took one event."""

    channel: ChannelKind
    status: DeliveryStatus  # delivered or failed
    attempts: StrictInt = 0
    error: str | None = None
    delivered_at: StrictInt | None = None


class AlertEvent(Record):
    event_id: str
    rule_id: str
    rule_name: str = ""
    owner: str
    worker_id: str
    kind: AlertKind
    message: str
    value: float  # what was measured, in the threshold's unit
    threshold: float
    ts: StrictInt
    delivery: DeliveryStatus
    attempts: StrictInt = 0
    delivered_at: StrictInt | None = None
    delivery_error: str | None = None
    expires_at: StrictInt
    # Each channel's outcome (issue #22); why the event was not sent, when it was not.
    deliveries: tuple[ChannelDelivery, ...] = ()
    suppressed_reason: str | None = None
    # The rule's automatic action, and what came of it: "sent", "daily_limit", "failed".
    action: AutoAction | None = None
    action_result: str | None = None
