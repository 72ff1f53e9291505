"""The AWS IoT adapters against moto: issuing, undoing half-made work, revoking, publishing."""

from __future__ import annotations

import json
import logging

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iot.models import IoTBackend
from moto.iotdata.models import iotdata_backends

from functions.dal.workers import WorkerRepository
from functions.errors import Conflict
from functions.logic.enrolment import EnrolmentService
from functions.ports.aws_iot import (
    AMAZON_ROOT_CA1,
    IotCallFailed,
    IotCertificateAuthority,
    IotDevicePublisher,
    device_policy_document,
)
from functions.ports.certificates import CertificateRequestInvalid
from functions.ports.csr import generate_key_and_csr
from protocol.errors import ProtocolError
from tests.factories import PROVIDER
from tests.moto_iot import _create_certificate_from_csr_like_aws, _sign

REGION = "us-east-1"
POLICY = "xenblocks-test-device"
THING_VAR = "${iot:Connection.Thing.ThingName}"
ARN = f"arn:aws:iot:{REGION}:{DEFAULT_ACCOUNT_ID}"


@pytest.fixture
def stock_iot():
    """Moto's IoT as shipped, with the deployment's device policy created."""
    with mock_aws():
        client = boto3.client("iot", region_name=REGION)
        document = device_policy_document(region=REGION, account=DEFAULT_ACCOUNT_ID)
        client.create_policy(policyName=POLICY, policyDocument=json.dumps(document))
        yield client


@pytest.fixture
def iot(stock_iot, monkeypatch):
    # Stock moto signs a fresh key of its own, which the adapter rightly refuses.
    monkeypatch.setattr(
        IoTBackend, "create_certificate_from_csr", _create_certificate_from_csr_like_aws
    )
    return stock_iot


@pytest.fixture
def ca(iot):
    return IotCertificateAuthority(
        iot, data_client=_data(), policy_name=POLICY, sleep=lambda _: None
    )


def _data():
    """An IoT data-plane client; tests that expect its calls stub them."""
    return boto3.client("iot-data", region_name=REGION)


class FailingClient:
    """The real (moto) client, except that ``method`` fails its first ``times`` calls."""

    def __init__(self, client, method, *, code="InternalFailure", times=None):
        self._client = client
        self._method = method
        self._code = code
        self._remaining = times
        self.failures = 0

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if name != self._method:
            return attribute

        def maybe_fail(**kwargs):
            if self._remaining is None or self._remaining > 0:
                if self._remaining is not None:
                    self._remaining -= 1
                self.failures += 1
                error = {"Error": {"Code": self._code, "Message": "injected"}}
                raise ClientError(error, name)
            return attribute(**kwargs)

        return maybe_fail


def _things(iot):
    return [thing["thingName"] for thing in iot.list_things()["things"]]


def _certificates(iot):
    return iot.list_certificates()["certificates"]


def _policy_targets(iot):
    return iot.list_targets_for_policy(policyName=POLICY)["targets"]


def _assert_nothing_in_iot(iot):
    assert _things(iot) == []
    assert _certificates(iot) == []
    assert _policy_targets(iot) == []


def _public_key_der(key) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --- issue ---------------------------------------------------------------------------------


def test_issue_makes_an_active_certificate_on_the_workers_thing_with_the_policy(iot, ca):
    _, csr_pem = generate_key_and_csr("rig-1")

    issued = ca.issue("rig-1", csr_pem)

    description = iot.describe_certificate(certificateId=issued.certificate_id)
    certificate = description["certificateDescription"]
    arn = certificate["certificateArn"]
    assert certificate["status"] == "ACTIVE"
    assert iot.describe_thing(thingName="rig-1")["thingName"] == "rig-1"
    assert iot.list_thing_principals(thingName="rig-1")["principals"] == [arn]
    policies = iot.list_attached_policies(target=arn)["policies"]
    assert [policy["policyName"] for policy in policies] == [POLICY]
    parsed = x509.load_pem_x509_certificate(issued.certificate_pem.encode())
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    assert _public_key_der(parsed.public_key()) == _public_key_der(csr.public_key())
    assert issued.ca_pem == AMAZON_ROOT_CA1


def test_issue_hands_back_the_configured_ca(iot):
    ca = IotCertificateAuthority(
        iot, data_client=_data(), policy_name=POLICY, ca_pem="LOCAL CA PEM"
    )
    issued = ca.issue("rig-1", generate_key_and_csr("rig-1")[1])
    assert issued.ca_pem == "LOCAL CA PEM"


