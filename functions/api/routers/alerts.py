"""``/api/alerts``: an owner's alert rules on their fleet and the events those fired."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field, FiniteFloat

from functions.api.auth import Context, CurrentPrincipal
from functions.api.schemas import ID_PATTERN, Body, Cursor, Limit, PageOut
from functions.dal.pagination import clamp_limit
from functions.logic.alerts import MAX_NAME_LENGTH, MAX_WEBHOOK_URL_LENGTH, RuleDraft
from functions.models.alerts import (
    MAX_COOLDOWN_SECONDS,
    MIN_COOLDOWN_SECONDS,
    AlertKind,
    AlertRule,
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


class RulePatch(Body):
    """Only the fields present change; ``webhook_url: null`` removes the webhook."""

    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    threshold: FiniteFloat | None = Field(default=None, description=_THRESHOLD)
    cooldown_seconds: int | None = Field(
        default=None, ge=MIN_COOLDOWN_SECONDS, le=MAX_COOLDOWN_SECONDS, description=_COOLDOWN
    )
    enabled: bool | None = None
    webhook_url: str | None = Field(
        default=None, max_length=MAX_WEBHOOK_URL_LENGTH, description=_WEBHOOK
    )


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

    @classmethod
    def of(cls, rule: AlertRule) -> RuleOut:
        return cls.model_validate(rule.model_dump(exclude={"webhook_secret"}))


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
    created = context.alerts.create(
        principal.address, RuleDraft(**body.model_dump()), now=context.clock()
    )
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
