"""The secrets construct: the JWT signing secret in Secrets Manager.

Secrets Manager generates it at deploy time (64 characters, never in the template or the
repository); the functions that sign or verify session tokens get its ARN as
``XENBLOCKS_JWT_SECRET_ARN`` and ``secretsmanager:GetSecretValue`` on it alone, and read it
once per cold start (``functions.handlers.secrets``).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.functions import PlatformFunction


class Secrets(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, stage: str, retain: bool) -> None:
        super().__init__(scope, construct_id)
        self.jwt_secret = secretsmanager.Secret(
            self,
            "JwtSigningSecret",
            description=f"xenblocks {stage}: HS256 key that signs the API's session tokens",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64,
                exclude_punctuation=True,
                include_space=False,
            ),
            # A new key signs everyone out: protected stages keep it past a stack deletion.
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )

    def grant_jwt_secret(self, fn: PlatformFunction) -> None:
        """Read access and ``XENBLOCKS_JWT_SECRET_ARN`` for one function."""
        fn.add_to_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue"],
                resources=[self.jwt_secret.secret_arn],
            )
        )
        fn.add_settings({"jwt_secret_arn": self.jwt_secret.secret_arn})