def _weak_rsa_csr() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (refusing it is the point)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rig-1")]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize(
    "csr_pem",
    ["not a csr", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----"],
)
def test_a_bad_csr_is_refused_before_anything_is_made(iot, ca, csr_pem):
    with pytest.raises(CertificateRequestInvalid):
        ca.issue("rig-1", csr_pem)
    _assert_nothing_in_iot(iot)


def test_a_weak_key_is_refused_before_anything_is_made(iot, ca):
    with pytest.raises(CertificateRequestInvalid, match="2048"):
        ca.issue("rig-1", _weak_rsa_csr())
    _assert_nothing_in_iot(iot)


def test_a_worker_id_that_is_no_thing_name_is_refused(iot, ca):
    with pytest.raises(ProtocolError):
        ca.issue("rig/1", generate_key_and_csr("rig")[1])
    _assert_nothing_in_iot(iot)


def test_a_csr_aws_refuses_is_a_certificate_request_error(iot):
    client = FailingClient(iot, "create_certificate_from_csr", code="InvalidRequestException")
    ca = IotCertificateAuthority(client, data_client=_data(), policy_name=POLICY)
    with pytest.raises(CertificateRequestInvalid, match="AWS IoT refused"):
        ca.issue("rig-1", generate_key_and_csr("rig-1")[1])
    _assert_nothing_in_iot(iot)


def test_a_missing_policy_leaves_nothing_behind(iot):
    ca = IotCertificateAuthority(
        iot, data_client=_data(), policy_name="no-such-policy", sleep=lambda _: None
    )
    with pytest.raises(IotCallFailed, match="ResourceNotFoundException") as raised:
        ca.issue("rig-1", generate_key_and_csr("rig-1")[1])
    assert isinstance(raised.value.__cause__, ClientError)
    _assert_nothing_in_iot(iot)


@pytest.mark.parametrize("method", ["describe_thing", "create_thing", "attach_thing_principal"])
def test_a_failure_mid_way_leaves_nothing_behind(iot, method):
    client = FailingClient(iot, method)
    ca = IotCertificateAuthority(
        client, data_client=_data(), policy_name=POLICY, sleep=lambda _: None
    )
    with pytest.raises(IotCallFailed, match="InternalFailure"):
        ca.issue("rig-1", generate_key_and_csr("rig-1")[1])
    assert client.failures == 1
    _assert_nothing_in_iot(iot)


def test_a_certificate_over_another_key_is_refused_and_discarded(stock_iot):
    """Stock moto certifies a key of its own, not the CSR's: the rig could never use it."""
    ca = IotCertificateAuthority(
        stock_iot, data_client=_data(), policy_name=POLICY, sleep=lambda _: None
    )
    with pytest.raises(IotCallFailed, match="different public key"):
        ca.issue("rig-1", generate_key_and_csr("rig-1")[1])
    _assert_nothing_in_iot(stock_iot)


def test_a_failing_clean_up_is_logged_and_does_not_hide_the_cause(iot, caplog):
    client = FailingClient(iot, "attach_thing_principal")
    failing_delete = FailingClient(client, "delete_certificate", code="AccessDeniedException")
    ca = IotCertificateAuthority(
        failing_delete, data_client=_data(), policy_name=POLICY, sleep=lambda _: None
    )
    with caplog.at_level(logging.ERROR), pytest.raises(IotCallFailed, match="attaching"):
        ca.issue("rig-1", generate_key_and_csr("rig-1")[1])
    failed = [r for r in caplog.records if r.getMessage() == "AWS IoT clean-up failed"]
    assert [r.step for r in failed] == ["delete the certificate"]
    assert all(r.exc_info for r in failed)
    # Everything else was undone; the certificate is at least no longer active.
    assert _things(iot) == []
    assert _policy_targets(iot) == []
    assert [c["status"] for c in _certificates(iot)] == ["INACTIVE"]


def test_deleting_retries_while_aws_still_sees_the_attachment(iot):
    sleeps = []
    client = FailingClient(iot, "delete_thing", code="InvalidRequestException", times=2)
    ca = IotCertificateAuthority(
        client, data_client=_data(), policy_name=POLICY, sleep=sleeps.append
    )
    issued = ca.issue("rig-1", generate_key_and_csr("rig-1")[1])

    ca.revoke("rig-1", issued.certificate_id)

    assert client.failures == 2
    assert sleeps == [0.25, 0.5]
    assert _things(iot) == []


