"""The HTTP API (CORS, throttling) and the dashboard (private bucket, OAC, config.json)."""

from __future__ import annotations

import json
from typing import Any

from infra.api import ROUTE_THROTTLES
from infra.dashboard import CONFIG_OBJECT
from tests.infra.assembly import Assembly, resolve
from tests.infra.conftest import STAGE

API_HANDLER = "functions.handlers.api.handler"


def _http_api(assembly: Assembly) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (k, r["Properties"])
        for k, r in assembly.of_type("AWS::ApiGatewayV2::Api").items()
        if r["Properties"].get("ProtocolType") == "HTTP"
    ]
    return found


def _distribution(assembly: Assembly) -> str:
    (distribution,) = assembly.of_type("AWS::CloudFront::Distribution")
    return distribution


def test_cors_admits_the_dashboard_origin_only(assembly: Assembly) -> None:
    _, api = _http_api(assembly)
    cors = api["CorsConfiguration"]
    origin = f"https://<{_distribution(assembly)}.DomainName>"
    assert [resolve(o) for o in cors["AllowOrigins"]] == [origin]
    assert "*" not in cors["AllowOrigins"]
    assert {"authorization", "content-type"} <= set(cors["AllowHeaders"])


def test_the_dashboard_may_send_and_read_a_correlation_id(assembly: Assembly) -> None:
    _, api = _http_api(assembly)
    cors = api["CorsConfiguration"]
    assert "x-correlation-id" in cors["AllowHeaders"]
    assert cors["ExposeHeaders"] == ["x-correlation-id"]


def test_every_path_reaches_the_api_function_through_a_throttled_stage(
    assembly: Assembly,
) -> None:
    api_id, _ = _http_api(assembly)
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in assembly.of_type("AWS::ApiGatewayV2::Route").values()
        if r["Properties"]["ApiId"] == {"Ref": api_id}
    }
    # $default, and the costly routes on their own (for their own limits).
    assert set(routes) == {"$default", *ROUTE_THROTTLES}
    function_id = assembly.function_by_handler(API_HANDLER)
    for route in routes.values():
        integration = assembly.props(resolve(route["Target"]).removeprefix("integrations/<")[:-1])
        assert resolve(integration["IntegrationUri"]) == f"<{function_id}.Arn>"
        assert integration["PayloadFormatVersion"] == "2.0"
    (stage,) = [
        r["Properties"]
        for r in assembly.of_type("AWS::ApiGatewayV2::Stage").values()
        if r["Properties"]["ApiId"] == {"Ref": api_id}
    ]
    assert stage["StageName"] == "$default"
    assert stage["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 100, "ThrottlingRateLimit": 50}
    assert "DestinationArn" in stage["AccessLogSettings"]


def test_costly_routes_have_limits_of_their_own(assembly: Assembly) -> None:
    api_id, _ = _http_api(assembly)
    (stage_id,) = [
        k
        for k, r in assembly.of_type("AWS::ApiGatewayV2::Stage").items()
        if r["Properties"]["ApiId"] == {"Ref": api_id}
    ]
    settings = assembly.props(stage_id)["RouteSettings"]
    assert set(settings) == set(ROUTE_THROTTLES)
    for key, (rate, burst) in ROUTE_THROTTLES.items():
        assert settings[key] == {"ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst}
        # Below the default every other route gets.
        assert rate < 50
        assert burst < 100
    # A route's settings need the route: the stage is deployed after them.
    route_ids = {
        k
        for k, r in assembly.of_type("AWS::ApiGatewayV2::Route").items()
        if r["Properties"]["RouteKey"] in ROUTE_THROTTLES
    }
    assert route_ids <= set(assembly.resources[stage_id].get("DependsOn", []))


def test_throttled_routes_are_routes_of_the_app() -> None:
    from functions.api.app import ROUTERS

    served = {
        f"{method} {route.path}"
        for module in ROUTERS
        for route in module.router.routes
        for method in getattr(route, "methods", ())
    }
    assert set(ROUTE_THROTTLES) <= served


def test_sign_in_names_the_dashboard(assembly: Assembly) -> None:
    env = assembly.env(assembly.function_by_handler(API_HANDLER))
    host = f"<{_distribution(assembly)}.DomainName>"
    assert resolve(env["XENBLOCKS_SIWE_DOMAIN"]) == host
    assert resolve(env["XENBLOCKS_SIWE_URI"]) == f"https://{host}"


def test_site_bucket_is_private_and_read_through_oac(assembly: Assembly) -> None:
    buckets = assembly.of_type("AWS::S3::Bucket")
    for bucket in buckets.values():
        block = bucket["Properties"]["PublicAccessBlockConfiguration"]
        assert all(
            block[k]
            for k in (
                "BlockPublicAcls",
                "BlockPublicPolicy",
                "IgnorePublicAcls",
                "RestrictPublicBuckets",
            )
        )
    distribution = assembly.props(_distribution(assembly))["DistributionConfig"]
    (origin,) = distribution["Origins"]
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    assert "OriginAccessControlId" in origin
    assert distribution["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    assert distribution["DefaultRootObject"] == "index.html"
    assert "Logging" in distribution
    # Deep links (/monitoring, /workers/<id>) are the app's routes, not objects: S3's 403
    # (and a 404) answer the app's index.html with 200, never cached.
    assert sorted(distribution["CustomErrorResponses"], key=lambda r: r["ErrorCode"]) == [
        {
            "ErrorCode": code,
            "ErrorCachingMinTTL": 0,
            "ResponseCode": 200,
            "ResponsePagePath": "/index.html",
        }
        for code in (403, 404)
    ]


def _deployment(assembly: Assembly) -> dict[str, Any]:
    (deployment,) = assembly.of_type("Custom::CDKBucketDeployment").values()
    props: dict[str, Any] = deployment["Properties"]
    return props


def test_dashboard_config_json(assembly: Assembly) -> None:
    deployment = _deployment(assembly)
    keys = deployment["SourceObjectKeys"]
    # The built dashboard first, the generated config.json last (it wins over the build's).
    assert len(keys) == 2
    built = assembly.asset_files(keys[0])
    assert "index.html" in built
    generated = assembly.asset_files(keys[1])
    assert list(generated) == [CONFIG_OBJECT]
    text = generated[CONFIG_OBJECT].decode()
    for marker, value in deployment["SourceMarkers"][1].items():
        text = text.replace(marker, resolve(value))
    config = json.loads(text)
    http_api, _ = _http_api(assembly)
    (ws_api,) = [
        k
        for k, r in assembly.of_type("AWS::ApiGatewayV2::Api").items()
        if r["Properties"].get("ProtocolType") == "WEBSOCKET"
    ]
    assert config == {
        "api_url": f"https://<{http_api}>.execute-api.<AWS::Region>.<AWS::URLSuffix>",
        "ws_url": f"wss://<{ws_api}>.execute-api.<AWS::Region>.<AWS::URLSuffix>/live",
        "region": "<AWS::Region>",
        "stage": STAGE,
        "chain_id": 8453,
        # tests/infra/conftest.py synthesizes a stage with deposits on chain.
        "deposits": True,
        # … and withdrawals paid on chain, automatically up to 50 credits.
        "withdrawals_on_chain": True,
        "withdrawal_auto_max": 50_000_000,
    }
    assert deployment["DestinationBucketName"]["Ref"] in assembly.of_type("AWS::S3::Bucket")
    assert deployment["DistributionPaths"] == ["/*"]
