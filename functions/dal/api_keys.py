"""API keys in the credentials table.

- ``key#<key_id>``: one key (``ApiKey``): its owner, scopes and the SHA-256 of its secret.
  A request with a key reads this one item. A revoked key keeps its item, without the
  hash, for a while (``expires_at``, TTL) so the owner's audit trail can name it.
- ``keys#<address>``: the address's live key ids (a string set), so listing is a GetItem
  and a BatchGetItem, and the per-address cap is a condition on the set's size, enforced in
  the same transaction that adds the key.
"""

from __future__ import annotations

from functions.dal import codec
from functions.dal.reads import batch_get, get_item, get_record
from functions.dal.specs import CREDENTIALS
from functions.dal.tables import Tables
from functions.dal.transact import Transaction, condition_failure_as
from functions.errors import AlreadyExists, ConcurrentUpdate, Conflict, NotFound
from functions.models.auth import ApiKey

KEY_PREFIX = "key#"
OWNER_PREFIX = "keys#"


def key_item_key(key_id: str) -> str:
    return f"{KEY_PREFIX}{key_id}"


def owner_item_key(address: str) -> str:
    return f"{OWNER_PREFIX}{address}"


class ApiKeyRepository:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables
        self._name = tables.name(CREDENTIALS)

    def create(self, key: ApiKey, *, max_keys: int) -> ApiKey:
        """Store ``key`` and add it to its owner's set, unless the owner has ``max_keys``."""
        item: dict[str, object] = {"pk": key_item_key(key.key_id), **key.model_dump(mode="json")}
        Transaction(self._tables).update(
            CREDENTIALS,
            {"pk": owner_item_key(key.owner)},
            "SET #address = :owner ADD #key_ids :ids",
            condition="attribute_not_exists(#key_ids) OR size(#key_ids) < :max",
            names={"#address": "address", "#key_ids": "key_ids"},
            values={"owner": key.owner, "ids": {key.key_id}, "max": max_keys},
            on_condition_failed=lambda: Conflict(
                f"an address holds at most {max_keys} API keys: revoke one first"
            ),
        ).put(
            CREDENTIALS,
            item,
            condition="attribute_not_exists(#pk)",
            names={"#pk": "pk"},
            on_condition_failed=lambda: AlreadyExists(f"API key {key.key_id} exists"),
        ).commit()
        return key

    def get(self, key_id: str) -> ApiKey | None:
        """One key by id, strongly consistent (a revoked key stops at once)."""
        return get_record(self._tables, CREDENTIALS, ApiKey, {"pk": key_item_key(key_id)})

    def list_for(self, owner: str) -> list[ApiKey]:
        """The owner's live keys (revoked ones are out of the set), oldest first."""
        item = get_item(self._tables, CREDENTIALS, {"pk": owner_item_key(owner)})
        ids = sorted(item.get("key_ids", set())) if item else []
        items = batch_get(self._tables, CREDENTIALS, [{"pk": key_item_key(i)} for i in ids])
        found = [ApiKey.model_validate(i) for i in items]
        mine = [key for key in found if key.owner == owner and key.revoked_at is None]
        return sorted(mine, key=lambda key: (key.created_at, key.key_id))

    def revoke(self, owner: str, key_id: str, *, now: int, keep_until: int) -> None:
        """Void the key (its hash removed) and drop it from the owner's set; ``NotFound``
        unless it is a live key of ``owner``."""
        Transaction(self._tables).update(
            CREDENTIALS,
            {"pk": key_item_key(key_id)},
            "SET #revoked_at = :now, #expires_at = :keep_until REMOVE #secret_hash",
            condition="#owner = :owner AND attribute_not_exists(#revoked_at)",
            names={
                "#revoked_at": "revoked_at",
                "#expires_at": "expires_at",
                "#secret_hash": "secret_hash",
                "#owner": "owner",
            },
            values={"now": now, "keep_until": keep_until, "owner": owner},
            on_condition_failed=lambda: NotFound(f"no API key {key_id}"),
        ).update(
            CREDENTIALS,
            {"pk": owner_item_key(owner)},
            "DELETE #key_ids :ids",
            names={"#key_ids": "key_ids"},
            values={"ids": {key_id}},
        ).commit()

    def touch(self, key_id: str, *, now: int, unless_since: int) -> bool:
        """Stamp ``last_used_at = now`` unless it is already ``unless_since`` or later (or the
        key is gone); True when it wrote. Used at most hourly per key."""
        try:
            with condition_failure_as(ConcurrentUpdate):
                self._tables.client.update_item(
                    TableName=self._name,
                    Key=codec.to_item({"pk": key_item_key(key_id)}),
                    UpdateExpression="SET #last_used_at = :now",
                    ConditionExpression=(
                        "attribute_exists(#pk) AND attribute_not_exists(#revoked_at) AND "
                        "(attribute_not_exists(#last_used_at) OR #last_used_at < :since)"
                    ),
                    ExpressionAttributeNames={
                        "#pk": "pk",
                        "#revoked_at": "revoked_at",
                        "#last_used_at": "last_used_at",
                    },
                    ExpressionAttributeValues=codec.values(now=now, since=unless_since),
                )
        except ConcurrentUpdate:
            return False  # another request stamped it, or the key was just revoked
        return True