def test_deleting_gives_up_after_the_last_attempt(iot):
    client = FailingClient(iot, "delete_thing", code="InvalidRequestException")
    ca = IotCertificateAuthority(
        client, data_client=_data(), policy_name=POLICY, delete_attempts=3, sleep=lambda _: 0
    )
    issued = ca.issue("rig-1", generate_key_and_csr("rig-1")[1])
    with pytest.raises(IotCallFailed, match="InvalidRequestException"):
        ca.revoke("rig-1", issued.certificate_id)
    assert client.failures == 3


def test_a_second_certificate_shares_the_thing_and_survives_the_firsts_revocation(iot, ca):
    first = ca.issue("rig-1", generate_key_and_csr("rig-1")[1])
    second = ca.issue("rig-1", generate_key_and_csr("rig-1")[1])
    assert len(iot.list_thing_principals(thingName="rig-1")["principals"]) == 2

    ca.revoke("rig-1", first.certificate_id)

    second_arn = f"{ARN}:cert/{second.certificate_id}"
    assert iot.list_thing_principals(thingName="rig-1")["principals"] == [second_arn]
    ca.revoke("rig-1", second.certificate_id)
    assert _things(iot) == []


def test_a_failure_on_an_existing_thing_keeps_the_thing_and_its_certificate(iot, ca):
    kept = ca.issue("rig-1", generate_key_and_csr("rig-1")[1])
    client = FailingClient(iot, "attach_thing_principal")
    failing = IotCertificateAuthority(
        client, data_client=_data(), policy_name=POLICY, sleep=lambda _: None
    )

    with pytest.raises(IotCallFailed):
        failing.issue("rig-1", generate_key_and_csr("rig-1")[1])

    kept_arn = f"{ARN}:cert/{kept.certificate_id}"
    assert _things(iot) == ["rig-1"]
    assert iot.list_thing_principals(thingName="rig-1")["principals"] == [kept_arn]
    assert [c["certificateId"] for c in _certificates(iot)] == [kept.certificate_id]
    assert _policy_targets(iot) == [kept_arn]


def test_a_policy_name_is_required(iot):
    with pytest.raises(ValueError, match="policy_name"):
        IotCertificateAuthority(iot, data_client=_data(), policy_name="")


# --- revoke --------------------------------------------------------------------------------


def test_revoke_stops_the_certificate_and_removes_the_thing(iot, ca):
    issued = ca.issue("rig-1", generate_key_and_csr("rig-1")[1])
    arn = f"{ARN}:cert/{issued.certificate_id}"

    ca.revoke("rig-1", issued.certificate_id)

    description = iot.describe_certificate(certificateId=issued.certificate_id)
    assert description["certificateDescription"]["status"] == "REVOKED"
    assert iot.list_principal_things(principal=arn)["things"] == []
    assert iot.list_attached_policies(target=arn)["policies"] == []
    assert _things(iot) == []


def test_revoke_twice_is_fine(iot, ca):
    issued = ca.issue("rig-1", generate_key_and_csr("rig-1")[1])
    ca.revoke("rig-1", issued.certificate_id)
    ca.revoke("rig-1", issued.certificate_id)
    status = iot.describe_certificate(certificateId=issued.certificate_id)
    assert status["certificateDescription"]["status"] == "REVOKED"


def test_revoke_of_a_deleted_certificate_still_removes_a_leftover_thing(iot, ca):
    issued = ca.issue("rig-1", generate_key_and_csr("rig-1")[1])
    arn = f"{ARN}:cert/{issued.certificate_id}"
    iot.detach_thing_principal(thingName="rig-1", principal=arn)
    iot.update_certificate(certificateId=issued.certificate_id, newStatus="INACTIVE")
    iot.delete_certificate(certificateId=issued.certificate_id, forceDelete=True)

    ca.revoke("rig-1", issued.certificate_id)
    ca.revoke("rig-1", issued.certificate_id)

    assert _things(iot) == []


def test_revoke_of_an_unknown_certificate_and_worker_is_fine(iot, ca):
    ca.revoke("rig-1", "0" * 64)
    _assert_nothing_in_iot(iot)


def test_revoke_refuses_another_workers_certificate(iot, ca):
    issued = ca.issue("rig-1", generate_key_and_csr("rig-1")[1])
    with pytest.raises(Conflict, match="rig-1"):
        ca.revoke("rig-2", issued.certificate_id)
    description = iot.describe_certificate(certificateId=issued.certificate_id)
    assert description["certificateDescription"]["status"] == "ACTIVE"
    assert _things(iot) == ["rig-1"]


