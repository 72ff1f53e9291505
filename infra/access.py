"""Who may touch which table, and how: the least-privilege map, in one place.

Each function's handler was read to its repositories (``functions/dal``) to list the tables
it reads and writes. Grants are explicit actions on the table and its indexes: no
``dynamodb:*``, and no ``Scan`` anywhere (no code path scans; a test keeps it that way).
Transactions need ``ConditionCheckItem`` next to the writes they guard.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from protocol.topics import TOPIC_ROOT, Downlink


class Access(StrEnum):
    READ = "read"
    WRITE = "write"  # read and write
    # Read, and delete rows (the fleet job forgets WebSocket connections found closed).
    READ_DELETE = "read_delete"


READ_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
)
WRITE_ACTIONS = (
    *READ_ACTIONS,
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
)
ACTIONS: Mapping[Access, tuple[str, ...]] = {
    Access.READ: READ_ACTIONS,
    Access.WRITE: WRITE_ACTIONS,
    Access.READ_DELETE: (*READ_ACTIONS, "dynamodb:DeleteItem"),
}

R, W, RD = Access.READ, Access.WRITE, Access.READ_DELETE

# Function → {table spec name: access}. The keys are the function ids used by the stack.
SNAPSHOT_READS = {"workers": R, "leases": R, "blocks": R, "telemetry": R, "listings": R}
TABLE_ACCESS: Mapping[str, Mapping[str, Access]] = {
    # IngestService: worker summaries, lease share counters, blocks, shares, telemetry; the
    # network's difficulty (read) and the node's verdicts (written).
    "ingest": {
        "workers": W,
        "leases": W,
        "blocks": W,
        "shares": W,
        "telemetry": W,
        "network": W,
    },
    # Heartbeat batches: the heartbeat writes, then the live push reads who is connected,
    # their leases and workers' owners, and forgets connections found closed.
    # Each heartbeat is scored against its rig's baseline; findings open and close.
    "ingest_batch": {
        "workers": W,
        "telemetry": W,
        "leases": R,
        "connections": RD,
        "insights": W,
    },
    # The HTTP API serves every product path (not the WebSocket connections).
    "api": {
        "workers": W,
        "listings": W,
        "leases": W,
        "accounts": W,
        "ledger": W,
        "blocks": W,
        "shares": R,
        "telemetry": W,
        "nonces": W,
        # Sign-outs and API keys: one read per signed-in request, their writes.
        "credentials": W,
        "alerts": W,
        "idempotency": W,
        # The network's difficulty for assign_task; verdicts joined onto blocks.
        "network": R,
        # Findings, baselines and GPU-model figures for the insights and recommendations.
        "insights": R,
    },
    # Settlement: one transaction per lease (lease, listing, balances, ledger; a delist
    # that waited for the lease's end also clears the worker's listing id).
    "settle": {"leases": W, "listings": W, "accounts": W, "ledger": W, "workers": W},
    # The price index: open listings and active leases in, index points out.
    "pricing": {"listings": R, "leases": R, "telemetry": W},
    # Reputation: computed from leases, blocks and history, copied onto worker and listing.
    "reputation": {"workers": W, "listings": W, "leases": R, "blocks": R, "telemetry": R},
    # The fleet sweep: online workers (the liveness index) and their listings in, silent
    # workers marked offline, fleet/owner points out, then the public summary to every
    # WebSocket connection (forgetting closed ones).
    "fleet_stats": {"workers": W, "listings": R, "telemetry": W, "connections": RD},
    # The network job: its state item and verdicts; active leases (whose rigs get a change
    # pushed) and recent verified blocks (confirmed with the node's read API).
    "network": {"network": W, "leases": R, "blocks": R},
    # Alerts: rules, events and cooldowns; worker state and history to evaluate them.
    "alerts": {"alerts": W, "workers": R, "telemetry": R, "insights": R},
    # Baselines: online workers and their history in, baselines and GPU-model figures out.
    "insights": {"workers": R, "telemetry": R, "insights": W},
    # On-chain deposits (issue #24, only where configured): deposit addresses, deposits and
    # the cursor (accounts), balances credited with their ledger entries.
    "deposits": {"accounts": W, "ledger": W},
    # On-chain withdrawals (issue #24, only where configured): the withdrawals and the hot
    # wallet's state (accounts), refunds of failed ones with their ledger entries.
    "payouts": {"accounts": W, "ledger": W},
    # Live updates ($connect / $disconnect store and forget the connection). $connect
    # checks the token as the API does (sign-outs, API keys, a key's hourly last-used stamp).
    "live_connect": {"connections": W, "credentials": W},
    "live_disconnect": {"connections": W},
    # $default answers snapshots: the connection, then what the snapshot reads.
    "live_default": {"connections": W, **SNAPSHOT_READS},
    # The stream fan-out: connections by shard/subject (closed ones deleted) and the
    # records' context (a worker's lease, a lease's worker).
    "live_stream": {"connections": W, **SNAPSHOT_READS},
}

# Function → the downlink topics it publishes to rigs on (iot-data Publish).
PUBLISHES: Mapping[str, tuple[Downlink, ...]] = {
    "ingest": (Downlink.TASK,),  # register_ack, assign_task after a restart
    "settle": (Downlink.TASK,),  # release at a lease's end
    "network": (Downlink.CONTROL,),  # set_config to leased rigs when the difficulty moves
    "api": (Downlink.TASK, Downlink.CONTROL),  # assign_task on rent, operator commands
    "alerts": (Downlink.CONTROL,),  # a rule's automatic action: pause, or pause and resume
}


def table_statements(
    access: Mapping[str, Access], tables: Mapping[str, dynamodb.ITable]
) -> list[iam.PolicyStatement]:
    """One statement per access level, over the tables and their indexes."""
    by_level: dict[Access, list[str]] = {}
    for name in sorted(access):
        level = access[name]
        table = tables[name]
        by_level.setdefault(level, []).extend([table.table_arn, f"{table.table_arn}/index/*"])
    return [
        iam.PolicyStatement(actions=list(ACTIONS[level]), resources=resources)
        for level, resources in sorted(by_level.items())
    ]


def publish_statement(scope: Construct, suffixes: tuple[Downlink, ...]) -> iam.PolicyStatement:
    """iot:Publish on ``xenminer/*/<suffix>``: downlink topics only, never a rig's uplink."""
    stack = Stack.of(scope)
    resources = [
        stack.format_arn(
            service="iot",
            resource="topic",
            resource_name=f"{TOPIC_ROOT}/*/{suffix.value}",
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        for suffix in suffixes
    ]
    return iam.PolicyStatement(actions=["iot:Publish"], resources=resources)


def iot_arn(scope: Construct, resource: str, name: str) -> str:
    """``arn:<partition>:iot:<region>:<account>:<resource>/<name>`` of this stack."""
    return Stack.of(scope).format_arn(
        service="iot",
        resource=resource,
        resource_name=name,
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )
