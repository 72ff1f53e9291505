"""cdk-nag (AwsSolutions) suppressions: each one scoped as narrowly as cdk-nag allows, with
its reason. Everything else the rule pack reports is an error that fails ``cdk synth``.

Wildcard findings (IAM5) are suppressed per wildcard (``applies_to``), never for a whole
policy, so a new wildcard in a grant shows up as a new error.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import IConstruct

from infra.functions import PlatformFunction

# Account/region/partition placeholders as cdk-nag prints them.
_IOT = "arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>"
_LOGS = "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>"

# The singleton Lambdas that CDK's own constructs add at the stack's root.
_BUCKET_DEPLOYMENT_PREFIX = "Custom::CDKBucketDeployment"
_AWS_CUSTOM_RESOURCE_ID = "AWS679f53fac002430cb0da5b7982bd2287"
_LOG_RETENTION_PREFIX = "LogRetention"

RUNTIME_REASON = (
    "Python 3.11 is the Python CI tests with (no registry it reaches serves a newer one) and "
    "the one the layer's lock and byte-code are built for (cp311 wheels, cpython-311 pycs); "
    "Lambda supports it until 2027-06-30, and CI, the runtime and the lock move together "
    "(infra/packaging.py)."
)


def _s(
    rule: str, reason: str, applies_to: Sequence[str | RegexAppliesTo] = ()
) -> NagPackSuppression:
    return NagPackSuppression(
        id=f"AwsSolutions-{rule}", reason=reason, applies_to=list(applies_to) or None
    )


def stack_suppressions(has_custom_domain: bool) -> list[NagPackSuppression]:
    """Suppressions that hold wherever the finding appears in the stack."""
    suppressions = [
        _s(
            "IAM5",
            "Queries use the table's global secondary indexes (specs in functions/dal/specs.py); "
            "the grant covers the indexes of that one table, with the same actions.",
            [
                RegexAppliesTo(
                    regex=r"/^Resource::<Data[A-Za-z]+Table[0-9A-F]{8}\.Arn>\/index\/\*$/g"
                )
            ],
        ),
        _s(
            "IAM5",
            "Commands go to any rig's downlink topic (xenminer/<worker id>/task|control); the "
            "worker id is the only wildcard and uplink topics stay denied.",
            [
                f"Resource::{_IOT}:topic/xenminer/*/task",
                f"Resource::{_IOT}:topic/xenminer/*/control",
            ],
        ),
        _s(
            "IAM5",
            "Dashboard connection ids are only known at run time; the grant is POST on this "
            "WebSocket API's own stage.",
            [
                RegexAppliesTo(
                    regex=(
                        r"/^Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:"
                        r"<AWS::AccountId>:<LiveWebSocketApi[0-9A-F]{8}>\/live\/POST\/"
                        r"@connections\/\*$/g"
                    )
                )
            ],
        ),
        _s(
            "APIG4",
            "Authorization is the application's: wallet sign-in (EIP-4361) issues HS256 session "
            "tokens that the FastAPI routes and the WebSocket $connect handler verify; public "
            "routes (marketplace, overview, health, the anonymous live feed of public fleet "
            "figures) are public by design. API Gateway's JWT authorizer needs an asymmetric "
            "issuer with JWKS, which wallet sign-in does not have.",
        ),
        _s(
            "SMG4",
            "Rotating the JWT signing key signs every user out; it is rotated by hand when "
            "needed (docs/deploy.md), not on a schedule.",
        ),
        _s(
            "SQS3",
            "This queue is the dead-letter queue itself (IoT rule errors and failed ingest "
            "events), so it has none of its own.",
        ),
        _s(
            "CFR1",
            "The marketplace is global; the dashboard is served everywhere.",
        ),
        _s(
            "CFR2",
            "The distribution serves static files only; the API and WebSocket stages are "
            "throttled. A web ACL ($5+/month) can be attached per deployment when needed.",
        ),
    ]
    if not has_custom_domain:
        suppressions.append(
            _s(
                "CFR4",
                "Without xenblocks:domainName the distribution uses the default "
                "*.cloudfront.net certificate, whose minimum protocol CloudFront fixes; a "
                "custom domain gets TLSv1.2_2021.",
            )
        )
    return suppressions


def suppress(stack: Stack, *, has_custom_domain: bool) -> None:
    NagSuppressions.add_stack_suppressions(stack, stack_suppressions(has_custom_domain))
    for construct in stack.node.find_all():
        if isinstance(construct, PlatformFunction):
            NagSuppressions.add_resource_suppressions(
                construct.function, [_s("L1", RUNTIME_REASON)]
            )
    _path(
        stack,
        "DevicePlane/DataEndpoint",
        [
            _s(
                "IAM5",
                "iot:DescribeEndpoint has no resource-level permissions.",
                ["Resource::*"],
            )
        ],
    )
    if stack.node.find_child("DevicePlane").node.try_find_child("LoggingRole"):  # iotLogLevel
        _path(
            stack,
            "DevicePlane/LoggingRole",
            [
                _s(
                    "IAM5",
                    "IoT Core names the log streams it writes in its log group AWSIotLogsV2; "
                    "the grant is that one group's streams.",
                    [f"Resource::{_LOGS}:log-group:AWSIotLogsV2:*"],
                )
            ],
        )
    _path(
        stack,
        "Api/Handler",
        [
            _s(
                "IAM5",
                "Enrolment creates a thing and a certificate per rig (names and ids known only "
                "at run time), and revocation closes the rig's connection (its client id is "
                "the worker id); CreateCertificateFromCsr and ListPrincipalThings take no "
                "resource ARN.",
                [
                    "Resource::*",
                    f"Resource::{_IOT}:thing/*",
                    f"Resource::{_IOT}:cert/*",
                    f"Resource::{_IOT}:client/*",
                ],
            )
        ],
    )
    _path(
        stack,
        "Live/StreamFunction",
        [
            _s(
                "IAM5",
                "dynamodb:ListStreams (added by the DynamoDB event source) has no "
                "resource-level permissions.",
                ["Resource::*"],
            )
        ],
    )
    for child in stack.node.children:
        if child.node.id.startswith(_BUCKET_DEPLOYMENT_PREFIX):
            NagSuppressions.add_resource_suppressions(
                child,
                [
                    _s(
                        "IAM4",
                        "CDK's BucketDeployment handler (copies the dashboard's files into its "
                        "bucket) uses the AWS-managed basic execution role for its logs.",
                    ),
                    _s(
                        "IAM5",
                        "CDK's BucketDeployment handler reads the CDK asset bucket and writes "
                        "the dashboard bucket's objects (granted by CDK).",
                    ),
                    _s("L1", "The BucketDeployment handler's runtime is chosen by CDK."),
                ],
                apply_to_children=True,
            )
        elif child.node.id.startswith(_LOG_RETENTION_PREFIX):
            NagSuppressions.add_resource_suppressions(
                child,
                [
                    _s(
                        "IAM4",
                        "CDK's LogRetention handler (sets the retention of IoT Core's log group) "
                        "uses the AWS-managed basic execution role for its logs.",
                    ),
                    _s(
                        "IAM5",
                        "CDK's LogRetention handler sets retention policies; CDK grants it "
                        "logs:PutRetentionPolicy and logs:DeleteRetentionPolicy on any group.",
                        ["Resource::*"],
                    ),
                    _s("L1", "The LogRetention handler's runtime is chosen by CDK."),
                ],
                apply_to_children=True,
            )
        elif child.node.id == _AWS_CUSTOM_RESOURCE_ID:
            NagSuppressions.add_resource_suppressions(
                child,
                [
                    _s(
                        "IAM4",
                        "CDK's AwsCustomResource handler (looks up the IoT data endpoint) uses "
                        "the AWS-managed basic execution role for its logs.",
                    ),
                    _s("L1", "The AwsCustomResource handler's runtime is chosen by CDK."),
                ],
                apply_to_children=True,
            )


def _path(stack: Stack, path: str, suppressions: list[NagPackSuppression]) -> None:
    construct: IConstruct = stack
    for part in path.split("/"):
        construct = construct.node.find_child(part)
    NagSuppressions.add_resource_suppressions(construct, suppressions, apply_to_children=True)