def test_revoke_names_what_failed(iot, ca):
    issued = ca.issue("rig-1", generate_key_and_csr("rig-1")[1])
    client = FailingClient(iot, "update_certificate", code="ThrottlingException")
    failing = IotCertificateAuthority(client, data_client=_data(), policy_name=POLICY)
    with pytest.raises(
        IotCallFailed, match=r"revoking certificate \w+ of rig-1 failed \(ThrottlingException\)"
    ):
        failing.revoke("rig-1", issued.certificate_id)
    # Nothing was detached before the certificate stopped working; a retry finishes it.
    assert _things(iot) == ["rig-1"]
    ca.revoke("rig-1", issued.certificate_id)
    assert _things(iot) == []


# --- disconnect ----------------------------------------------------------------------------

DELETE_CONNECTION = {"clientId": "rig-1", "cleanSession": True, "preventWillMessage": True}


class RecordingDataPlane:
    """The data plane's DeleteConnection, checking the certificate is already REVOKED."""

    def __init__(self, iot, certificate_id):
        self._iot, self._certificate_id = iot, certificate_id
        self.calls = []

    def delete_connection(self, **kwargs):
        description = self._iot.describe_certificate(certificateId=self._certificate_id)
        self.calls.append((kwargs, description["certificateDescription"]["status"]))
        return {}


def test_disconnect_closes_the_session_without_the_will(iot):
    data = _data()
    ca = IotCertificateAuthority(iot, data_client=data, policy_name=POLICY)
    with Stubber(data) as stub:
        stub.add_response("delete_connection", {}, DELETE_CONNECTION)
        ca.disconnect("rig-1")
        stub.assert_no_pending_responses()


def test_disconnect_of_a_rig_that_is_not_connected_is_fine(iot):
    data = _data()
    ca = IotCertificateAuthority(iot, data_client=data, policy_name=POLICY)
    with Stubber(data) as stub:
        stub.add_client_error(
            "delete_connection",
            service_error_code="ResourceNotFoundException",
            http_status_code=404,
            expected_params=DELETE_CONNECTION,
        )
        ca.disconnect("rig-1")
        stub.assert_no_pending_responses()


def test_a_failed_disconnect_names_the_rig_and_the_cause(iot):
    data = _data()
    ca = IotCertificateAuthority(iot, data_client=data, policy_name=POLICY)
    with Stubber(data) as stub:
        stub.add_client_error("delete_connection", service_error_code="ThrottlingException")
        with pytest.raises(IotCallFailed, match=r"DeleteConnection rig-1 failed \(Throttling"):
            ca.disconnect("rig-1")
        stub.assert_no_pending_responses()


def test_disconnect_refuses_a_worker_id_that_is_no_client_id(iot):
    data = _data()
    ca = IotCertificateAuthority(iot, data_client=data, policy_name=POLICY)
    with Stubber(data), pytest.raises(ProtocolError):
        ca.disconnect("rig/1")  # the Stubber would fail any call


def test_revoking_a_rig_closes_its_connection_once_its_certificate_is_revoked(iot, tables):
    issuing = IotCertificateAuthority(iot, data_client=_data(), policy_name=POLICY)
    enrolment = EnrolmentService(WorkerRepository(tables), issuing)
    worker = enrolment.enrol(
        PROVIDER, csr_pem=generate_key_and_csr("rig")[1], name="", now=1
    ).worker
    data = RecordingDataPlane(iot, worker.certificate_id)
    revoking = IotCertificateAuthority(iot, data_client=data, policy_name=POLICY)

    EnrolmentService(WorkerRepository(tables), revoking).revoke(PROVIDER, worker.worker_id, now=2)

    expected = {**DELETE_CONNECTION, "clientId": worker.worker_id}
    assert data.calls == [(expected, "REVOKED")]


# --- a certificate from another CA goes through the same attachment -------------------------


def test_a_registered_certificate_is_attached_like_an_issued_one(iot, ca):
    device_key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rig-9")])
    registered = iot.register_certificate_without_ca(
        certificatePem=_sign(device_key.public_key(), subject), status="ACTIVE"
    )
    arn = registered["certificateArn"]

    ca._attach("rig-9", arn)

    assert iot.list_thing_principals(thingName="rig-9")["principals"] == [arn]
    assert [p["policyName"] for p in iot.list_attached_policies(target=arn)["policies"]] == [POLICY]
    ca.revoke("rig-9", registered["certificateId"])
    assert _things(iot) == []


