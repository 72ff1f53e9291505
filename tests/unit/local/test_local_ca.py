"""The local CA: certificates for the local broker, revocation through a CRL."""

from __future__ import annotations

import stat

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from functions.errors import NotFound
from functions.local.ca import SERVICE_IDENTITY, LocalCertificateAuthority, common_name
from functions.ports.certificates import CertificateAuthority, CertificateRequestInvalid
from functions.ports.csr import generate_key_and_csr
from protocol.errors import ProtocolError

WEAK_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505


@pytest.fixture
def ca(tmp_path):
    return LocalCertificateAuthority(tmp_path / "ca")


def _csr(key, name: str = "whatever-the-rig-says") -> str:
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()


def _issue(ca, worker_id="rig-1"):
    _key, csr_pem = generate_key_and_csr("ignored")
    issued = ca.issue(worker_id, csr_pem)
    return issued, x509.load_pem_x509_certificate(issued.certificate_pem.encode())


def _crl_serials(ca) -> set[int]:
    crl = x509.load_pem_x509_crl(ca.crl_path.read_bytes())
    assert crl.is_signature_valid(ca.certificate.public_key())
    return {revoked.serial_number for revoked in crl}


def test_it_implements_the_port(ca):
    port: CertificateAuthority = ca
    assert port is ca


def test_issue_names_the_worker_and_chains_to_the_ca(ca):
    issued, cert = _issue(ca, "rig-1")
    assert common_name(cert) == "rig-1"  # the CSR said otherwise; the platform decides
    cert.verify_directly_issued_by(ca.certificate)
    assert issued.ca_pem == ca.ca_pem == ca.ca_path.read_text()
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert 364 <= lifetime.days <= 366
    assert issued.certificate_id == cert.fingerprint(hashes.SHA256()).hex()
    assert not ca.is_revoked(cert)


def test_issue_accepts_an_rsa_2048_request(ca):
    issued = ca.issue(
        "rig-rsa", _csr(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    )
    cert = x509.load_pem_x509_certificate(issued.certificate_pem.encode())
    assert isinstance(cert.public_key(), rsa.RSAPublicKey)
    assert common_name(cert) == "rig-rsa"


@pytest.mark.parametrize(
    "csr_pem",
    [
        "not a certificate request",
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        pytest.param(_csr(WEAK_RSA_KEY), id="rsa-1024"),
        pytest.param(_csr(ec.generate_private_key(ec.SECP256K1())), id="secp256k1"),
    ],
)
def test_issue_refuses_bad_requests_and_records_nothing(ca, csr_pem):
    with pytest.raises(CertificateRequestInvalid):
        ca.issue("rig-1", csr_pem)
    assert not (ca.directory / "issued.json").exists()


@pytest.mark.parametrize("worker_id", ["", "a/b", "a+b", "#", "x" * 129])
def test_issue_refuses_invalid_worker_ids(ca, worker_id):
    _key, csr_pem = generate_key_and_csr("rig")
    with pytest.raises(ProtocolError):
        ca.issue(worker_id, csr_pem)


def test_no_rig_may_be_issued_the_service_identity(ca):
    _key, csr_pem = generate_key_and_csr(SERVICE_IDENTITY)
    with pytest.raises(ValueError, match="reserved"):
        ca.issue(SERVICE_IDENTITY, csr_pem)


def test_revoke_is_idempotent_and_lists_the_serial_in_the_crl(ca):
    issued, cert = _issue(ca, "rig-1")
    _other, kept = _issue(ca, "rig-2")
    assert _crl_serials(ca) == set()

    ca.revoke("rig-1", issued.certificate_id)
    crl_after_first = ca.crl_path.read_bytes()
    ca.revoke("rig-1", issued.certificate_id)

    assert ca.crl_path.read_bytes() == crl_after_first  # the second call changed nothing
    assert _crl_serials(ca) == {cert.serial_number}
    assert ca.is_revoked(cert)
    assert not ca.is_revoked(kept)


def test_revoke_needs_a_certificate_of_that_worker(ca):
    issued, _cert = _issue(ca, "rig-1")
    with pytest.raises(NotFound):
        ca.revoke("rig-2", issued.certificate_id)
    with pytest.raises(NotFound):
        ca.revoke("rig-1", "0" * 64)


def test_the_ca_persists_across_instances(tmp_path):
    first = LocalCertificateAuthority(tmp_path / "ca")
    issued, cert = _issue(first, "rig-1")
    key_mode = stat.S_IMODE((tmp_path / "ca" / "ca.key").stat().st_mode)
    assert key_mode == 0o600

    second = LocalCertificateAuthority(tmp_path / "ca")
    assert second.ca_pem == first.ca_pem
    second.revoke("rig-1", issued.certificate_id)  # found through the index on disk
    assert _crl_serials(second) == {cert.serial_number}
    assert first.is_revoked(cert)  # the first instance sees the other's revocation


def test_a_different_directory_is_a_different_ca(tmp_path):
    ours = LocalCertificateAuthority(tmp_path / "ours")
    theirs = LocalCertificateAuthority(tmp_path / "theirs")
    _issued, cert = _issue(theirs)
    assert ours.ca_pem != theirs.ca_pem
    with pytest.raises(InvalidSignature):  # same subject name, another key
        cert.verify_directly_issued_by(ours.certificate)


def test_issue_identity_writes_a_private_key_and_its_certificate(ca, tmp_path):
    cert_path, key_path = ca.issue_identity(SERVICE_IDENTITY, tmp_path / "ids")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert common_name(cert) == SERVICE_IDENTITY
    assert cert.public_key() == key.public_key()
    cert.verify_directly_issued_by(ca.certificate)


def test_server_certificate_names_the_hosts_for_server_auth_only(ca, tmp_path):
    cert_path, key_path = ca.server_certificate(["broker.test", "10.0.0.7"], directory=tmp_path)
    assert cert_path.parent == key_path.parent == tmp_path
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "broker.test"} <= set(names.get_values_for_type(x509.DNSName))
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} >= {
        "127.0.0.1",
        "10.0.0.7",
    }
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    cert.verify_directly_issued_by(ca.certificate)
