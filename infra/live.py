"""The live construct: the dashboards' WebSocket API and the stream-driven broadcaster.

- ``$connect`` / ``$disconnect`` / ``$default`` each run their own function (own role: only
  ``$connect`` verifies session tokens, so only it reads the JWT secret; only ``$default``
  and the broadcaster post to connections).
- ``functions.handlers.live.stream_handler`` consumes the DynamoDB streams of the workers,
  leases, blocks and alerts tables: batches of up to 100 records gathered for at most a
  second (so a busy fleet becomes one frame per connection per second), two retries, a
  failing batch bisected, partial failures reported per record.
- Every function that posts to connections gets ``XENBLOCKS_LIVE_ENDPOINT_URL`` (the stage's
  management endpoint, ``https://{api}.execute-api.{region}.amazonaws.com/{stage}``) and
  ``execute-api:ManageConnections`` on that stage's ``@connections/*`` only.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from constructs import Construct

from functions.dal.streams import STREAMED
from infra import access
from infra.functions import AccessLogs, PlatformFunction, Runtime, retention_days
from infra.secrets import Secrets
from infra.sizing import LIVE, STREAM_BATCH_SIZE, STREAM_BATCH_WINDOW_SECONDS

HANDLERS = {key: sizing.handler for key, sizing in LIVE.items()}
# The tables whose changes reach the dashboards (the stream decoder reads the same list).
STREAMED_TABLES = tuple(spec.name for spec in STREAMED)
STAGE_NAME = "live"
STREAM_RETRY_ATTEMPTS = 2

ACCESS_LOG_FORMAT = (
    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
    '"time":"$context.requestTimeEpoch","route":"$context.routeKey",'
    '"event":"$context.eventType","status":"$context.status",'
    '"connectionId":"$context.connectionId","integrationError":"$context.integrationErrorMessage"}'
)


class Live(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        runtime: Runtime,
        tables: Mapping[str, dynamodb.ITable],
        secrets: Secrets,
    ) -> None:
        super().__init__(scope, construct_id)
        config = runtime.config
        self.api = apigw.WebSocketApi(
            self,
            "WebSocketApi",
            api_name=f"xenblocks-{config.stage}-live",
            description=f"xenblocks {config.stage}: live updates for dashboards",
        )
        # The management endpoint, spelled out from the API id and the literal stage name
        # (not the stage's attributes, so the functions do not depend on the stage).
        self.endpoint_url = (
            f"https://{self.api.api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}/{STAGE_NAME}"
        )
        self.url = f"wss://{self.api.api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}/{STAGE_NAME}"

        def function(
            key: str, description: str, timeout: Duration | None = None
        ) -> PlatformFunction:
            fn = PlatformFunction(
                self,
                f"{key.title()}Function",
                runtime=runtime,
                handler=LIVE[key].handler,
                service="live",
                description=description,
                settings={"live_endpoint_url": self.endpoint_url},
                memory_mb=LIVE[key].memory_mb,
                log_level=LIVE[key].log_level,
                timeout=timeout,
            )
            fn.add_to_policy(*access.table_statements(access.TABLE_ACCESS[f"live_{key}"], tables))
            return fn

        self.connect = function("connect", "WebSocket $connect: sign the connection in")
        self.disconnect = function("disconnect", "WebSocket $disconnect: forget the connection")
        self.default = function("default", "WebSocket $default: snapshot and ping")
        self.stream = function(
            "stream",
            "DynamoDB streams to dashboards: coalesced frames per connection",
            timeout=Duration.seconds(60),
        )
        secrets.grant_jwt_secret(self.connect)
        for fn in (self.default, self.stream):
            self.grant_broadcast(fn)

        for route_key, route_fn in (
            ("$connect", self.connect),
            ("$disconnect", self.disconnect),
            ("$default", self.default),
        ):
            self.api.add_route(
                route_key,
                # Not "Default": CDK leaves that id out of logical ids, which would collide.
                integration=integrations.WebSocketLambdaIntegration(
                    f"{route_key.lstrip('$').title()}Integration", route_fn.function
                ),
            )
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=retention_days(config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.stage = apigw.WebSocketStage(
            self,
            "Stage",
            web_socket_api=self.api,
            stage_name=STAGE_NAME,
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(
                rate_limit=config.api_rate_limit, burst_limit=config.api_burst_limit
            ),
            access_log_settings=AccessLogs(self.access_logs, ACCESS_LOG_FORMAT),
        )

        for name in STREAMED_TABLES:
            self.stream.function.add_event_source(
                sources.DynamoEventSource(
                    tables[name],
                    starting_position=lambda_.StartingPosition.LATEST,
                    batch_size=STREAM_BATCH_SIZE,
                    max_batching_window=Duration.seconds(STREAM_BATCH_WINDOW_SECONDS),
                    retry_attempts=STREAM_RETRY_ATTEMPTS,
                    bisect_batch_on_error=True,
                    report_batch_item_failures=True,
                )
            )

    def connections_arn(self) -> str:
        """``…:{api}/{stage}/POST/@connections/*``: posting to this stage's connections."""
        return Stack.of(self).format_arn(
            service="execute-api",
            resource=self.api.api_id,
            resource_name=f"{STAGE_NAME}/POST/@connections/*",
        )

    def grant_broadcast(self, fn: PlatformFunction) -> None:
        """What a function needs to post frames: the endpoint URL and ManageConnections."""
        fn.add_settings({"live_endpoint_url": self.endpoint_url})
        fn.add_to_policy(
            iam.PolicyStatement(
                actions=["execute-api:ManageConnections"],
                resources=[self.connections_arn()],
            )
        )
