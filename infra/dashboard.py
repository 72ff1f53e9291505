"""The dashboard construct: a private S3 bucket behind CloudFront (origin access control).

The bucket blocks all public access; CloudFront reads it through OAC, redirects HTTP to
HTTPS and adds the managed security headers. ``deploy()`` uploads ``frontend/dist``
(``xenblocks:dashboardDir``) plus a generated ``config.json`` with the API and WebSocket
URLs, region, stage and chain id, then invalidates the distribution. When the frontend has
not been built, a placeholder ``index.html`` (saying so) is deployed with ``config.json``,
so the stack synthesizes and deploys before the dashboard exists.

Access logs of both the bucket and the distribution go to a separate logs bucket (90 days).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Annotations, Duration, RemovalPolicy
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from infra.config import DeployConfig

CONFIG_OBJECT = "config.json"
PLACEHOLDER_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>XenBlocks platform</title></head>
<body><h1>XenBlocks platform</h1>
<p>The dashboard has not been built into this deployment yet: run <code>npm ci &amp;&amp;
npm run build</code> in <code>frontend/</code>, then <code>npx cdk deploy</code> again.
The API is up; its address is in <a href="/config.json">config.json</a>.</p>
</body></html>
"""


class Dashboard(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: DeployConfig, dist_dir: Path
    ) -> None:
        super().__init__(scope, construct_id)
        self.dist_dir = dist_dir
        retain = config.deletion_protection
        self.logs_bucket = s3.Bucket(
            self,
            "AccessLogs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            # CloudFront's standard logs are delivered with an ACL.
            object_ownership=s3.ObjectOwnership.OBJECT_WRITER,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
            auto_delete_objects=not retain,
        )
        self.bucket = s3.Bucket(
            self,
            "Site",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            server_access_logs_bucket=self.logs_bucket,
            server_access_logs_prefix="site/",
            # Its content is rebuilt by every deploy.
            removal_policy=RemovalPolicy.DESTROY,
            auto_delete_objects=True,
        )
        certificate = (
            acm.Certificate.from_certificate_arn(self, "Certificate", config.certificate_arn)
            if config.certificate_arn
            else None
        )
        spa_fallback = [
            # S3 answers 403 for a missing key (CloudFront may not list): the app routes.
            cloudfront.ErrorResponse(
                http_status=status,
                response_http_status=200,
                response_page_path="/index.html",
                ttl=Duration.seconds(0),
            )
            for status in (403, 404)
        ]
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"xenblocks {config.stage}: dashboard",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
                compress=True,
            ),
            default_root_object="index.html",
            error_responses=spa_fallback,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            domain_names=[config.domain_name] if config.domain_name else None,
            certificate=certificate,
            minimum_protocol_version=(
                cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 if certificate else None
            ),
            enable_logging=True,
            log_bucket=self.logs_bucket,
            log_file_prefix="cloudfront/",
        )
        self.host = config.domain_name or self.distribution.distribution_domain_name
        self.origin = f"https://{self.host}"

    @property
    def has_build(self) -> bool:
        return (self.dist_dir / "index.html").is_file()

    def deploy(self, config_json: dict[str, Any]) -> s3deploy.BucketDeployment:
        """Upload the built dashboard (or the placeholder) and ``config.json``."""
        if self.has_build:
            sources = [s3deploy.Source.asset(str(self.dist_dir))]
        else:
            Annotations.of(self).add_warning_v2(
                "xenblocks:dashboard-placeholder",
                f"{self.dist_dir} has no index.html: deploying a placeholder page with "
                "config.json (build the frontend, then deploy again)",
            )
            sources = [s3deploy.Source.data("index.html", PLACEHOLDER_HTML)]
        # Last, so it replaces any config.json the frontend build carried.
        sources.append(s3deploy.Source.json_data(CONFIG_OBJECT, config_json))
        return s3deploy.BucketDeployment(
            self,
            "Content",
            destination_bucket=self.bucket,
            sources=sources,
            distribution=self.distribution,
            distribution_paths=["/*"],
            memory_limit=256,
        )
