"""What every stage deploys alike, without the CDK: the constructs build from it and
``xenblocks cost`` (``tools/cost/``) prices it, so the bill follows what is deployed.

Each platform function's handler, memory and log level, the scheduled jobs, the stream
consumers' batching and the alarms. What an operator sets per stage (the heartbeat schedule,
the heartbeat stream's shards and batching window, log retention, reserved concurrency) is
``infra.config.DeployConfig``, read from cdk.json (``infra.config.deployed_config``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from functions.logic.fleet_stats import SWEEP_SECONDS


@dataclass(frozen=True)
class Sizing:
    """One platform function as deployed (``infra.functions.PlatformFunction``)."""

    handler: str
    memory_mb: int
    log_level: str = "INFO"  # Powertools' level name; Lambda filters the JSON logs by it


# --- the device plane (infra/device_plane.py) ---------------------------------------------

INGEST_HANDLER = "functions.handlers.ingest.handler"
BATCH_HANDLER = "functions.handlers.ingest.batch_handler"
# Register, status and the node's verdicts, one message per invocation.
INGEST = Sizing(INGEST_HANDLER, memory_mb=256)
# The heartbeat stream's consumer: its time is mostly waiting on DynamoDB and WebSocket
# posts, not CPU; every heartbeat passes through it, so it logs warnings only (one metrics
# line per batch still flows).
INGEST_BATCH = Sizing(BATCH_HANDLER, memory_mb=512, log_level="WARNING")
# Block and share reports: the memory and CPU to recompute Argon2id at network difficulty.
VERIFY = Sizing(INGEST_HANDLER, memory_mb=1024)
VERIFY_ROUTES = frozenset({"block", "share"})
# Heartbeat records per batch at most (or the stage's batching window, whichever first).
BATCH_SIZE = 10_000

# --- the HTTP API (infra/api.py) ----------------------------------------------------------

API_HANDLER = "functions.handlers.api.handler"
API = Sizing(API_HANDLER, memory_mb=512)

# --- live updates (infra/live.py) ---------------------------------------------------------

LIVE: Mapping[str, Sizing] = {
    "connect": Sizing("functions.handlers.live.connect_handler", memory_mb=256),
    "disconnect": Sizing("functions.handlers.live.disconnect_handler", memory_mb=256),
    "default": Sizing("functions.handlers.live.default_handler", memory_mb=512),
    "stream": Sizing("functions.handlers.live.stream_handler", memory_mb=512),
}
# The table-stream consumer's batching: up to 100 records gathered for at most a second.
STREAM_BATCH_SIZE = 100
STREAM_BATCH_WINDOW_SECONDS = 1

# --- scheduled jobs (infra/schedules.py) --------------------------------------------------


@dataclass(frozen=True)
class Job:
    key: str  # the access map's key (infra/access.py)
    handler: str
    every_minutes: int
    description: str
    timeout_seconds: int = 60
    memory_mb: int = 256

    @property
    def sizing(self) -> Sizing:
        return Sizing(self.handler, self.memory_mb)


JOBS: tuple[Job, ...] = (
    Job(
        "settle",
        "functions.handlers.jobs.settle_handler",
        1,
        "settles leases that ended: pay, fee, refund",
        timeout_seconds=120,
    ),
    Job("pricing", "functions.handlers.jobs.pricing_handler", 5, "refreshes the price index"),
    Job(
        "reputation",
        "functions.handlers.jobs.reputation_handler",
        60,
        "recomputes online workers' reputation",
        timeout_seconds=120,
    ),
    Job(
        "fleet_stats",
        "functions.handlers.jobs.fleet_stats_handler",
        SWEEP_SECONDS // 60,
        "marks silent workers offline, writes the fleet figures, broadcasts the public summary",
        timeout_seconds=120,
    ),
    Job(
        "network",
        "functions.handlers.jobs.network_handler",
        1,
        "follows the XenBlocks network's difficulty, pushes changes to leased rigs, "
        "confirms leased blocks with the node",
        timeout_seconds=60,
    ),
    Job(
        "insights",
        "functions.handlers.jobs.insights_handler",
        60,
        "rebuilds an hourly slice of the online rigs' baselines; GPU-model figures daily",
        timeout_seconds=300,
        memory_mb=512,
    ),
    Job(
        "alerts",
        "functions.handlers.alerts.handler",
        1,
        "evaluates alert rules and delivers webhooks",
        timeout_seconds=90,
    ),
)

# --- on-chain deposits (issue #24; infra/schedules.py, only where configured) -------------

# The deposit watcher: reads the chain's logs and credits confirmed transfers. Its own
# function (web3.py loads nowhere else), on a stage with deposits configured only, so the
# stage's cost (``xenblocks cost``) leaves it out: one small run a minute.
DEPOSITS = Sizing("functions.handlers.deposits.handler", memory_mb=512)
DEPOSITS_EVERY_MINUTES = 1
DEPOSITS_TIMEOUT_SECONDS = 60

# --- on-chain withdrawals (issue #24; infra/schedules.py, only where configured) ----------

# The payouts job: signs withdrawals with the hot wallet's KMS key, sends, re-sends and
# settles them. Its own function (the only one that may sign), on a stage with withdrawals
# on chain only; one run at a time (reserved concurrency 1: the hot wallet's nonces are
# handed out in order), each done well before the next minute's.
PAYOUTS = Sizing("functions.handlers.payouts.handler", memory_mb=512)
PAYOUTS_EVERY_MINUTES = 1
PAYOUTS_TIMEOUT_SECONDS = 60
PAYOUTS_CONCURRENCY = 1
# The Powertools service its metrics carry (the ``service`` dimension).
PAYOUTS_SERVICE = "payouts"


@dataclass(frozen=True)
class MetricAlarm:
    """An alarm on a job's own metric (namespace XenBlocks, dimension ``service``): its
    maximum over five minutes reaches 1; no data is not a breach."""

    service: str
    metric: str
    description: str


# The payouts job's metrics an operator must act on (functions/handlers/payouts.py).
PAYOUTS_ALARMS: tuple[MetricAlarm, ...] = (
    MetricAlarm(
        PAYOUTS_SERVICE,
        "HotWalletTokenLow",
        "the hot wallet holds less of the token than xenblocks:hotWalletMinBalance (fund it)",
    ),
    MetricAlarm(
        PAYOUTS_SERVICE,
        "HotWalletGasLow",
        "the hot wallet holds less of the chain's coin than xenblocks:hotWalletMinGasWei "
        "(fund it for gas)",
    ),
    MetricAlarm(
        PAYOUTS_SERVICE,
        "DailyLimitReached",
        "withdrawals wait: today's xenblocks:withdrawalDailyLimit is spent",
    ),
    MetricAlarm(
        PAYOUTS_SERVICE,
        "WithdrawalsStuck",
        "withdrawals sent on chain stay unmined after their re-sends (the fee cap, the "
        "node: see the payouts job's logs)",
    ),
    MetricAlarm(PAYOUTS_SERVICE, "WithdrawalsFailed", "withdrawals failed on chain"),
    MetricAlarm(
        PAYOUTS_SERVICE,
        "HotWalletNonceMismatch",
        "the hot wallet's nonce on chain differs from the platform's (was its key used elsewhere?)",
    ),
)
# What the dashboard plots of the payouts job (Sum per period).
PAYOUTS_FIGURES = (
    "WithdrawalsSent",
    "WithdrawalsSettled",
    "WithdrawalsFailed",
    "WithdrawalsRebroadcast",
    "WithdrawalsWaiting",
    "WithdrawalsStuck",
)

# --- the whole stack ----------------------------------------------------------------------

# Every platform function of a stage (infra/stack.py's ``functions``).
FUNCTIONS: tuple[Sizing, ...] = (
    INGEST,
    INGEST_BATCH,
    VERIFY,
    API,
    *LIVE.values(),
    *(job.sizing for job in JOBS),
)
# The functions reading a stream (an iterator-age alarm each).
STREAM_CONSUMERS: tuple[Sizing, ...] = (INGEST_BATCH, LIVE["stream"])
# Per function (infra/observability.py): errors, throttles, p99 duration near the timeout.
ALARMS_PER_FUNCTION = 3
# The rest: the dead-letter queue, the heartbeat stream's write and read throttling, 5xx.
OTHER_ALARMS = 4


def stage_functions(*, deposits: bool = False, withdrawals: bool = False) -> tuple[Sizing, ...]:
    """Every platform function of a stage, with the deposit watcher and the payouts job
    where configured."""
    return (
        *FUNCTIONS,
        *((DEPOSITS,) if deposits else ()),
        *((PAYOUTS,) if withdrawals else ()),
    )


def alarm_count(tables: int, *, deposits: bool = False, withdrawals: bool = False) -> int:
    """The alarms of a stage with ``tables`` tables (one throttling alarm each)."""
    functions = len(stage_functions(deposits=deposits, withdrawals=withdrawals))
    jobs = len(PAYOUTS_ALARMS) if withdrawals else 0
    return ALARMS_PER_FUNCTION * functions + len(STREAM_CONSUMERS) + tables + OTHER_ALARMS + jobs
