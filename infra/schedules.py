"""The schedules construct: one function and one EventBridge rule per scheduled job.

Each job is its own function with its own role (``infra/access.py``), invoked with the
schedule's event (its ``time`` is the slot the job acts for, so a retried run is idempotent).
A failed run is not retried by EventBridge: the next slot runs again, and every job is
written to pick up what an earlier run left.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Aws, Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra import access
from infra.functions import PlatformFunction, Runtime
from infra.hot_wallet import HotWallet
from infra.live import Live
from infra.secrets import Secrets
from infra.sizing import (
    DEPOSITS,
    DEPOSITS_EVERY_MINUTES,
    DEPOSITS_TIMEOUT_SECONDS,
    JOBS,
    PAYOUTS,
    PAYOUTS_CONCURRENCY,
    PAYOUTS_EVERY_MINUTES,
    PAYOUTS_SERVICE,
    PAYOUTS_TIMEOUT_SECONDS,
)

DEPOSITS_HANDLER = DEPOSITS.handler
PAYOUTS_HANDLER = PAYOUTS.handler


class Schedules(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        runtime: Runtime,
        tables: Mapping[str, dynamodb.ITable],
        mqtt_host: str,
        live: Live,
        hot_wallet: HotWallet | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._stage = runtime.config.stage
        self.functions: dict[str, PlatformFunction] = {}
        self.rules: dict[str, events.Rule] = {}
        for job in JOBS:
            name = "".join(part.title() for part in job.key.split("_"))
            fn = PlatformFunction(
                self,
                f"{name}Job",
                runtime=runtime,
                handler=job.handler,
                service=f"job-{job.key.replace('_', '-')}",
                description=f"every {job.every_minutes} min: {job.description}",
                # Jobs that publish to rigs (settle: release) reach them through IoT.
                settings={"mqtt_host": mqtt_host},
                memory_mb=job.memory_mb,
                timeout=Duration.seconds(job.timeout_seconds),
            )
            fn.add_to_policy(*access.table_statements(access.TABLE_ACCESS[job.key], tables))
            if job.key in access.PUBLISHES:
                fn.add_to_policy(access.publish_statement(self, access.PUBLISHES[job.key]))
            self._schedule(name, job.key, fn, job.every_minutes)
        live.grant_broadcast(self.functions["fleet_stats"])
        if runtime.config.deposits is not None:
            self._deposits_job(runtime, tables)
        if hot_wallet is not None:
            self._payouts_job(runtime, tables, hot_wallet)

    def _schedule(self, name: str, key: str, fn: PlatformFunction, every_minutes: int) -> None:
        """``fn`` every ``every_minutes``: a failed run is not retried, the next one runs."""
        rule = events.Rule(
            self,
            f"{name}Schedule",
            description=f"xenblocks {self._stage}: {key} every {every_minutes} min",
            schedule=events.Schedule.rate(Duration.minutes(every_minutes)),
            targets=[
                targets.LambdaFunction(
                    fn.function,
                    retry_attempts=0,
                    max_event_age=Duration.minutes(every_minutes),
                )
            ],
        )
        self.functions[key] = fn
        self.rules[key] = rule

    def _deposits_job(self, runtime: Runtime, tables: Mapping[str, dynamodb.ITable]) -> None:
        """The deposit watcher (issue #24), where deposits are configured: every minute,
        its own function (web3.py loads nowhere else), the RPC URL in its settings only."""
        deposits = runtime.config.deposits
        assert deposits is not None
        fn = PlatformFunction(
            self,
            "DepositsJob",
            runtime=runtime,
            handler=DEPOSITS_HANDLER,
            service="job-deposits",
            description=f"every {DEPOSITS_EVERY_MINUTES} min: credits confirmed stablecoin "
            "deposits",
            settings=deposits.watcher_values(),
            memory_mb=DEPOSITS.memory_mb,
            timeout=Duration.seconds(DEPOSITS_TIMEOUT_SECONDS),
        )
        fn.add_to_policy(*access.table_statements(access.TABLE_ACCESS["deposits"], tables))
        self._schedule("Deposits", "deposits", fn, DEPOSITS_EVERY_MINUTES)

    def _payouts_job(
        self, runtime: Runtime, tables: Mapping[str, dynamodb.ITable], hot_wallet: HotWallet
    ) -> None:
        """The payouts job (issue #24), where withdrawals are on chain: every minute, one
        run at a time, its own function, the only one that may sign with the hot wallet's
        key; the RPC URL and the hot wallet's floors in its settings only."""
        config = runtime.config
        assert config.deposits is not None
        assert config.withdrawals is not None
        fn = PlatformFunction(
            self,
            "PayoutsJob",
            runtime=runtime,
            handler=PAYOUTS_HANDLER,
            service=f"job-{PAYOUTS_SERVICE}",
            description=f"every {PAYOUTS_EVERY_MINUTES} min: pays withdrawals on chain from "
            "the hot wallet",
            settings={
                "deposit_rpc_url": config.deposits.rpc_url,
                **config.withdrawals.job_values(),
            },
            memory_mb=PAYOUTS.memory_mb,
            timeout=Duration.seconds(PAYOUTS_TIMEOUT_SECONDS),
            reserved_concurrency=PAYOUTS_CONCURRENCY,
        )
        fn.add_to_policy(*access.table_statements(access.TABLE_ACCESS["payouts"], tables))
        hot_wallet.grant_signing(fn)
        self._schedule("Payouts", "payouts", fn, PAYOUTS_EVERY_MINUTES)

    def grant_alert_channels(self, secrets: Secrets, email_sender: str | None) -> None:
        """What the alerts job needs for its channels (issue #22): the JWT secret (the key
        of the sealed bot tokens and Discord URLs is derived from it) and, with a sender,
        ``ses:SendEmail`` from that identity only (the address, or its verified domain)."""
        alerts = self.functions["alerts"]
        secrets.grant_jwt_secret(alerts)
        if email_sender is None:
            return
        domain = email_sender.rsplit("@", 1)[1]
        identity = f"arn:{Aws.PARTITION}:ses:{Aws.REGION}:{Aws.ACCOUNT_ID}:identity"
        alerts.add_to_policy(
            iam.PolicyStatement(
                actions=["ses:SendEmail"],
                resources=[f"{identity}/{email_sender}", f"{identity}/{domain}"],
                conditions={"StringEquals": {"ses:FromAddress": email_sender}},
            )
        )
