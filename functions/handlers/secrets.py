"""The JWT signing secret, read from Secrets Manager at cold start."""

from __future__ import annotations

import boto3
from pydantic import SecretStr

from functions.settings import Settings


def with_jwt_secret(settings: Settings) -> Settings:
    """``settings`` with ``jwt_secret`` filled in from ``jwt_secret_arn`` when it is unset."""
    if settings.jwt_secret is not None or not settings.jwt_secret_arn:
        return settings
    secrets = boto3.client("secretsmanager", region_name=settings.aws_region)
    value = secrets.get_secret_value(SecretId=settings.jwt_secret_arn)["SecretString"]
    return settings.model_copy(update={"jwt_secret": SecretStr(value)})
