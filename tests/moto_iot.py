"""moto's IoT, made to certify a CSR's own key as AWS does (stock moto signs a new key)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_TEST_CA_KEY = ec.generate_private_key(ec.SECP256R1())
_TEST_CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])


def _sign(public_key, subject: x509.Name) -> str:
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(_TEST_CA_NAME)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(_TEST_CA_KEY, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _create_certificate_from_csr_like_aws(self, csr, set_as_active):
    """What AWS does and moto does not: certify the CSR's own public key."""
    request = x509.load_pem_x509_csr(csr.encode())
    pem = _sign(request.public_key(), request.subject)
    return self.register_certificate(
        pem, ca_certificate_pem=None, set_as_active=set_as_active, status="INACTIVE"
    )
