"""The platform's stack: the capability constructs wired together, with their outputs."""

from __future__ import annotations

import re
from pathlib import Path

from aws_cdk import Aws, CfnOutput, CfnResource, Environment, RemovalPolicy, Stack, Tags
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from functions.models.dashboard import dashboard_config
from infra import packaging
from infra.api import Api
from infra.config import Dependencies, DeployConfig
from infra.dashboard import Dashboard
from infra.data import DataTables
from infra.device_plane import DevicePlane
from infra.functions import ARCH, RUNTIME, Runtime, retention_days
from infra.hot_wallet import HotWallet
from infra.live import Live
from infra.observability import Observability
from infra.schedules import Schedules
from infra.secrets import Secrets
from infra.sizing import PAYOUTS_ALARMS


class XenblocksStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeployConfig,
        dashboard_dir: Path,
        env: Environment | None = None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"XenBlocks hashpower platform ({config.stage})",
            env=env,
        )
        Tags.of(self).add("project", "xenblocks")
        Tags.of(self).add("stage", config.stage)
        self.config = config

        self.data = DataTables(
            self,
            "Data",
            table_prefix=config.table_prefix,
            deletion_protection=config.deletion_protection,
        )
        tables = self.data.tables
        self.secrets = Secrets(
            self, "Secrets", stage=config.stage, retain=config.deletion_protection
        )
        runtime = Runtime(
            code=lambda_.Code.from_asset(str(packaging.stage_code())),
            layer=self._dependencies_layer(config),
            config=config,
            common_settings=config.settings_values(),
        )
        self.device_plane = DevicePlane(self, "DevicePlane", runtime=runtime, tables=tables)
        self.dashboard = Dashboard(self, "Dashboard", config=config, dist_dir=dashboard_dir)
        self.api = Api(
            self,
            "Api",
            runtime=runtime,
            tables=tables,
            secrets=self.secrets,
            dashboard_origin=self.dashboard.origin,
            dashboard_host=self.dashboard.host,
            mqtt_host=self.device_plane.endpoint_address,
            iot_policy_name=self.device_plane.policy_name,
        )
        self.live = Live(self, "Live", runtime=runtime, tables=tables, secrets=self.secrets)
        self.live.grant_broadcast(self.device_plane.ingest_batch)
        # On-chain withdrawals (issue #24): the key only the payouts job may sign with.
        self.hot_wallet = (
            HotWallet(self, "HotWallet", stage=config.stage, withdrawals=config.withdrawals)
            if config.withdrawals is not None
            else None
        )
        self.schedules = Schedules(
            self,
            "Schedules",
            runtime=runtime,
            tables=tables,
            mqtt_host=self.device_plane.endpoint_address,
            live=self.live,
            hot_wallet=self.hot_wallet,
        )
        self.schedules.grant_alert_channels(self.secrets, config.alert_email_sender)
        self.config_json = dashboard_config(
            api_url=self.api.url,
            ws_url=self.live.url,
            region=Aws.REGION,
            stage=config.stage,
            chain_id=config.chain_id,
            deposits=config.deposits is not None,
            withdrawals_on_chain=config.withdrawals is not None,
            withdrawal_auto_max=config.withdrawals.auto_max if config.withdrawals else None,
        )
        self.dashboard.deploy(self.config_json)

        self.functions = [
            *self.device_plane.functions,
            self.api.function,
            self.live.connect,
            self.live.disconnect,
            self.live.default,
            self.live.stream,
            *self.schedules.functions.values(),
        ]
        self.observability = Observability(
            self,
            "Observability",
            stage=config.stage,
            functions=self.functions,
            stream_consumers=[self.device_plane.ingest_batch, self.live.stream],
            dead_letters=self.device_plane.dead_letters,
            heartbeats=self.device_plane.heartbeats,
            http_api=self.api.http_api,
            tables=list(tables.values()),
            alarm_email=config.alarm_email,
            metric_alarms=PAYOUTS_ALARMS if self.hot_wallet is not None else (),
        )
        self._keep_helper_logs(config.log_retention_days)
        self._outputs()

    def _keep_helper_logs(self, days: int) -> None:
        """CDK's own functions (the custom resources' providers: the IoT endpoint look-up,
        the dashboard upload, the bucket emptier, the log retention setter) log into a
        group of this stack with the deployment's retention, not a ``/aws/lambda`` group
        that Lambda would create and keep forever. Their roles may already write any log
        group (CDK gives them the basic execution role)."""
        helpers = [
            construct
            for construct in self.node.find_all()
            if isinstance(construct, CfnResource)
            and construct.cfn_resource_type == "AWS::Lambda::Function"
            and not (isinstance(construct, lambda_.CfnFunction) and construct.logging_config)
        ]
        for function in helpers:
            # Its provider's path below the stack, e.g. AWS679f53f….
            parts = function.node.path.split("/")[1:-1] or [function.node.id]
            name = re.sub(r"[^A-Za-z0-9]", "", "".join(p[:1].upper() + p[1:] for p in parts))
            group = logs.LogGroup(
                self,
                f"{name}Logs",
                retention=retention_days(days),
                removal_policy=RemovalPolicy.DESTROY,
            )
            function.add_property_override("LoggingConfig.LogGroup", group.log_group_name)

    def _dependencies_layer(self, config: DeployConfig) -> lambda_.LayerVersion:
        if config.dependencies is Dependencies.NONE:
            directory = packaging.placeholder_dir()
            asset_hash = "placeholder-" + packaging.dependency_hash()[:16]
        else:
            directory = packaging.dependencies_dir()
            asset_hash = packaging.dependency_hash()
        return lambda_.LayerVersion(
            self,
            "Dependencies",
            code=lambda_.Code.from_asset(str(directory), asset_hash=asset_hash),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCH],
            description=f"xenblocks {config.stage}: infra/lambda/requirements.txt",
        )

    def _outputs(self) -> None:
        outputs = {
            "ApiUrl": (self.api.url, "HTTP API origin (paths start with /api)"),
            "WebSocketUrl": (self.live.url, "live updates (API Gateway WebSocket)"),
            "IotDataEndpoint": (
                self.device_plane.endpoint_address,
                "MQTT host for rigs (port 8883, Amazon Root CA 1)",
            ),
            "IotPolicyName": (self.device_plane.policy_name, "policy on every device certificate"),
            "DashboardUrl": (self.dashboard.origin, "the dashboard (CloudFront)"),
            "DistributionDomain": (
                self.dashboard.distribution.distribution_domain_name,
                "CloudFront domain (CNAME target for a custom domain)",
            ),
            "JwtSecretArn": (self.secrets.jwt_secret.secret_arn, "session token signing key"),
            "DeadLetterQueueUrl": (self.device_plane.dead_letters.queue_url, "failed messages"),
            "HeartbeatStreamName": (
                self.device_plane.heartbeats.stream_name,
                "Kinesis stream the heartbeat rule feeds",
            ),
            "AlarmTopicArn": (self.observability.topic.topic_arn, "alarm notifications"),
        }
        if self.hot_wallet is not None:
            outputs["HotWalletKeyArn"] = (
                self.hot_wallet.key_arn,
                "the withdrawals hot wallet's KMS key (its address: the Ethereum address of "
                "aws kms get-public-key; fund it with the token and with gas)",
            )
            outputs["HotWalletKeyId"] = (
                self.hot_wallet.key_id,
                "the key id the payouts job signs with (XENBLOCKS_WITHDRAWAL_KMS_KEY_ID)",
            )
        for name, table in self.data.tables.items():
            outputs[f"Table{_pascal(name)}"] = (table.table_name, f"DynamoDB table {name}")
        for key, (value, description) in outputs.items():
            CfnOutput(self, key, value=value, description=description)


def _pascal(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))