def test_a_failed_attachment_undoes_itself_and_leaves_the_certificate(iot):
    device_key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rig-9")])
    registered = iot.register_certificate_without_ca(
        certificatePem=_sign(device_key.public_key(), subject), status="ACTIVE"
    )
    ca = IotCertificateAuthority(
        FailingClient(iot, "attach_thing_principal"), data_client=_data(), policy_name=POLICY
    )

    with pytest.raises(IotCallFailed, match="attaching"):
        ca._attach("rig-9", registered["certificateArn"])

    assert _things(iot) == []
    assert _policy_targets(iot) == []
    assert len(_certificates(iot)) == 1


# --- publisher -----------------------------------------------------------------------------


def test_publish_sends_the_bytes_on_the_topic(iot):
    client = boto3.client("iot-data", region_name=REGION)
    payload = b'{"type":"pause","ts":1}'

    IotDevicePublisher(client).publish("xenminer/rig-1/control", payload)
    IotDevicePublisher(client).publish("xenminer/rig-1/task", b"\x00\xff", qos=0)

    published = iotdata_backends[DEFAULT_ACCOUNT_ID][REGION].published_payloads
    assert published == [("xenminer/rig-1/control", payload), ("xenminer/rig-1/task", b"\x00\xff")]


def test_publish_with_a_qos_aws_does_not_support_is_refused():
    client = boto3.client("iot-data", region_name=REGION)
    with Stubber(client), pytest.raises(ValueError, match="QoS"):
        IotDevicePublisher(client).publish("xenminer/rig-1/task", b"{}", qos=2)


def test_a_failed_publish_raises():
    client = boto3.client("iot-data", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_client_error("publish", service_error_code="ThrottlingException")
        with pytest.raises(IotCallFailed, match="xenminer/rig-1/task"):
            IotDevicePublisher(client).publish("xenminer/rig-1/task", b"{}")
        stub.assert_no_pending_responses()


# --- policy and CA -------------------------------------------------------------------------


def _statement(document, action):
    (statement,) = [s for s in document["Statement"] if s["Action"] == action]
    assert statement["Effect"] == "Allow"
    return statement


def test_the_policy_ties_the_client_id_and_topics_to_the_thing_name():
    document = device_policy_document(partition="aws-cn", region="cn-north-1", account="1234")
    arn = "arn:aws-cn:iot:cn-north-1:1234"

    assert document["Version"] == "2012-10-17"
    assert {s["Action"] for s in document["Statement"]} == {
        "iot:Connect",
        "iot:Publish",
        "iot:Subscribe",
        "iot:Receive",
    }
    connect = _statement(document, "iot:Connect")
    assert connect["Resource"] == f"{arn}:client/{THING_VAR}"
    assert connect["Condition"] == {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}
    assert _statement(document, "iot:Publish")["Resource"] == [
        f"{arn}:topic/xenminer/{THING_VAR}/*",
        # Basic Ingest: this stage's heartbeat rule only, for heartbeats only.
        f"{arn}:topic/$aws/rules/xenblocks_local_heartbeat/xenminer/{THING_VAR}/heartbeat",
    ]
    assert _statement(document, "iot:Subscribe")["Resource"] == (
        f"{arn}:topicfilter/xenminer/{THING_VAR}/*"
    )
    assert _statement(document, "iot:Receive")["Resource"] == f"{arn}:topic/xenminer/{THING_VAR}/*"
    # Nothing broader slipped in: every resource is scoped to the connecting thing's name.
    resources = [r for s in document["Statement"] for r in _as_list(s["Resource"])]
    assert all(THING_VAR in resource for resource in resources)
    json.dumps(document)  # what the CDK app and CreatePolicy take


def _as_list(value):
    return value if isinstance(value, list) else [value]


def test_the_policy_is_accepted_by_iot(iot):
    policy = iot.get_policy(policyName=POLICY)
    assert json.loads(policy["policyDocument"]) == device_policy_document(
        region=REGION, account=DEFAULT_ACCOUNT_ID
    )


def test_the_ca_is_amazon_root_ca_1():
    certificate = x509.load_pem_x509_certificate(AMAZON_ROOT_CA1.encode())
    assert certificate.subject.rfc4514_string() == "CN=Amazon Root CA 1,O=Amazon,C=US"
    assert certificate.fingerprint(hashes.SHA256()).hex() == (
        "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e"
    )
