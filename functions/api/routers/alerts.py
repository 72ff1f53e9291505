"""``/api/alerts``: an owner's alert rules on their fleet and the events those fired."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field, FiniteFloat

from functions.api.auth import Context, CurrentPrincipal
from functions.api.schemas import ID_PATTERN, Body, Cursor, Limit, PageOut
from functions.dal.pagination import clamp_limit
from functions.logic.alert_rules import MAX_NAME_LENGTH, MAX_WEBHOOK_URL_LENGTH, RuleDraft
from functions.models.alerts import (
    MAX_ACTIONS_PER_DAY,
    MAX_COOLDOWN_SECONDS,
    MAX_EMAIL_LENGTH,
    MAX_PER_HOUR_LIMIT,
    MIN_COOLDOWN_SECONDS,
    AlertChannels,
    AlertKind,
    AlertRule,
    AutoAction,
    QuietHours,
)
from functions.models.views import EventOut
from protocol.topics import WORKER_ID_PATTERN

router = APIRouter(prefix="/api/alerts", tags=["alerts"])

RuleId = Annotated[str, Path(pattern=ID_PATTERN, description="The rule's id")]

_THRESHOLD = (
    "offline: minutes down (1–1440); hashrate_drop: percent below the worker's 1-hour "
    "median (1–99); temperature: °C of the hottest GPU (30–120)"
)
_WEBHOOK = (
    "Where events are POSTed as JSON, signed: X-Xenblocks-Timestamp and "
    'X-Xenblocks-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>"> keyed with '
    "the rule's webhook_secret. https:// only (the local stage also allows http://)."
)
_COOLDOWN = (
    "The least time between two events of the rule for the same worker "
    "(default: the deployment's alert cooldown)"
)

_CHANNELS = (
    "Where events go besides the webhook: Telegram, Discord, e-mail. Secrets (the bot "
    "token, the Discord webhook URL) are stored encrypted and never shown again, only "
    "their last four characters. In PATCH, each channel named is set (null removes it), "
    "the others are kept."
)
_QUIET = (
    "Hours in which events are recorded (delivery: suppressed) but not sent, neither then "
    "nor later; from start_hour to before end_hour, across midnight when start_hour is "
    "after end_hour. null: none"
)
_MAX_PER_HOUR = (
    "At most this many events of the rule are sent per clock hour (UTC); the rest are "
    "recorded as suppressed. null: no limit"
)


class TelegramIn(Body):
    bot_token: str = Field(
        max_length=130, description="The bot's token from @BotFather (write-only)"
    )
    chat_id: str = Field(
        max_length=40, description="The chat's numeric id, or a public channel's @username"
    )


class DiscordIn(Body):
    webhook_url: str = Field(
        max_length=300,
        description="https://discord.com/api/webhooks/<id>/<token> (write-only)",
    )


class EmailIn(Body):
    address: str = Field(max_length=MAX_EMAIL_LENGTH, description="Where the e-mail goes")


class ChannelsIn(Body):
    telegram: TelegramIn | None = None
    discord: DiscordIn | None = None
    email: EmailIn | None = None


class QuietHoursIn(Body):
    start_hour: int = Field(ge=0, le=23, description="First quiet hour (0–23)")
    end_hour: int = Field(ge=0, le=23, description="First hour no longer quiet (0–23)")
    timezone: str = Field(
        default="UTC",
        max_length=64,
        description="An IANA time zone (Europe/Berlin), UTC, or an offset such as +05:30",
    )


class RuleCreate(Body):
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, description="A label")
    kind: AlertKind = Field(description="What the rule watches")
    threshold: FiniteFloat = Field(description=_THRESHOLD)
    worker_id: str | None = Field(
        default=None,
        pattern=WORKER_ID_PATTERN,
        description="One of the caller's workers; absent: every worker of the caller",
    )
    webhook_url: str | None = Field(
        default=None, max_length=MAX_WEBHOOK_URL_LENGTH, description=_WEBHOOK
    )
    cooldown_seconds: int | None = Field(
        default=None, ge=MIN_COOLDOWN_SECONDS, le=MAX_COOLDOWN_SECONDS, description=_COOLDOWN
    )
    enabled: bool = Field(default=True, description="Only enabled rules are evaluated")
    channels: ChannelsIn | None = Field(default=None, description=_CHANNELS)
    quiet_hours: QuietHoursIn | None = Field(default=None, description=_QUIET)
    max_per_hour: int | None = Field(
        default=None, ge=1, le=MAX_PER_HOUR_LIMIT, description=_MAX_PER_HOUR
    )
    action: AutoAction | None = Field(
        default=None,
        description="Also act on the rig when the rule fires: pause it, or restart its "
        "miner (pause, then resume)",
    )
    max_actions_per_day: int = Field(
        default=3, ge=1, le=MAX_ACTIONS_PER_DAY, description="Actions per rig and UTC day"
    )

    def draft(self) -> RuleDraft:
        values = self.model_dump(exclude={"channels"})
        channels = None if self.channels is None else self.channels.model_dump(exclude_none=True)
        return RuleDraft(**values, channels=channels)


class RulePatch(Body):
    """Only the fields present change; ``webhook_url``, ``quiet_hours`` or
    ``max_per_hour`` null removes it; ``channels`` changes only the channels it names."""

    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    threshold: FiniteFloat | None = Field(default=None, description=_THRESHOLD)
    cooldown_seconds: int | None = Field(
        default=None, ge=MIN_COOLDOWN_SECONDS, le=MAX_COOLDOWN_SECONDS, description=_COOLDOWN
    )
    enabled: bool | None = None
    webhook_url: str | None = Field(
        default=None, max_length=MAX_WEBHOOK_URL_LENGTH, description=_WEBHOOK
    )
    channels: ChannelsIn | None = Field(default=None, description=_CHANNELS)
    quiet_hours: QuietHoursIn | None = Field(default=None, description=_QUIET)
    max_per_hour: int | None = Field(
        default=None, ge=1, le=MAX_PER_HOUR_LIMIT, description=_MAX_PER_HOUR
    )
    action: AutoAction | None = Field(default=None, description="null removes it")
    max_actions_per_day: int | None = Field(default=None, ge=1, le=MAX_ACTIONS_PER_DAY)


class TelegramOut(BaseModel):
    chat_id: str
    bot_token_hint: str = Field(description="The token's last four characters")


class DiscordOut(BaseModel):
    webhook_url_hint: str = Field(description="The webhook URL's last four characters")


class EmailOut(BaseModel):
    address: str


class ChannelsOut(BaseModel):
    telegram: TelegramOut | None = None
    discord: DiscordOut | None = None
    email: EmailOut | None = None

    @classmethod
    def of(cls, channels: AlertChannels) -> ChannelsOut:
        """Hints and addresses only: the sealed secrets stay in the table."""
        telegram, discord, email = channels.telegram, channels.discord, channels.email
        return cls(
            telegram=None
            if telegram is None
            else TelegramOut(chat_id=telegram.chat_id, bot_token_hint=telegram.bot_token_hint),
            discord=None
            if discord is None
            else DiscordOut(webhook_url_hint=discord.webhook_url_hint),
            email=None if email is None else EmailOut(address=email.address),
        )


class QuietHoursOut(BaseModel):
    start_hour: int
    end_hour: int
    timezone: str

    @classmethod
    def of(cls, quiet: QuietHours | None) -> QuietHoursOut | None:
        return None if quiet is None else cls.model_validate(quiet.model_dump())


class RuleOut(BaseModel):
    rule_id: str
    name: str
    kind: AlertKind
    threshold: float
    worker_id: str | None = Field(description="None: every worker of the owner")
    webhook_url: str | None
    cooldown_seconds: int
    enabled: bool
    created_at: int
    updated_at: int
    channels: ChannelsOut = Field(description="Secrets shown only as hints")
    quiet_hours: QuietHoursOut | None
    max_per_hour: int | None
    action: AutoAction | None
    max_actions_per_day: int

    @classmethod
    def of(cls, rule: AlertRule) -> RuleOut:
        shown = rule.model_dump(exclude={"webhook_secret", "channels", "quiet_hours"})
        return cls.model_validate(
            {
                **shown,
                "channels": ChannelsOut.of(rule.channels),
                "quiet_hours": QuietHoursOut.of(rule.quiet_hours),
            }
        )


class RuleCreated(RuleOut):
    webhook_secret: str = Field(
        description="Signs this rule's webhook bodies. Shown only in this response: keep it."
    )


@router.get("/rules")
def list_rules(
    principal: CurrentPrincipal, context: Context, limit: Limit = None, cursor: Cursor = None
) -> PageOut[RuleOut]:
    page = context.alerts.rules(principal.address, limit=clamp_limit(limit), cursor=cursor)
    return PageOut[RuleOut].of(page, RuleOut.of)


@router.post("/rules", status_code=201)
def create_rule(body: RuleCreate, principal: CurrentPrincipal, context: Context) -> RuleCreated:
    """Create a rule. A ``worker_id`` that is not one of the caller's workers is a 404."""
    created = context.alerts.create(principal.address, body.draft(), now=context.clock())
    return RuleCreated(
        **RuleOut.of(created.rule).model_dump(), webhook_secret=created.webhook_secret
    )


@router.patch("/rules/{rule_id}")
def update_rule(
    rule_id: RuleId, body: RulePatch, principal: CurrentPrincipal, context: Context
) -> RuleOut:
    rule = context.alerts.update(
        principal.address, rule_id, body.model_dump(exclude_unset=True), now=context.clock()
    )
    return RuleOut.of(rule)


@router.delete("/rules/{rule_id}", status_code=204)
def delete_rule(rule_id: RuleId, principal: CurrentPrincipal, context: Context) -> Response:
    context.alerts.delete(principal.address, rule_id)
    return Response(status_code=204)


@router.get("/events")
def list_events(
    principal: CurrentPrincipal, context: Context, limit: Limit = None, cursor: Cursor = None
) -> PageOut[EventOut]:
    """The caller's alert events, newest first."""
    page = context.alerts.events(principal.address, limit=clamp_limit(limit), cursor=cursor)
    return PageOut[EventOut].of(page, EventOut.of)
