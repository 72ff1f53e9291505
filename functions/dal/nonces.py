"""Sign-in nonces: issued once, consumed once."""

from __future__ import annotations

from functions.dal import codec
from functions.dal.specs import NONCES
from functions.dal.tables import Tables
from functions.dal.transact import condition_failure_as
from functions.errors import AlreadyExists, Unauthorized
from functions.models.auth import Nonce


def _refused() -> Unauthorized:
    # One message whatever the cause: a caller learns nothing about other people's nonces.
    return Unauthorized("sign-in nonce is unknown, expired or already used")


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

    def consume(self, nonce: str, address: str, now: int) -> Nonce:
        """Delete the nonce if it was issued to ``address`` and is still valid.

        One conditional delete, so two sign-ins racing with the same nonce cannot both
        win. The expiry is checked here because TTL deletes expired items only eventually.
        A wrong address leaves the nonce for its rightful owner.
        """
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
        return Nonce.model_validate(codec.from_item(response["Attributes"]))
