"""The device plane: the rigs' IoT policy, one topic rule per route, the ingest Lambdas.

- **Policy**: ``functions.ports.aws_iot.device_policy_document`` (the one definition the API
  attaches to every certificate it issues): connect only as your thing, publish and subscribe
  only under ``xenminer/<your thing name>/``, also through this stage's Basic Ingest rules.
- **Rules**: generated from ``functions.routing.ROUTES``: the rule name, SQL and topic come
  from the route. Heartbeats are published by rigs to the Basic Ingest topic
  ``$aws/rules/<rule>/xenminer/<id>/heartbeat`` (no broker messaging charge); the rule's
  ``FROM`` still matches rigs that publish to the plain topic.
- **Stages in one account**: topics are ``xenminer/<worker id>/…`` for every stage (the
  rigs' contract), so each rule takes only its stage's workers: ``WHERE
  startswith(topic(2), '<stage>_')``, the prefix of every worker id the stage's API issues
  (``functions.logic.enrolment.worker_id_prefix``); the policy's Basic Ingest resources name
  this stage's rules only. Nothing one stage's rigs send reaches another stage's rules.
- **Heartbeats** (the batched routes, nearly all the traffic): the rule's action puts each
  into a Kinesis stream (partition key: the worker id, so a rig's heartbeats stay in
  order); ``functions.handlers.ingest.batch_handler`` reads it in batches (up to 10,000
  records or ``xenblocks:heartbeatBatchSeconds``), reports failed records so Lambda retries
  from them, and sends a batch that keeps failing to the dead-letter queue. One Lambda
  request per batch instead of one per heartbeat; the batch also pushes the heartbeats to
  the dashboards watching (the stack grants it the WebSocket API).
- **Ingest**: the per-message handler (``functions.handlers.ingest.handler``) as two
  functions: register/status on a small one and block/share on one with the memory and
  CPU to recompute Argon2id at network difficulty.
- **Errors**: a rule action that fails (Lambda throttled, stream throttled) goes to an SQS
  dead-letter queue through the rules' role; an event the ingest function still fails after
  Lambda's asynchronous retries goes to the same queue. Alarms watch its depth.
- **Endpoint**: the account's ``iot:Data-ATS`` endpoint, looked up at deploy time
  (``DescribeEndpoint``); rigs connect to it, the functions publish commands through it.
- **Storms**: the functions the rules invoke have reserved concurrency
  (``xenblocks:ingestConcurrency``, ``verifyConcurrency``; the batch one per shard): a
  register or block storm queues in Lambda's asynchronous queue (then the dead-letter
  queue) instead of taking the account's concurrency from the API. IoT Core's own logs
  (``xenblocks:iotLogLevel``, WARN by default: failed connections and authorizations of
  rigs, failed rule actions) go to ``AWSIotLogsV2``, kept ``logRetentionDays``; an account
  has one such setting, so a second stage in the account sets ``iotLogLevel=unmanaged``.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import ArnFormat, Aws, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import custom_resources as cr
from constructs import Construct

from functions.logic.enrolment import worker_id_prefix
from functions.ports.aws_iot import device_policy_document
from functions.routing import ROUTES, Route
from infra import access
from infra.config import DeployConfig
from infra.functions import PlatformFunction, Runtime, retention_days
from infra.sizing import (
    BATCH_HANDLER,
    BATCH_SIZE,
    INGEST,
    INGEST_BATCH,
    INGEST_HANDLER,
    VERIFY,
    VERIFY_ROUTES,
)

# The handler names are read from here too (tests, bench/coldstart.py).
__all__ = [
    "BATCH_HANDLER",
    "INGEST_HANDLER",
    "VERIFY_ROUTES",
    "DevicePlane",
    "policy_name",
    "rule_sql",
]

BATCH_RETRY_ATTEMPTS = 3
IOT_SQL_VERSION = "2016-03-23"
# Where IoT Core writes its logs (fixed by IoT Core).
IOT_LOG_GROUP = "AWSIotLogsV2"


def policy_name(stage: str) -> str:
    return f"xenblocks-{stage}-device"


class DevicePlane(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        runtime: Runtime,
        tables: Mapping[str, dynamodb.ITable],
    ) -> None:
        super().__init__(scope, construct_id)
        stage = runtime.config.stage

        self.endpoint = cr.AwsCustomResource(
            self,
            "DataEndpoint",
            on_create=_describe_endpoint(),
            on_update=_describe_endpoint(),
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    # DescribeEndpoint has no resource-level permissions.
                    iam.PolicyStatement(actions=["iot:DescribeEndpoint"], resources=["*"])
                ]
            ),
            install_latest_aws_sdk=False,
        )
        self.endpoint_address = self.endpoint.get_response_field("endpointAddress")

        self.policy_name = policy_name(stage)
        self.policy = iot.CfnPolicy(
            self,
            "DevicePolicy",
            policy_name=self.policy_name,
            policy_document=device_policy_document(
                partition=Aws.PARTITION, region=Aws.REGION, account=Aws.ACCOUNT_ID, stage=stage
            ),
        )

        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            retention_period=Duration.days(14),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        self.rules_role = iam.Role(
            self,
            "RulesRole",
            assumed_by=iam.ServicePrincipal(
                "iot.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            ),
            description=f"xenblocks {stage}: IoT rules' Kinesis and error (SQS) actions",
        )
        self.dead_letters.grant_send_messages(self.rules_role)
        self.heartbeats = kinesis.Stream(
            self,
            "Heartbeats",
            stream_mode=kinesis.StreamMode.PROVISIONED,
            shard_count=runtime.config.heartbeat_shards,
            encryption=kinesis.StreamEncryption.MANAGED,
            retention_period=Duration.hours(24),
        )
        self.heartbeats.grant_write(self.rules_role)

        device_settings = {
            "mqtt_host": self.endpoint_address,
            "iot_policy_name": self.policy_name,
        }
        self.ingest = PlatformFunction(
            self,
            "Ingest",
            runtime=runtime,
            handler=INGEST.handler,
            service="ingest",
            description="IoT rules: register, status",
            settings=device_settings,
            memory_mb=INGEST.memory_mb,
            log_level=INGEST.log_level,
            timeout=Duration.seconds(10),
            reserved_concurrency=runtime.config.ingest_concurrency,
        )
        self.ingest_batch = PlatformFunction(
            self,
            "IngestBatch",
            runtime=runtime,
            handler=INGEST_BATCH.handler,
            service="ingest",
            description="Heartbeats from the Kinesis stream, in batches; live push",
            settings=device_settings,
            memory_mb=INGEST_BATCH.memory_mb,
            timeout=Duration.seconds(120),
            log_level=INGEST_BATCH.log_level,
            quiet_platform_logs=True,
            # One batch per shard at a time: reserved, so the API cannot starve it either.
            reserved_concurrency=runtime.config.heartbeat_shards,
        )
        self.ingest_batch.add_to_policy(
            *access.table_statements(access.TABLE_ACCESS["ingest_batch"], tables)
        )
        self.ingest_batch.function.add_event_source(
            sources.KinesisEventSource(
                self.heartbeats,
                starting_position=lambda_.StartingPosition.LATEST,
                batch_size=BATCH_SIZE,
                max_batching_window=Duration.seconds(runtime.config.heartbeat_batch_seconds),
                retry_attempts=BATCH_RETRY_ATTEMPTS,
                report_batch_item_failures=True,
                max_record_age=Duration.hours(1),
                on_failure=sources.SqsDlq(self.dead_letters),
            )
        )
        self.verify = PlatformFunction(
            self,
            "Verify",
            runtime=runtime,
            handler=VERIFY.handler,
            service="ingest",
            description="IoT rules: block and share reports, recomputed with Argon2id",
            settings=device_settings,
            memory_mb=VERIFY.memory_mb,
            log_level=VERIFY.log_level,
            timeout=Duration.seconds(30),
            reserved_concurrency=runtime.config.verify_concurrency,
        )
        self.functions = (self.ingest, self.ingest_batch, self.verify)
        for fn in (self.ingest, self.verify):
            fn.add_to_policy(*access.table_statements(access.TABLE_ACCESS["ingest"], tables))
            fn.add_to_policy(access.publish_statement(self, access.PUBLISHES["ingest"]))
            fn.function.configure_async_invoke(
                retry_attempts=2,
                max_event_age=Duration.hours(1),
                on_failure=destinations.SqsDestination(self.dead_letters),
            )

        self.rules: dict[str, iot.CfnTopicRule] = {}
        for route in ROUTES:
            target = self.verify if route.name in VERIFY_ROUTES else self.ingest
            self.rules[route.name] = self._rule(route, stage, target)
        level = runtime.config.iot_log_level
        self.logging = self._iot_logging(runtime.config, level) if level else None

    def _iot_logging(self, config: DeployConfig, level: str) -> iot.CfnLogging:
        """IoT Core's logs at ``iotLogLevel`` through a role that may write only its group."""
        role = iam.Role(
            self,
            "LoggingRole",
            assumed_by=iam.ServicePrincipal(
                "iot.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            ),
            description=f"xenblocks {config.stage}: IoT Core writes its logs to {IOT_LOG_GROUP}",
        )
        group = Stack.of(self).format_arn(
            service="logs",
            resource="log-group",
            resource_name=IOT_LOG_GROUP,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:PutMetricFilter",
                    "logs:PutRetentionPolicy",
                ],
                resources=[group, f"{group}:*"],
            )
        )
        # IoT Core creates the group itself and would keep it forever.
        logs.LogRetention(
            self,
            "LogsRetention",
            log_group_name=IOT_LOG_GROUP,
            retention=retention_days(config.log_retention_days),
        )
        logging = iot.CfnLogging(
            self,
            "Logging",
            account_id=Aws.ACCOUNT_ID,
            default_log_level=level,
            role_arn=role.role_arn,
        )
        logging.node.add_dependency(role)
        return logging

    def _action(self, route: Route, target: PlatformFunction) -> iot.CfnTopicRule.ActionProperty:
        if route.batched:
            return iot.CfnTopicRule.ActionProperty(
                kinesis=iot.CfnTopicRule.KinesisActionProperty(
                    stream_name=self.heartbeats.stream_name,
                    role_arn=self.rules_role.role_arn,
                    partition_key="${topic(2)}",
                )
            )
        return iot.CfnTopicRule.ActionProperty(
            lambda_=iot.CfnTopicRule.LambdaActionProperty(function_arn=target.function.function_arn)
        )

    def _rule(self, route: Route, stage: str, target: PlatformFunction) -> iot.CfnTopicRule:
        how = "Basic Ingest or the broker" if route.basic_ingest else "the broker"
        where = "the heartbeat stream" if route.batched else "ingest"
        rule = iot.CfnTopicRule(
            self,
            f"{route.name.title()}Rule",
            rule_name=route.rule_name(stage),
            topic_rule_payload=iot.CfnTopicRule.TopicRulePayloadProperty(
                sql=rule_sql(route, stage),
                aws_iot_sql_version=IOT_SQL_VERSION,
                rule_disabled=False,
                description=f"xenblocks {stage}: {route.topic_filter} via {how} to {where}",
                actions=[self._action(route, target)],
                error_action=iot.CfnTopicRule.ActionProperty(
                    sqs=iot.CfnTopicRule.SqsActionProperty(
                        queue_url=self.dead_letters.queue_url,
                        role_arn=self.rules_role.role_arn,
                        use_base64=False,
                    )
                ),
            ),
        )
        if route.batched:
            return rule
        target.function.add_permission(
            f"Invoke{route.name.title()}Rule",
            principal=iam.ServicePrincipal("iot.amazonaws.com"),
            source_arn=rule.attr_arn,
            source_account=Aws.ACCOUNT_ID,
        )
        return rule


def rule_sql(route: Route, stage: str) -> str:
    """The route's SQL (``Route.sql``) for this stage's workers only."""
    return f"{route.sql()} WHERE startswith(topic(2), '{worker_id_prefix(stage)}')"


def _describe_endpoint() -> cr.AwsSdkCall:
    return cr.AwsSdkCall(
        service="Iot",
        action="describeEndpoint",
        parameters={"endpointType": "iot:Data-ATS"},
        physical_resource_id=cr.PhysicalResourceId.of("iot-data-ats-endpoint"),
    )
