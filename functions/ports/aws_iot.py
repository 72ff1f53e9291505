"""AWS IoT Core adapters: the certificate authority, the device policy and the publisher.

A rig's identity is an IoT thing named after its worker id, with one certificate attached
and the deployment's device policy on that certificate. The policy ties the MQTT client id
and every topic to the thing name, so a certificate can act only as its own worker.

Revoking a rig marks its certificate REVOKED (no new connection) and then closes its open
connection with the data plane's DeleteConnection (client id = thing name, which the policy
enforces). IoT Core would close it by itself only "within a few minutes" of the status
change; what remains is the moment between the two calls, when an open connection may
still publish (ingest refuses a revoked worker's messages all the same).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from functions.errors import Conflict
from functions.observability import logger
from functions.ports.certificates import CertificateRequestInvalid, IssuedCertificate
from functions.ports.csr import load_csr
from functions.routing import ROUTES
from protocol.topics import TOPIC_ROOT, validate_worker_id

if TYPE_CHECKING:
    from mypy_boto3_iot.client import IoTClient
    from mypy_boto3_iot_data.client import IoTDataPlaneClient


# Amazon Root CA 1: what rigs trust when they verify the AWS IoT (ATS) endpoint.
# SHA-256 fingerprint 8ECDE688 4F3D87B1 125BA31A C3FCB13D 7016DE7F 57CC904F E1CB97C6 AE98196E.
AMAZON_ROOT_CA1 = """\
-----BEGIN CERTIFICATE-----
MIIDQTCCAimgAwIBAgITBmyfz5m/jAo54vB4ikPmljZbyjANBgkqhkiG9w0BAQsF
ADA5MQswCQYDVQQGEwJVUzEPMA0GA1UEChMGQW1hem9uMRkwFwYDVQQDExBBbWF6
b24gUm9vdCBDQSAxMB4XDTE1MDUyNjAwMDAwMFoXDTM4MDExNzAwMDAwMFowOTEL
MAkGA1UEBhMCVVMxDzANBgNVBAoTBkFtYXpvbjEZMBcGA1UEAxMQQW1hem9uIFJv
b3QgQ0EgMTCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBALJ4gHHKeNXj
ca9HgFB0fW7Y14h29Jlo91ghYPl0hAEvrAIthtOgQ3pOsqTQNroBvo3bSMgHFzZM
9O6II8c+6zf1tRn4SWiw3te5djgdYZ6k/oI2peVKVuRF4fn9tBb6dNqcmzU5L/qw
IFAGbHrQgLKm+a/sRxmPUDgH3KKHOVj4utWp+UhnMJbulHheb4mjUcAwhmahRWa6
VOujw5H5SNz/0egwLX0tdHA114gk957EWW67c4cX8jJGKLhD+rcdqsq08p8kDi1L
93FcXmn/6pUCyziKrlA4b9v7LWIbxcceVOF34GfID5yHI9Y/QCB/IIDEgEw+OyQm
jgSubJrIqg0CAwEAAaNCMEAwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMC
AYYwHQYDVR0OBBYEFIQYzIU07LwMlJQuCFmcx7IQTgoIMA0GCSqGSIb3DQEBCwUA
A4IBAQCY8jdaQZChGsV2USggNiMOruYou6r4lK5IpDB/G/wkjUu0yKGX9rbxenDI
U5PMCCjjmCXPI6T53iHTfIUJrU6adTrCC2qJeHZERxhlbI1Bjjt/msv0tadQ1wUs
N+gDS63pYaACbvXy8MWy7Vu33PqUXHeeE6V/Uq2V8viTO96LXFvKWlJbYK8U90vv
o/ufQJVtMVT8QtPHRh8jrdkPSHCa2XV4cdFyQzR1bldZwgJcJmApzyMZFo6IQ6XU
5MsI+yMRQ+hDKXJioaldXgjUkK642M4UwtBV8ob2xJNDd2ZhwLnoQdeXeGADbkpy
rqXRfboQnoZsG4q5WTP468SQvvG5
-----END CERTIFICATE-----
"""

# IoT substitutes the connecting certificate's thing name here (policy variable, not Python).
THING_NAME_VARIABLE = "${iot:Connection.Thing.ThingName}"
MQTT_QOS_LEVELS = (0, 1)  # AWS IoT Core does not support QoS 2
# IoT Core refuses a bigger MQTT payload (and disconnects the client that sent it); the
# local brokers apply the same cap (functions.local.broker).
MAX_MQTT_PAYLOAD_BYTES = 128 * 1024

_NOT_FOUND = "ResourceNotFoundException"
# Detaching is eventually consistent in AWS IoT: a delete right after a detach may still
# see the attachment and fail with one of these, so it is retried a few times.
_STILL_ATTACHED = frozenset({"DeleteConflictException", "InvalidRequestException"})


class IotCallFailed(RuntimeError):
    """An AWS IoT call failed; the message names the operation, the cause is chained."""


def device_policy_document(
    *, partition: str = "aws", region: str, account: str, stage: str = "local"
) -> dict[str, Any]:
    """The deployment's device policy: connect as your thing, use only your own topics,
    reach only your own stage's Basic Ingest rules.

    The single definition: the CDK app creates the policy from it (``stage`` is its stage;
    the default names the local stage's rules), tests assert on it.
    """
    arn = f"arn:{partition}:iot:{region}:{account}"
    own_topics = f"{TOPIC_ROOT}/{THING_NAME_VARIABLE}/*"
    # The Basic Ingest form lets a rig publish straight to a rule, skipping the broker's
    # messaging charge: only to this stage's rules, each for its own kind of message (never
    # $aws/rules/*, which would reach every stage's rules in the account).
    basic_ingest = [
        f"{arn}:topic/$aws/rules/{route.rule_name(stage)}/{TOPIC_ROOT}/"
        f"{THING_NAME_VARIABLE}/{route.suffix}"
        for route in ROUTES
        if route.basic_ingest
    ]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": f"{arn}:client/{THING_NAME_VARIABLE}",
                # Only a certificate attached to a thing may connect, so the variable above
                # always resolves to a real thing name.
                "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
            },
            {
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": [f"{arn}:topic/{own_topics}", *basic_ingest],
            },
            {
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": f"{arn}:topicfilter/{own_topics}",
            },
            {
                "Effect": "Allow",
                "Action": "iot:Receive",
                "Resource": f"{arn}:topic/{own_topics}",
            },
        ],
    }


class IotCertificateAuthority:
    """``CertificateAuthority`` on AWS IoT: certificates from CSRs, one thing per worker."""

    def __init__(
        self,
        iot_client: IoTClient,
        *,
        data_client: IoTDataPlaneClient,
        policy_name: str,
        ca_pem: str = AMAZON_ROOT_CA1,
        delete_attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``data_client``: the account's IoT data plane (``iot_data_client``), which closes
        a revoked rig's connection."""
        if not policy_name:
            raise ValueError("policy_name is required")
        self._iot = iot_client
        self._data = data_client
        self._policy_name = policy_name
        self._ca_pem = ca_pem
        self._delete_attempts = max(1, delete_attempts)
        self._sleep = sleep

    def issue(self, worker_id: str, csr_pem: str) -> IssuedCertificate:
        validate_worker_id(worker_id)
        csr = load_csr(csr_pem)  # refuse a bad CSR before any IoT call
        try:
            created = self._iot.create_certificate_from_csr(
                certificateSigningRequest=csr_pem, setAsActive=True
            )
        except ClientError as error:
            if _error_code(error) == "InvalidRequestException":
                raise CertificateRequestInvalid(f"AWS IoT refused the CSR: {error}") from error
            raise IotCallFailed(f"CreateCertificateFromCsr for {worker_id} failed") from error
        except BotoCoreError as error:
            raise IotCallFailed(f"CreateCertificateFromCsr for {worker_id} failed") from error
        certificate_id = created["certificateId"]
        certificate_arn = created["certificateArn"]
        certificate_pem = created["certificatePem"]
        try:
            _require_same_key(certificate_pem, csr)
            self._attach(worker_id, certificate_arn)
        except BaseException:
            self._discard_certificate(certificate_id)
            raise
        return IssuedCertificate(
            certificate_id=certificate_id,
            certificate_pem=certificate_pem,
            ca_pem=self._ca_pem,
        )

    def revoke(self, worker_id: str, certificate_id: str) -> None:
        validate_worker_id(worker_id)
        try:
            description = self._iot.describe_certificate(certificateId=certificate_id)[
                "certificateDescription"
            ]
        except ClientError as error:
            if _error_code(error) != _NOT_FOUND:
                raise IotCallFailed(f"DescribeCertificate {certificate_id} failed") from error
            # Already deleted: only a thing left behind by an earlier attempt may remain.
            self._delete_thing_if_unused(worker_id, ignoring=None)
            return
        except BotoCoreError as error:
            raise IotCallFailed(f"DescribeCertificate {certificate_id} failed") from error
        arn = description["certificateArn"]
        with _wrapped(f"revoking certificate {certificate_id} of {worker_id}"):
            things = _paged(
                self._iot.list_principal_things, "things", principal=arn, maxResults=250
            )
            others = sorted(set(things) - {worker_id})
            if others:
                raise Conflict(f"certificate {certificate_id} belongs to {others[0]}")
            # Stop it connecting first; the detaching below is only tidying up.
            if description.get("status") != "REVOKED":
                self._iot.update_certificate(certificateId=certificate_id, newStatus="REVOKED")
            if worker_id in things:
                _ignore_not_found(
                    self._iot.detach_thing_principal, thingName=worker_id, principal=arn
                )
            for policy in _paged(
                self._iot.list_attached_policies, "policies", target=arn, pageSize=250
            ):
                _ignore_not_found(
                    self._iot.detach_policy, policyName=policy["policyName"], target=arn
                )
        self._delete_thing_if_unused(worker_id, ignoring=arn)

    def disconnect(self, worker_id: str) -> None:
        """Close the rig's open MQTT connection, its session and without its last will.

        Call it after ``revoke``: the certificate can no longer connect, so the rig cannot
        come back. A rig that is not connected is fine.
        """
        validate_worker_id(worker_id)
        try:
            self._data.delete_connection(
                clientId=worker_id, cleanSession=True, preventWillMessage=True
            )
        except ClientError as error:
            if _error_code(error) != _NOT_FOUND:  # not connected
                raise IotCallFailed(
                    f"DeleteConnection {worker_id} failed ({_error_code(error)})"
                ) from error
        except BotoCoreError as error:
            raise IotCallFailed(f"DeleteConnection {worker_id} failed") from error

    def _attach(self, worker_id: str, certificate_arn: str) -> None:
        """Give the certificate the worker's thing and the device policy, or undo and raise.

        Shared by every certificate source (issued from a CSR, or registered), so they all
        end up attached the same way. The certificate itself is the caller's to discard.
        """
        with _wrapped(f"attaching {certificate_arn} to {worker_id}"), ExitStack() as undo:
            if not self._thing_exists(worker_id):
                self._iot.create_thing(thingName=worker_id)
                undo.callback(self._best_effort, "delete the thing", self._delete_thing, worker_id)
            self._iot.attach_policy(policyName=self._policy_name, target=certificate_arn)
            undo.callback(
                self._best_effort,
                "detach the policy",
                _ignore_not_found,
                self._iot.detach_policy,
                policyName=self._policy_name,
                target=certificate_arn,
            )
            self._iot.attach_thing_principal(thingName=worker_id, principal=certificate_arn)
            undo.pop_all()

    def _thing_exists(self, worker_id: str) -> bool:
        try:
            self._iot.describe_thing(thingName=worker_id)
        except ClientError as error:
            if _error_code(error) == _NOT_FOUND:
                return False
            raise
        return True

    def _discard_certificate(self, certificate_id: str) -> None:
        """Deactivate and delete a certificate that never reached the rig (best effort)."""
        self._best_effort(
            "deactivate the certificate",
            self._iot.update_certificate,
            certificateId=certificate_id,
            newStatus="INACTIVE",
        )
        # forceDelete also drops any policy still attached.
        self._best_effort(
            "delete the certificate",
            self._retry_while_attached,
            self._iot.delete_certificate,
            certificateId=certificate_id,
            forceDelete=True,
        )

    def _delete_thing_if_unused(self, worker_id: str, *, ignoring: str | None) -> None:
        """Delete the worker's thing unless another certificate (a rotation) still uses it."""
        with _wrapped(f"deleting the thing {worker_id}"):
            try:
                principals = _paged(
                    self._iot.list_thing_principals,
                    "principals",
                    thingName=worker_id,
                    maxResults=250,
                )
            except ClientError as error:
                if _error_code(error) == _NOT_FOUND:
                    return
                raise
            if set(principals) - {ignoring}:
                return
            self._delete_thing(worker_id)

    def _delete_thing(self, worker_id: str) -> None:
        # AWS answers success for a missing thing; moto answers not-found.
        self._retry_while_attached(_ignore_not_found, self._iot.delete_thing, thingName=worker_id)

    def _retry_while_attached(self, call: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        for attempt in range(self._delete_attempts):
            try:
                call(*args, **kwargs)
                return
            except ClientError as error:
                if (
                    _error_code(error) not in _STILL_ATTACHED
                    or attempt + 1 == self._delete_attempts
                ):
                    raise
                self._sleep(0.25 * 2**attempt)

    @staticmethod
    def _best_effort(what: str, call: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """Run one undo step; a failure is logged, never raised over the original error."""
        try:
            call(*args, **kwargs)
        except Exception:
            logger.exception("AWS IoT clean-up failed", extra={"step": what})


def iot_data_client(region: str, endpoint_host: str) -> IoTDataPlaneClient:
    """The account's IoT data-plane client (``endpoint_host``: its ``iot:Data-ATS`` endpoint)."""
    import boto3

    return boto3.client("iot-data", region_name=region, endpoint_url=f"https://{endpoint_host}")


class IotDevicePublisher:
    """``DevicePublisher`` on the IoT data plane (``iot-data``)."""

    def __init__(self, iot_data_client: IoTDataPlaneClient) -> None:
        self._client = iot_data_client

    def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> None:
        if qos not in MQTT_QOS_LEVELS:
            raise ValueError(f"AWS IoT supports QoS 0 and 1, not {qos}")
        try:
            self._client.publish(topic=topic, qos=qos, payload=payload)
        except (ClientError, BotoCoreError) as error:
            raise IotCallFailed(f"publishing to {topic} failed") from error


def _require_same_key(certificate_pem: str, csr: x509.CertificateSigningRequest) -> None:
    """The port promises a certificate over the CSR's key; one over another key is useless."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    except ValueError as error:
        raise IotCallFailed("AWS IoT returned an unparsable certificate") from error
    if _public_key_der(certificate.public_key()) != _public_key_der(csr.public_key()):
        raise IotCallFailed("AWS IoT returned a certificate for a different public key")


def _public_key_der(key: Any) -> bytes:
    der: bytes = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _ignore_not_found(call: Callable[..., object], **kwargs: Any) -> None:
    """Run a detach or delete; something already gone is what we wanted."""
    try:
        call(**kwargs)
    except ClientError as error:
        if _error_code(error) != _NOT_FOUND:
            raise


def _paged(call: Callable[..., Any], key: str, **kwargs: Any) -> list[Any]:
    """All items of a ``nextMarker``/``nextToken``-paged IoT listing."""
    items: list[Any] = []
    while True:
        page = call(**kwargs)
        items.extend(page.get(key, []))
        if page.get("nextToken"):
            kwargs["nextToken"] = page["nextToken"]
        elif page.get("nextMarker"):
            kwargs["marker"] = page["nextMarker"]
        else:
            return items


@contextmanager
def _wrapped(doing: str) -> Iterator[None]:
    """Turn a boto failure inside the block into IotCallFailed naming what was being done."""
    try:
        yield
    except ClientError as error:
        raise IotCallFailed(f"{doing} failed ({_error_code(error)})") from error
    except BotoCoreError as error:
        raise IotCallFailed(f"{doing} failed ({type(error).__name__})") from error


__all__ = [
    "AMAZON_ROOT_CA1",
    "MAX_MQTT_PAYLOAD_BYTES",
    "IotCallFailed",
    "IotCertificateAuthority",
    "IotDevicePublisher",
    "device_policy_document",
]
