"""Sign-in nonces: issued once, consumed once.

Besides one item per nonce the table holds, per address, a pointer item keyed
``latest:<address>`` naming the nonce issued last, so a client that verifies with only
``{address, signature}`` still finds the message it signed. Both expire alike (TTL).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from functions.dal import codec
from functions.dal.specs import NONCES
from functions.dal.tables import Tables
from functions.dal.transact import Transaction, condition_failure_as
from functions.errors import AlreadyExists, Unauthorized
from functions.models.auth import LatestNonce, Nonce

LATEST_PREFIX = "latest:"


def _refused() -> Unauthorized:
    # One message whatever the cause: a caller learns nothing about other people's nonces.
    return Unauthorized("sign-in nonce is unknown, expired or already used")


def _latest_key(address: str) -> str:
    return f"{LATEST_PREFIX}{address}"


class NonceRepository:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables
        self._name = tables.name(NONCES)

    def create(self, nonce: Nonce) -> Nonce:
        with condition_failure_as(lambda: AlreadyExists(f"nonce {nonce.nonce} exists")):
            self._tables.client.put_item(
                TableName=self._name,
                Item=codec.to_item(nonce.model_dump(mode="json")),
                ConditionExpression="attribute_not_exists(#nonce)",
                ExpressionAttributeNames={"#nonce": "nonce"},
            )
        return nonce

    def issue(self, nonce: Nonce) -> Nonce:
        """Store a new nonce and point its address's ``latest`` item at it, both or neither."""
        pointer = {
            "nonce": _latest_key(nonce.address),
            "address": nonce.address,
            "points_to": nonce.nonce,
            "expires_at": nonce.expires_at,
        }
        Transaction(self._tables).put(
            NONCES,
            nonce.model_dump(mode="json"),
            condition="attribute_not_exists(#nonce)",
            names={"#nonce": "nonce"},
            on_condition_failed=lambda: AlreadyExists(f"nonce {nonce.nonce} exists"),
        ).put(NONCES, pointer).commit()
        return nonce

    def get(self, nonce: str, now: int) -> Nonce | None:
        """The nonce if it exists and has not expired (TTL deletes only eventually)."""
        if nonce.startswith(LATEST_PREFIX):
            return None
        item = self._get_item(nonce)
        if item is None or item["expires_at"] <= now:
            return None
        return Nonce.model_validate(item)

    def latest(self, address: str, now: int) -> LatestNonce | None:
        """The nonce ``address`` was issued last, if it has not expired."""
        item = self._get_item(_latest_key(address))
        if item is None or item["expires_at"] <= now:
            return None
        return LatestNonce(
            address=item["address"], nonce=item["points_to"], expires_at=item["expires_at"]
        )

    def consume(self, nonce: str, address: str, now: int) -> Nonce:
        """Delete the nonce if it was issued to ``address`` and is still valid.

        One conditional delete, so two sign-ins racing with the same nonce cannot both
        win. The expiry is checked here because TTL deletes expired items only eventually.
        A wrong address leaves the nonce for its rightful owner. The address's ``latest``
        pointer goes too if it still names this nonce.
        """
        if nonce.startswith(LATEST_PREFIX):
            raise _refused()
        with condition_failure_as(_refused):
            response = self._tables.client.delete_item(
                TableName=self._name,
                Key=codec.to_item({"nonce": nonce}),
                ConditionExpression=(
                    "attribute_exists(#nonce) AND #address = :address AND #expires_at > :now"
                ),
                ExpressionAttributeNames={
                    "#nonce": "nonce",
                    "#address": "address",
                    "#expires_at": "expires_at",
                },
                ExpressionAttributeValues=codec.values(address=address, now=now),
                ReturnValues="ALL_OLD",
            )
        consumed = Nonce.model_validate(codec.from_item(response["Attributes"]))
        self._drop_latest(address, nonce)
        return consumed

    def _drop_latest(self, address: str, nonce: str) -> None:
        # Best effort: a newer nonce may own the pointer by now, and a pointer left behind
        # names a consumed nonce, which refuses sign-ins on its own.
        try:
            self._tables.client.delete_item(
                TableName=self._name,
                Key=codec.to_item({"nonce": _latest_key(address)}),
                ConditionExpression="#points_to = :nonce",
                ExpressionAttributeNames={"#points_to": "points_to"},
                ExpressionAttributeValues=codec.values(nonce=nonce),
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def _get_item(self, key: str) -> dict[str, Any] | None:
        response = self._tables.client.get_item(
            TableName=self._name, Key=codec.to_item({"nonce": key}), ConsistentRead=True
        )
        item = response.get("Item")
        return codec.from_item(item) if item else None
