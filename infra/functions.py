"""One way to make a platform Lambda: shared code and layer, its own role, its own log group.

Every function gets a role of its own that starts empty except for writing to its own log
group; each construct then grants exactly what that function's handler touches (see
``infra/access.py``). No managed policies, no shared roles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsii
from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw_v1
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from functions.settings import Settings
from infra.config import DeployConfig
from infra.packaging import ARCHITECTURE, PYTHON_VERSION

# The runtime is the Python CI runs (infra/packaging.py says why, and until when).
RUNTIME = {"3.11": lambda_.Runtime.PYTHON_3_11, "3.12": lambda_.Runtime.PYTHON_3_12}[PYTHON_VERSION]
ARCH = lambda_.Architecture.ARM_64 if ARCHITECTURE == "arm64" else lambda_.Architecture.X86_64
METRICS_NAMESPACE = "XenBlocks"
NETWORK_URL_ENV = "XENBLOCKS_NETWORK_URL"
# Powertools' level names → Lambda's advanced logging controls (which filter JSON logs).
_LAMBDA_LOG_LEVELS = {
    "DEBUG": lambda_.ApplicationLogLevel.DEBUG,
    "INFO": lambda_.ApplicationLogLevel.INFO,
    "WARNING": lambda_.ApplicationLogLevel.WARN,
    "ERROR": lambda_.ApplicationLogLevel.ERROR,
}


def settings_env(values: Mapping[str, Any]) -> dict[str, str]:
    """``Settings`` fields as the ``XENBLOCKS_*`` environment variables the Lambdas read.

    A name that is not a ``Settings`` field is refused here, so a typo fails at synth
    instead of being silently ignored by the running code."""
    env = {}
    for name, value in values.items():
        top = name.split("__", 1)[0]
        if top not in Settings.model_fields:
            raise ValueError(f"{name} is not a functions.settings.Settings field")
        env[f"XENBLOCKS_{name.upper()}"] = value if isinstance(value, str) else str(value)
    return env


@dataclass(frozen=True)
class Runtime:
    """What every platform function shares: code, layer, configuration."""

    code: lambda_.Code
    layer: lambda_.ILayerVersion
    config: DeployConfig
    # XENBLOCKS_* values every function gets (stage, tables, fee, heartbeat schedule...).
    common_settings: Mapping[str, Any] = field(default_factory=dict)


class PlatformFunction(Construct):
    """A Python 3.11 arm64 Lambda running one handler of ``functions.handlers``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        runtime: Runtime,
        handler: str,
        service: str,
        description: str,
        settings: Mapping[str, Any] | None = None,
        memory_mb: int = 256,
        timeout: Duration | None = None,
        tracing: bool = False,
        log_level: str = "INFO",
        quiet_platform_logs: bool = False,
        reserved_concurrency: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.handler = handler
        self.service = service
        self.timeout = timeout or Duration.seconds(10)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=retention_days(runtime.config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"xenblocks {runtime.config.stage}: {service} ({handler})",
        )
        # Its own log group only (the group exists already: no CreateLogGroup).
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        values = {**runtime.common_settings, **(settings or {})}
        environment = {
            **settings_env({**values, "aws_region": Aws.REGION}),
            # The XenBlocks node (xenblocks:xenblocksNodeUrl): Settings' ``network_url``,
            # which the network job reads and every function may.
            NETWORK_URL_ENV: runtime.config.network_url,
            "POWERTOOLS_SERVICE_NAME": service,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": log_level,
            "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
            "POWERTOOLS_TRACE_DISABLED": "false" if tracing else "true",
        }
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCH,
            handler=handler,
            code=runtime.code,
            layers=[runtime.layer],
            description=description,
            memory_size=memory_mb,
            timeout=self.timeout,
            # At most this many at once (and always this many available): a storm of IoT
            # messages cannot take the account's concurrency from the API.
            reserved_concurrent_executions=reserved_concurrency or None,
            role=self.role,
            environment=environment,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=_LAMBDA_LOG_LEVELS[log_level],
            # START/END/REPORT lines are a third of a chatty function's log bill.
            system_log_level_v2=(
                lambda_.SystemLogLevel.WARN if quiet_platform_logs else lambda_.SystemLogLevel.INFO
            ),
            tracing=lambda_.Tracing.ACTIVE if tracing else lambda_.Tracing.DISABLED,
        )

    def add_to_policy(self, *statements: iam.PolicyStatement) -> None:
        for statement in statements:
            self.role.add_to_principal_policy(statement)

    def add_settings(self, values: Mapping[str, Any]) -> None:
        for key, value in settings_env(values).items():
            self.function.add_environment(key, value)


_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def retention_days(days: int) -> logs.RetentionDays:
    """The CloudWatch retention for ``days`` (one of ``infra.config.LOG_RETENTION_DAYS``)."""
    return _RETENTION[days]


@jsii.implements(apigw.IAccessLogSettings)
class AccessLogs:
    """API Gateway (v2) stage access logs: ``log_format`` lines into ``log_group``."""

    def __init__(self, log_group: logs.ILogGroup, log_format: str) -> None:
        self._destination = apigw.LogGroupLogDestination(log_group)
        self._format = apigw_v1.AccessLogFormat.custom(log_format)

    @property
    def destination(self) -> apigw.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw_v1.AccessLogFormat:
        return self._format
