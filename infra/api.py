"""The API construct: the FastAPI app (through Mangum) behind an API Gateway HTTP API.

One ``$default`` route sends every path to the function, so FastAPI answers unknown paths in
the platform's own error format. CORS admits the dashboard's origin only; the stage writes
JSON access logs. Authorization is the application's (wallet sign-in, HS256 session tokens
verified per route).

Throttling is per route, not one budget for all: every route gets the stage's default
(``xenblocks:apiRateLimit`` / ``apiBurstLimit``, requests/s), and the routes that cost the
most per call (``ROUTE_THROTTLES``: sign-in's nonce write and signature recovery,
enrolment's certificate, renting's transaction, the estimate's listing reads) are their own
API Gateway routes with lower limits of their own, so a flood of them cannot take the
budget of the rest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from functions.observability import CORRELATION_HEADER
from infra import access
from infra.functions import AccessLogs, PlatformFunction, Runtime, retention_days
from infra.secrets import Secrets
from infra.sizing import API, API_HANDLER

# The dashboard may send a correlation id of its own and read the one a request got.
CORS_HEADERS = ("authorization", "content-type", "idempotency-key", CORRELATION_HEADER.lower())
CORS_EXPOSED = (CORRELATION_HEADER.lower(),)
CORS_METHODS = (
    apigw.CorsHttpMethod.GET,
    apigw.CorsHttpMethod.POST,
    apigw.CorsHttpMethod.PATCH,
    apigw.CorsHttpMethod.DELETE,
    apigw.CorsHttpMethod.OPTIONS,
)

# Route key → (requests/s, burst): the costly routes' own limits (never above the default).
ROUTE_THROTTLES: Mapping[str, tuple[int, int]] = {
    "GET /api/auth/nonce": (10, 20),  # a nonce written per call
    "POST /api/auth/verify": (5, 10),  # signature recovery (CPU), a session written
    "POST /api/devices": (2, 5),  # IoT issues a certificate (an account-wide IoT quota)
    "POST /api/leases": (10, 20),  # a transaction across the lease, listing and balances
    "GET /api/marketplace/estimate": (10, 20),  # reads and prices many listings
}

ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "time": "$context.requestTimeEpoch",
        "method": "$context.httpMethod",
        "path": "$context.path",
        "status": "$context.status",
        "latencyMs": "$context.responseLatency",
        "bytes": "$context.responseLength",
        "integrationError": "$context.integrationErrorMessage",
    },
    separators=(",", ":"),
)


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        runtime: Runtime,
        tables: Mapping[str, dynamodb.ITable],
        secrets: Secrets,
        dashboard_origin: str,
        dashboard_host: str,
        mqtt_host: str,
        iot_policy_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        config = runtime.config
        self.function = PlatformFunction(
            self,
            "Handler",
            runtime=runtime,
            handler=API_HANDLER,
            service="api",
            description="HTTP API: FastAPI app through Mangum",
            settings={
                "mqtt_host": mqtt_host,
                "iot_policy_name": iot_policy_name,
                # Sign-in messages (EIP-4361) name the dashboard the wallet is on.
                "siwe_domain": dashboard_host,
                "siwe_uri": dashboard_origin,
            },
            memory_mb=API.memory_mb,
            log_level=API.log_level,
            timeout=Duration.seconds(29),  # HTTP API integrations time out at 30 s
            tracing=True,
        )
        fn = self.function
        fn.add_to_policy(*access.table_statements(access.TABLE_ACCESS["api"], tables))
        fn.add_to_policy(access.publish_statement(self, access.PUBLISHES["api"]))
        fn.add_to_policy(*enrolment_statements(self, iot_policy_name))
        secrets.grant_jwt_secret(fn)

        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=retention_days(config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        integration = integrations.HttpLambdaIntegration(
            "Lambda",
            fn.function,
            payload_format_version=apigw.PayloadFormatVersion.VERSION_2_0,
        )
        self.http_api = apigw.HttpApi(
            self,
            "HttpApi",
            api_name=f"xenblocks-{config.stage}-api",
            description=f"xenblocks {config.stage}: HTTP API",
            create_default_stage=False,
            default_integration=integration,
            cors_preflight=apigw.CorsPreflightOptions(
                allow_origins=[dashboard_origin],
                allow_methods=list(CORS_METHODS),
                allow_headers=list(CORS_HEADERS),
                expose_headers=list(CORS_EXPOSED),
                max_age=Duration.hours(1),
            ),
        )
        self.stage = self.http_api.add_stage(
            "DefaultStage",
            stage_name="$default",
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(
                rate_limit=config.api_rate_limit, burst_limit=config.api_burst_limit
            ),
            access_log_settings=AccessLogs(self.access_logs, ACCESS_LOG_FORMAT),
        )
        self._throttle_routes(integration, config.api_rate_limit, config.api_burst_limit)
        # The API's origin, without a trailing slash and without /api (the dashboard's
        # config.json form).
        self.url = f"https://{self.http_api.api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}"

    def _throttle_routes(
        self, integration: apigw.HttpRouteIntegration, rate: int, burst: int
    ) -> None:
        """Each costly route as its own route (same function) with its own limits."""
        settings = {}
        routes = []
        for key, (route_rate, route_burst) in ROUTE_THROTTLES.items():
            method, path = key.split(" ", 1)
            routes += self.http_api.add_routes(
                path=path, methods=[apigw.HttpMethod(method)], integration=integration
            )
            settings[key] = {
                "ThrottlingRateLimit": min(route_rate, rate),
                "ThrottlingBurstLimit": min(route_burst, burst),
            }
        stage = self.stage.node.default_child
        assert isinstance(stage, apigw.CfnStage)
        stage.add_property_override("RouteSettings", settings)
        for route in routes:  # a route's settings need the route
            stage.node.add_dependency(route)


def enrolment_statements(scope: Construct, policy_name: str) -> list[iam.PolicyStatement]:
    """Issuing and revoking device certificates (``functions.ports.aws_iot``)."""
    return [
        # Neither call names an existing resource, so IAM only accepts "*" for them.
        iam.PolicyStatement(
            actions=["iot:CreateCertificateFromCsr", "iot:ListPrincipalThings"],
            resources=["*"],
        ),
        iam.PolicyStatement(
            actions=[
                "iot:CreateThing",
                "iot:DescribeThing",
                "iot:DeleteThing",
                "iot:ListThingPrincipals",
                "iot:AttachThingPrincipal",
                "iot:DetachThingPrincipal",
                "iot:DescribeCertificate",
                "iot:UpdateCertificate",
                "iot:DeleteCertificate",
                "iot:AttachPolicy",
                "iot:DetachPolicy",
                "iot:ListAttachedPolicies",
            ],
            resources=[
                access.iot_arn(scope, "thing", "*"),
                access.iot_arn(scope, "cert", "*"),
                access.iot_arn(scope, "policy", policy_name),
            ],
        ),
        # Closing a revoked rig's open connection (the data plane's DeleteConnection); the
        # client id is the worker id, known only at run time.
        iam.PolicyStatement(
            actions=["iot:DeleteConnection"], resources=[access.iot_arn(scope, "client", "*")]
        ),
    ]
