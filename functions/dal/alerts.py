"""Alert rules, their events and cooldowns: one partition per owner in the alerts table.

Items (partition ``owner``, sort ``sk``):
- ``RULE#<rule_id>``: a rule; ``rule_shard`` is set only while it is enabled, which puts
  it in the sparse ``enabled_rules`` index the alerts job reads with one paged Query;
- ``RULE_COUNT``: how many rules the owner has, so the cap holds under concurrent creates;
- ``EVENT#<ts, 12 digits>#<event_id>``: a fired event, newest last in key order, TTL;
- ``COOLDOWN#<rule_id>#<worker_id>``: when the rule last fired for the worker, TTL;
- ``RATE#<rule_id>#<hour>``: how many events of the rule were sent in that clock hour
  (epoch hours, UTC), for its ``max_per_hour``, TTL.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from functions.dal import codec
from functions.dal.expressions import Update, used_only
from functions.dal.pagination import Page
from functions.dal.reads import get_record, query_index, query_page
from functions.dal.specs import ALERTS
from functions.dal.tables import Tables
from functions.dal.transact import Transaction, condition_failure_as
from functions.errors import AlreadyExists, ConcurrentUpdate, Conflict, DomainError, NotFound
from functions.models.alerts import (
    MAX_COOLDOWN_SECONDS,
    AlertEvent,
    AlertRule,
    ChannelDelivery,
    DeliveryStatus,
)

RULE_PREFIX = "RULE#"
EVENT_PREFIX = "EVENT#"
COOLDOWN_PREFIX = "COOLDOWN#"
# ``ACTIONS#<rule_id>#<worker_id>#<day>``: automatic actions taken that UTC day, TTL.
ACTIONS_PREFIX = "ACTIONS#"
RATE_PREFIX = "RATE#"
RULE_COUNT_SK = "RULE_COUNT"
# The one partition of the sparse ``enabled_rules`` index.
ENABLED_SHARD = "enabled"
# Cooldown items outlive any cooldown a rule can have (it may be raised after a firing).
_COOLDOWN_TTL_SECONDS = MAX_COOLDOWN_SECONDS + 86_400
# Two job runs writing the same cooldown at once: DynamoDB may cancel both; try again.
_FIRE_TRIES = 3


def rule_sk(rule_id: str) -> str:
    return f"{RULE_PREFIX}{rule_id}"


def event_sk(ts: int, event_id: str) -> str:
    return f"{EVENT_PREFIX}{ts:012d}#{event_id}"


def cooldown_sk(rule_id: str, worker_id: str) -> str:
    return f"{COOLDOWN_PREFIX}{rule_id}#{worker_id}"


def rate_sk(rule_id: str, hour: int) -> str:
    return f"{RATE_PREFIX}{rule_id}#{hour}"


def _rule_not_found(rule_id: str) -> NotFound:
    return NotFound(f"alert rule {rule_id} not found")


class _CoolingDown(DomainError):
    """The rule fired for this worker within its cooldown (internal: fire() returns False)."""

    code = "cooling_down"


class AlertRepository:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables
        self._name = tables.name(ALERTS)

    # -- rules ------------------------------------------------------------------------

    def create_rule(self, rule: AlertRule, *, max_rules: int) -> AlertRule:
        """Store a new rule and count it; Conflict when the owner has ``max_rules``."""
        Transaction(self._tables).put(
            ALERTS,
            self._rule_item(rule),
            condition="attribute_not_exists(sk)",
            on_condition_failed=lambda: AlreadyExists(f"alert rule {rule.rule_id} exists"),
        ).update(
            ALERTS,
            {"owner": rule.owner, "sk": RULE_COUNT_SK},
            "ADD #count :one",
            condition="attribute_not_exists(#count) OR #count < :max",
            names={"#count": "count"},
            values={"one": 1, "max": max_rules},
            on_condition_failed=lambda: Conflict(
                f"an owner may have at most {max_rules} alert rules; delete one first"
            ),
        ).commit()
        return rule

    def get_rule(self, owner: str, rule_id: str) -> AlertRule | None:
        return get_record(self._tables, ALERTS, AlertRule, {"owner": owner, "sk": rule_sk(rule_id)})

    def list_rules(self, owner: str, *, limit: int, cursor: str | None = None) -> Page[AlertRule]:
        items, next_cursor = self._owner_items(owner, RULE_PREFIX, limit, cursor)
        return Page([AlertRule.model_validate(i) for i in items], next_cursor)

    def enabled_rules(self, *, limit: int, cursor: str | None = None) -> Page[AlertRule]:
        """Every owner's enabled rules, by rule id (the sparse index; eventually consistent)."""
        items, next_cursor = query_index(
            self._tables, ALERTS, "enabled_rules", ENABLED_SHARD, limit=limit, cursor=cursor
        )
        return Page([AlertRule.model_validate(i) for i in items], next_cursor)

    def update_rule(
        self, owner: str, rule_id: str, changes: dict[str, Any], *, now: int
    ) -> AlertRule:
        """Set ``changes`` (a None removes the attribute); ``enabled`` moves the index key."""
        update = Update().set(**changes, updated_at=now)
        if "enabled" in changes:
            update.set(rule_shard=ENABLED_SHARD if changes["enabled"] else None)
        condition = "attribute_exists(#sk)"
        names, values = used_only(
            update.names(("sk",)), update.values(), update.expression, condition
        )
        with condition_failure_as(lambda: _rule_not_found(rule_id)):
            response = self._tables.client.update_item(
                TableName=self._name,
                Key=codec.to_item({"owner": owner, "sk": rule_sk(rule_id)}),
                UpdateExpression=update.expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=codec.values(**values),
                ReturnValues="ALL_NEW",
            )
        return AlertRule.model_validate(codec.from_item(response["Attributes"]))

    def delete_rule(self, owner: str, rule_id: str) -> None:
        """Delete the rule and uncount it, both or neither; NotFound if it is not there.

        Events and cooldowns of the rule stay until their TTL (events are history).
        """
        # transact.Transaction has no Delete, so this one transaction is written out here.
        items: list[Any] = [
            {
                "Delete": {
                    "TableName": self._name,
                    "Key": codec.to_item({"owner": owner, "sk": rule_sk(rule_id)}),
                    "ConditionExpression": "attribute_exists(sk)",
                }
            },
            {
                "Update": {
                    "TableName": self._name,
                    "Key": codec.to_item({"owner": owner, "sk": RULE_COUNT_SK}),
                    "UpdateExpression": "ADD #count :minus_one",
                    "ExpressionAttributeNames": {"#count": "count"},
                    "ExpressionAttributeValues": codec.values(minus_one=-1),
                }
            },
        ]
        try:
            self._tables.client.transact_write_items(TransactItems=items)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if code == "TransactionCanceledException" and reasons[:1] == ["ConditionalCheckFailed"]:
                raise _rule_not_found(rule_id) from error
            if code == "TransactionConflictException" or "TransactionConflict" in reasons:
                raise ConcurrentUpdate() from error
            raise

    # -- events -----------------------------------------------------------------------

    def fire(self, event: AlertEvent, *, cooldown_seconds: int) -> bool:
        """Store ``event`` unless its rule fired for its worker within ``cooldown_seconds``.

        The cooldown item and the event are one transaction whose condition is the
        cooldown, so of two job runs evaluating the same rule at once only one fires.
        """
        now = event.ts
        tx = Transaction(self._tables).update(
            ALERTS,
            {"owner": event.owner, "sk": cooldown_sk(event.rule_id, event.worker_id)},
            "SET #fired_at = :now, #rule_id = :rule_id, #worker_id = :worker_id, "
            "#expires_at = :expires_at",
            condition="attribute_not_exists(#sk) OR #fired_at <= :cutoff",
            names={
                "#sk": "sk",
                "#fired_at": "fired_at",
                "#rule_id": "rule_id",
                "#worker_id": "worker_id",
                "#expires_at": "expires_at",
            },
            values={
                "now": now,
                "rule_id": event.rule_id,
                "worker_id": event.worker_id,
                "expires_at": now + _COOLDOWN_TTL_SECONDS,
                "cutoff": now - cooldown_seconds,
            },
            on_condition_failed=_CoolingDown,
        )
        tx.put(
            ALERTS,
            self._event_item(event),
            condition="attribute_not_exists(sk)",
            on_condition_failed=lambda: AlreadyExists(f"alert event {event.event_id} exists"),
        )
        for attempt in range(_FIRE_TRIES):
            try:
                tx.commit()
            except _CoolingDown:
                return False
            except ConcurrentUpdate:
                if attempt == _FIRE_TRIES - 1:
                    raise
                continue
            return True
        return False  # unreachable: the last try returns or raises

    def record_delivery(
        self,
        event: AlertEvent,
        *,
        delivery: DeliveryStatus,
        attempts: int,
        error: str | None,
        delivered_at: int | None,
        deliveries: tuple[ChannelDelivery, ...] = (),
        suppressed_reason: str | None = None,
    ) -> AlertEvent:
        update = Update().set(
            delivery=delivery,
            attempts=attempts,
            delivery_error=error,
            delivered_at=delivered_at,
            deliveries=[d.model_dump(mode="json") for d in deliveries],
            suppressed_reason=suppressed_reason,
        )
        condition = "attribute_exists(#sk)"
        names, values = used_only(
            update.names(("sk",)), update.values(), update.expression, condition
        )
        with condition_failure_as(lambda: NotFound(f"alert event {event.event_id} not found")):
            response = self._tables.client.update_item(
                TableName=self._name,
                Key=codec.to_item({"owner": event.owner, "sk": event_sk(event.ts, event.event_id)}),
                UpdateExpression=update.expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=codec.values(**values),
                ReturnValues="ALL_NEW",
            )
        return AlertEvent.model_validate(codec.from_item(response["Attributes"]))

    def take_send_slot(self, owner: str, rule_id: str, *, now: int, max_per_hour: int) -> bool:
        """Count one send of the rule in this clock hour; False (nothing counted) when
        ``max_per_hour`` were counted already. Atomic: concurrent runs share the limit."""
        hour = now // 3600
        return self._take_slot(owner, rate_sk(rule_id, hour), max_per_hour, (hour + 2) * 3600)

    def take_action_slot(
        self, owner: str, rule_id: str, worker_id: str, *, now: int, max_per_day: int
    ) -> bool:
        """Count one automatic action of the rule on the rig this UTC day; False when
        ``max_per_day`` were counted already."""
        day = now // 86_400
        sk = f"{ACTIONS_PREFIX}{rule_id}#{worker_id}#{day}"
        return self._take_slot(owner, sk, max_per_day, (day + 2) * 86_400)

    def record_action(self, event: AlertEvent, *, result: str) -> AlertEvent:
        """What came of the event's automatic action."""
        with condition_failure_as(lambda: NotFound(f"alert event {event.event_id} not found")):
            self._tables.client.update_item(
                TableName=self._name,
                Key=codec.to_item({"owner": event.owner, "sk": event_sk(event.ts, event.event_id)}),
                UpdateExpression="SET #result = :result",
                ConditionExpression="attribute_exists(#sk)",
                ExpressionAttributeNames={"#result": "action_result", "#sk": "sk"},
                ExpressionAttributeValues=codec.values(result=result),
            )
        return event.model_copy(update={"action_result": result})

    def _take_slot(self, owner: str, sk: str, limit: int, expires_at: int) -> bool:
        try:
            self._tables.client.update_item(
                TableName=self._name,
                Key=codec.to_item({"owner": owner, "sk": sk}),
                UpdateExpression="ADD #count :one SET #expires_at = :expires_at",
                ConditionExpression="attribute_not_exists(#count) OR #count < :max",
                ExpressionAttributeNames={"#count": "count", "#expires_at": "expires_at"},
                ExpressionAttributeValues=codec.values(one=1, max=limit, expires_at=expires_at),
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def list_events(self, owner: str, *, limit: int, cursor: str | None = None) -> Page[AlertEvent]:
        """The owner's events, newest first."""
        items, next_cursor = self._owner_items(
            owner, EVENT_PREFIX, limit, cursor, newest_first=True
        )
        return Page([AlertEvent.model_validate(i) for i in items], next_cursor)

    # -- items --------------------------------------------------------------------------

    def _owner_items(
        self,
        owner: str,
        prefix: str,
        limit: int,
        cursor: str | None,
        *,
        newest_first: bool = False,
    ) -> tuple[list[dict[str, Any]], str | None]:
        return query_page(
            self._tables,
            ALERTS,
            key_condition="#owner = :owner AND begins_with(#sk, :prefix)",
            names={"#owner": "owner", "#sk": "sk"},
            values={"owner": owner, "prefix": prefix},
            partition=owner,
            listing=prefix,
            limit=limit,
            cursor=cursor,
            newest_first=newest_first,
        )

    @staticmethod
    def _rule_item(rule: AlertRule) -> dict[str, Any]:
        return {
            **rule.model_dump(mode="json"),
            "webhook_secret": rule.webhook_secret.get_secret_value(),
            "sk": rule_sk(rule.rule_id),
            "rule_shard": ENABLED_SHARD if rule.enabled else None,
        }

    @staticmethod
    def _event_item(event: AlertEvent) -> dict[str, Any]:
        return {**event.model_dump(mode="json"), "sk": event_sk(event.ts, event.event_id)}
