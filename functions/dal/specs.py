"""The DynamoDB tables, defined once.

The CDK app builds its tables from these specs and the tests and the local stack create
theirs from them too, so a key or index exists in exactly one place. Every frequent access
path of DESIGN.md maps to a GetItem on a table key or a Query on one of these indexes:

- workers:      a worker (GetItem); a provider's workers (``by_owner``); every online
                worker (``by_liveness``, sparse: the fleet sweep).
- listings:     cheapest open listings (``open_by_price``), by GPU model
                (``open_by_gpu_price``), both sparse; a provider's listings (``by_provider``).
- leases:       a renter's / provider's leases (``by_renter``, ``by_provider``); a worker's
                active lease (``by_active_worker``, sparse) and history (``by_worker``);
                leases due to end (``due``, sparse, ordered by end time).
- accounts:     a balance (GetItem); pending withdrawals for admins (``pending``, sparse).
- ledger:       an account's history, newest first (``by_from_party``, ``by_to_party``).
- blocks:       recent verified blocks (``recent``, one partition per UTC day); a worker's
                (``by_worker``), a lease's (``by_lease``), an account's (``by_account``).
- shares:       a lease's verified shares (``by_lease``); TTL.
- telemetry:    a series' history (worker, owner, fleet) by time; TTL.
- connections:  WebSocket connections by subject and by broadcast shard; TTL.
- nonces:       sign-in nonces; TTL.
- credentials:  an address's session sign-outs (one GetItem per signed-in request), API keys
                by id (one GetItem per key request) and each address's key ids; TTL.
- alerts:       an owner's alert rules and events (table key), every enabled rule for the
                alerts job (``enabled_rules``, sparse); events expire by TTL.
- network:      the network's difficulty and its recent changes (GetItem, cached ~30 s by
                ingest and the API); the node's verdict on a block (GetItem/BatchGetItem
                by hash, joined onto blocks when read).
- idempotency:  the Powertools idempotency store (its default schema); TTL.

Indexes over items that change often (a worker's heartbeat, a lease's share counters) are
KEYS_ONLY, so those frequent updates never write the index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class AttrType(StrEnum):
    STRING = "S"
    NUMBER = "N"


class Projection(StrEnum):
    ALL = "ALL"
    KEYS_ONLY = "KEYS_ONLY"


class StreamView(StrEnum):
    NEW_AND_OLD_IMAGES = "NEW_AND_OLD_IMAGES"


@dataclass(frozen=True)
class KeyAttr:
    name: str
    type: AttrType = AttrType.STRING


@dataclass(frozen=True)
class IndexSpec:
    name: str
    partition_key: KeyAttr
    sort_key: KeyAttr | None = None
    projection: Projection = Projection.ALL


@dataclass(frozen=True)
class TableSpec:
    name: str
    partition_key: KeyAttr
    sort_key: KeyAttr | None = None
    indexes: tuple[IndexSpec, ...] = ()
    ttl_attribute: str | None = None
    stream: StreamView | None = None
    description: str = ""
    key_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        keys = (self.partition_key.name,) + ((self.sort_key.name,) if self.sort_key else ())
        object.__setattr__(self, "key_names", keys)

    def index(self, name: str) -> IndexSpec:
        for index in self.indexes:
            if index.name == name:
                return index
        raise KeyError(f"table {self.name} has no index {name}")

    def attribute_definitions(self) -> list[dict[str, str]]:
        """Every key attribute of the table and its indexes, once each."""
        seen: dict[str, AttrType] = {}
        keys = [self.partition_key, self.sort_key]
        for index in self.indexes:
            keys += [index.partition_key, index.sort_key]
        for key in keys:
            if key is None:
                continue
            if seen.setdefault(key.name, key.type) != key.type:
                raise ValueError(f"{self.name}.{key.name} is declared with two types")
        return [{"AttributeName": name, "AttributeType": str(t)} for name, t in seen.items()]

    def create_table_request(self, physical_name: str) -> dict[str, Any]:
        """The boto3 ``create_table`` arguments (used by tests and the local stack)."""
        request: dict[str, Any] = {
            "TableName": physical_name,
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": _key_schema(self.partition_key, self.sort_key),
            "AttributeDefinitions": self.attribute_definitions(),
        }
        if self.indexes:
            request["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": index.name,
                    "KeySchema": _key_schema(index.partition_key, index.sort_key),
                    "Projection": {"ProjectionType": str(index.projection)},
                }
                for index in self.indexes
            ]
        if self.stream is not None:
            request["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": str(self.stream),
            }
        return request


def _key_schema(partition: KeyAttr, sort: KeyAttr | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": partition.name, "KeyType": "HASH"}]
    if sort is not None:
        schema.append({"AttributeName": sort.name, "KeyType": "RANGE"})
    return schema


S = AttrType.STRING
N = AttrType.NUMBER

WORKERS = TableSpec(
    name="workers",
    partition_key=KeyAttr("worker_id"),
    indexes=(
        IndexSpec("by_owner", KeyAttr("owner"), KeyAttr("worker_id"), Projection.KEYS_ONLY),
        # Present only while a worker is online (``live_shard`` is set): the fleet sweep
        # reads it. Its keys never move while a worker stays online, so heartbeats never
        # write to it.
        IndexSpec("by_liveness", KeyAttr("live_shard"), KeyAttr("worker_id"), Projection.KEYS_ONLY),
    ),
    stream=StreamView.NEW_AND_OLD_IMAGES,
    description="Enrolled rigs: identity, owner, inventory, live summary.",
)

LISTINGS = TableSpec(
    name="listings",
    partition_key=KeyAttr("listing_id"),
    indexes=(
        IndexSpec("by_provider", KeyAttr("provider"), KeyAttr("created_at", N)),
        # Sparse: ``open_market``/``open_gpu`` exist only while a listing can be rented;
        # ``unit_price`` is micro-credits per hour per H/s, so Query order is best value.
        IndexSpec("open_by_price", KeyAttr("open_market"), KeyAttr("unit_price", N)),
        IndexSpec("open_by_gpu_price", KeyAttr("open_gpu"), KeyAttr("unit_price", N)),
    ),
    description="Hashpower offers: one per worker, priced per hour in micro-credits.",
)

LEASES = TableSpec(
    name="leases",
    partition_key=KeyAttr("lease_id"),
    indexes=(
        IndexSpec("by_renter", KeyAttr("renter"), KeyAttr("created_at", N), Projection.KEYS_ONLY),
        IndexSpec(
            "by_provider", KeyAttr("provider"), KeyAttr("created_at", N), Projection.KEYS_ONLY
        ),
        IndexSpec(
            "by_worker", KeyAttr("worker_id"), KeyAttr("created_at", N), Projection.KEYS_ONLY
        ),
        # Sparse: set while the lease is active, removed at settlement.
        IndexSpec("by_active_worker", KeyAttr("active_worker_id"), None, Projection.KEYS_ONLY),
        IndexSpec("due", KeyAttr("due_shard"), KeyAttr("ends_at", N), Projection.KEYS_ONLY),
    ),
    stream=StreamView.NEW_AND_OLD_IMAGES,
    description="Rentals of a listing for a time, with their escrow and delivered work.",
)

ACCOUNTS = TableSpec(
    name="accounts",
    partition_key=KeyAttr("pk"),
    sort_key=KeyAttr("sk"),
    indexes=(IndexSpec("pending", KeyAttr("pending"), KeyAttr("requested_at", N)),),
    description="Balances (sk ACCOUNT) and withdrawal requests (sk WITHDRAWAL#id).",
)

LEDGER = TableSpec(
    name="ledger",
    partition_key=KeyAttr("entry_id"),
    indexes=(
        IndexSpec("by_from_party", KeyAttr("from_party"), KeyAttr("ts_key")),
        IndexSpec("by_to_party", KeyAttr("to_party"), KeyAttr("ts_key")),
    ),
    description="Immutable money movements, one per movement, keyed by a deterministic id.",
)

BLOCKS = TableSpec(
    name="blocks",
    partition_key=KeyAttr("hash"),
    indexes=(
        IndexSpec("recent", KeyAttr("day"), KeyAttr("ts_key")),
        IndexSpec("by_worker", KeyAttr("worker_id"), KeyAttr("ts_key")),
        IndexSpec("by_lease", KeyAttr("lease_id"), KeyAttr("ts_key")),
        IndexSpec("by_account", KeyAttr("credited_account"), KeyAttr("ts_key")),
    ),
    stream=StreamView.NEW_AND_OLD_IMAGES,
    description="Reported blocks, verified or rejected with a reason; one item per hash.",
)

SHARES = TableSpec(
    name="shares",
    partition_key=KeyAttr("hash"),
    indexes=(IndexSpec("by_lease", KeyAttr("lease_id"), KeyAttr("ts_key")),),
    ttl_attribute="expires_at",
    description="Verified proof-of-work shares of leases; one item per hash.",
)

TELEMETRY = TableSpec(
    name="telemetry",
    partition_key=KeyAttr("series"),
    sort_key=KeyAttr("ts", N),
    ttl_attribute="expires_at",
    description="Time series points: worker#<id>, owner#<address>, fleet.",
)

CONNECTIONS = TableSpec(
    name="connections",
    partition_key=KeyAttr("connection_id"),
    indexes=(
        IndexSpec("by_subject", KeyAttr("subject"), KeyAttr("connection_id")),
        IndexSpec("by_shard", KeyAttr("shard"), KeyAttr("connection_id")),
    ),
    ttl_attribute="expires_at",
    description="Live WebSocket connections and who they belong to.",
)

NONCES = TableSpec(
    name="nonces",
    partition_key=KeyAttr("nonce"),
    ttl_attribute="expires_at",
    description="Sign-in nonces, consumed once.",
)

ALERTS = TableSpec(
    name="alerts",
    partition_key=KeyAttr("owner"),
    sort_key=KeyAttr("sk"),
    indexes=(
        # Sparse: every enabled rule, so the alerts job finds them with one Query.
        IndexSpec("enabled_rules", KeyAttr("rule_shard"), KeyAttr("rule_id")),
    ),
    ttl_attribute="expires_at",
    stream=StreamView.NEW_AND_OLD_IMAGES,
    description="Alert rules (sk RULE#id), events (sk EVENT#ts#id, TTL) and cooldowns.",
)

CREDENTIALS = TableSpec(
    name="credentials",
    partition_key=KeyAttr("pk"),
    ttl_attribute="expires_at",
    description=(
        "Session sign-outs (pk session#<address>, TTL), API keys stored as a hash of their "
        "secret (key#<key_id>; revoked ones linger a while, TTL) and the key ids of each "
        "address (keys#<address>)."
    ),
)

NETWORK = TableSpec(
    name="network",
    partition_key=KeyAttr("pk"),
    description=(
        "What the XenBlocks network says: the difficulty it publishes with its recent "
        "changes (pk difficulty, one item) and the node's verdict on each verified block "
        "(pk verdict#<hash>)."
    ),
)

INSIGHTS = TableSpec(
    name="insights",
    partition_key=KeyAttr("pk"),
    sort_key=KeyAttr("sk"),
    indexes=(
        # Sparse: only findings carry ``finding_owner``, so an owner's are one Query.
        IndexSpec("findings_by_owner", KeyAttr("finding_owner"), KeyAttr("finding_sk")),
    ),
    ttl_attribute="expires_at",
    description=(
        "Fleet intelligence: each rig's baseline (pk worker#<id>, sk BASELINE), its anomaly "
        "findings (sk FINDING#<opened>#<reason>#<gpu>, TTL once closed) and the GPU models' "
        "public figures (pk gpu_models, sk <model>)."
    ),
)

IDEMPOTENCY = TableSpec(
    name="idempotency",
    partition_key=KeyAttr("id"),
    ttl_attribute="expiration",
    description="Powertools idempotency records.",
)

ALL_TABLES: tuple[TableSpec, ...] = (
    WORKERS,
    LISTINGS,
    LEASES,
    ACCOUNTS,
    LEDGER,
    BLOCKS,
    SHARES,
    TELEMETRY,
    CONNECTIONS,
    NONCES,
    ALERTS,
    IDEMPOTENCY,
    CREDENTIALS,
    NETWORK,
    INSIGHTS,
)


def spec(name: str) -> TableSpec:
    for table in ALL_TABLES:
        if table.name == name:
            return table
    raise KeyError(f"no table spec named {name}")
