"""The API Lambda as AWS runs it: an HTTP API (v2) event through Mangum, on moto."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iot.models import IoTBackend

from functions.dal.tables import Tables, create_tables
from functions.handlers import api
from functions.local.lambda_context import LocalLambdaContext
from functions.logic.tokens import issue_token
from functions.ports.aws_iot import AMAZON_ROOT_CA1, device_policy_document
from functions.ports.csr import generate_key_and_csr
from functions.settings import Settings, load_settings
from tests.factories import PROVIDER
from tests.moto_iot import _create_certificate_from_csr_like_aws

SECRET = "aws-secret-aws-secret-aws-secret-aws!"
REGION = "us-east-1"


@pytest.fixture
def deployed(monkeypatch):
    monkeypatch.setattr(
        IoTBackend, "create_certificate_from_csr", _create_certificate_from_csr_like_aws
    )
    with mock_aws():
        secret_arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="jwt", SecretString=SECRET
        )["ARN"]
        policy = device_policy_document(region=REGION, account=DEFAULT_ACCOUNT_ID)
        boto3.client("iot", region_name=REGION).create_policy(
            policyName="devices", policyDocument=json.dumps(policy)
        )
        env = {
            "XENBLOCKS_STAGE": "prod",
            "XENBLOCKS_JWT_SECRET_ARN": secret_arn,
            "XENBLOCKS_IOT_POLICY_NAME": "devices",
            "XENBLOCKS_MQTT_HOST": "abc-ats.iot.us-east-1.amazonaws.com",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        load_settings.cache_clear()
        create_tables(Tables(Settings(stage="prod")))
        monkeypatch.setattr(api, "_handler", None)
        yield
    load_settings.cache_clear()


def http_event(method: str, path: str, body: dict | None = None, token: str | None = None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4"},
            "stage": "$default",
            "requestId": "r1",
            "accountId": DEFAULT_ACCOUNT_ID,
            "apiId": "api",
            "domainName": "api.example.com",
            "timeEpoch": 0,
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def call(event):
    response = api.handler(event, LocalLambdaContext(function_name="api"))
    return response["statusCode"], json.loads(response["body"]) if response["body"] else None


def test_health_and_enrolment_work_through_api_gateway_events(deployed):
    assert call(http_event("GET", "/api/health")) == (200, {"status": "ok", "stage": "prod"})

    token = issue_token(PROVIDER, secret=SECRET, now=int(time.time()), ttl=600)
    _, csr_pem = generate_key_and_csr("rig")
    status, body = call(http_event("POST", "/api/devices", {"csr_pem": csr_pem}, token))

    assert status == 201, body
    assert body["ca_pem"] == AMAZON_ROOT_CA1
    assert body["mqtt_host"] == "abc-ats.iot.us-east-1.amazonaws.com"
    iot = boto3.client("iot", region_name=REGION)
    principals = iot.list_thing_principals(thingName=body["worker_id"])["principals"]
    assert len(principals) == 1
    assert iot.list_attached_policies(target=principals[0])["policies"][0]["policyName"] == (
        "devices"
    )


def test_a_token_signed_with_another_secret_is_refused(deployed):
    token = issue_token(PROVIDER, secret="x" * 40, now=int(time.time()), ttl=600)
    status, body = call(http_event("POST", "/api/devices", {}, token))
    assert status == 401
    assert body["error"]["code"] == "unauthorized"
