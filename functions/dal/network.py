"""The ``network`` table: the difficulty the platform follows, and the node's verdicts.

- ``pk = "difficulty"``: one ``NetworkState`` item (the current value, its recent changes,
  the read failures). Written by the network job with a version condition, so two runs
  that overlap cannot undo each other; read with one GetItem (eventually consistent: a
  reader a second behind a change is covered by the grace).
- ``pk = "verdict#<hash>"``: one ``Verdict`` per verified block. Kept apart from the block
  item on purpose: a block item sits in three or four ALL-projected indexes and a stream,
  so writing the verdict onto it would cost five write units and a live record per block;
  here it costs one. Readers join it back (``attach``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from functions.dal import codec
from functions.dal.reads import batch_get, get_record
from functions.dal.specs import NETWORK
from functions.dal.tables import Tables
from functions.dal.transact import condition_failure_as
from functions.errors import Conflict
from functions.models.blocks import NETWORK_FIELDS, Block, NetworkStatus
from functions.models.network import NetworkState, Verdict

STATE_KEY = "difficulty"
_VERDICT_PREFIX = "verdict#"


def verdict_key(hash_b64: str) -> str:
    return f"{_VERDICT_PREFIX}{hash_b64}"


class NetworkRepository:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables
        self._name = tables.name(NETWORK)

    # -- the difficulty ----------------------------------------------------------------

    def state(self, *, consistent: bool = False) -> NetworkState | None:
        return get_record(
            self._tables, NETWORK, NetworkState, {"pk": STATE_KEY}, consistent=consistent
        )

    def save_state(self, state: NetworkState, *, expected_version: int | None) -> None:
        """Write ``state`` (its ``version`` one above ``expected_version``; None: the first
        write). ``Conflict`` when another run wrote in between."""
        item = {**state.model_dump(mode="json"), "pk": STATE_KEY}
        if expected_version is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "#version = :version",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": codec.values(version=expected_version),
            }
        with condition_failure_as(lambda: Conflict("the network state changed meanwhile")):
            self._tables.client.put_item(
                TableName=self._name, Item=codec.to_item(item), **condition
            )

    # -- verdicts ----------------------------------------------------------------------

    def verdict(self, hash_b64: str) -> Verdict | None:
        return get_record(self._tables, NETWORK, Verdict, {"pk": verdict_key(hash_b64)})

    def verdicts(self, hashes: Sequence[str]) -> dict[str, Verdict]:
        keys = [{"pk": verdict_key(h)} for h in dict.fromkeys(hashes)]
        items = batch_get(self._tables, NETWORK, keys) if keys else []
        found = (Verdict.model_validate(item) for item in items)
        return {verdict.hash: verdict for verdict in found}

    def record_verdict(self, verdict: Verdict) -> bool:
        """Store ``verdict`` unless a final one is there already (False then): accepted,
        duplicate and refused are never overwritten; unreachable gives way to any answer."""
        item = {**verdict.model_dump(mode="json"), "pk": verdict_key(verdict.hash)}
        try:
            with condition_failure_as(lambda: Conflict("a final verdict is recorded")):
                self._tables.client.put_item(
                    TableName=self._name,
                    Item=codec.to_item(item),
                    ConditionExpression="attribute_not_exists(pk) OR #status = :unreachable",
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues=codec.values(
                        unreachable=NetworkStatus.UNREACHABLE.value
                    ),
                )
        except Conflict:
            return False
        return True

    def attach(self, blocks: Sequence[Block]) -> list[Block]:
        """``blocks`` with their network status: verified ones get their verdict (one
        BatchGetItem per 100), refused ones stay ``unconfirmed`` (no verdict is kept for a
        report we refused)."""
        verified = [block.hash for block in blocks if block.verified]
        verdicts = self.verdicts(verified) if verified else {}
        return [with_verdict(block, verdicts.get(block.hash)) for block in blocks]


def with_verdict(block: Block, verdict: Verdict | None) -> Block:
    if verdict is None or not block.verified or verdict.worker_id != block.worker_id:
        return block
    update = {
        "network_status": verdict.status,
        "network_reason": verdict.reason,
        "network_at": verdict.at,
    }
    assert set(update) == NETWORK_FIELDS
    return block.model_copy(update=update)
