"""Certificate signing requests: the checks every CA adapter applies, and making one.

The preferred enrolment flow has the rig make its key and send only a CSR, so its private
key never leaves it. Whatever the adapter, a CSR is refused before any CA call when it is
oversized, unparsable, not self-signed correctly, or carries a weak or unknown key type.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from functions.ports.certificates import CertificateRequestInvalid

MAX_CSR_BYTES = 8 * 1024
MIN_RSA_BITS = 2048
# The curves both AWS IoT and the local brokers accept for device certificates.
ALLOWED_CURVES = (ec.SECP256R1, ec.SECP384R1)


def load_csr(csr_pem: str) -> x509.CertificateSigningRequest:
    """The parsed CSR, or CertificateRequestInvalid saying what is wrong with it."""
    data = csr_pem.encode()
    if len(data) > MAX_CSR_BYTES:
        raise CertificateRequestInvalid(f"csr_pem is over {MAX_CSR_BYTES} bytes")
    try:
        csr = x509.load_pem_x509_csr(data)
    except ValueError:
        raise CertificateRequestInvalid("csr_pem is not a PEM certificate request") from None
    if not csr.is_signature_valid:
        raise CertificateRequestInvalid("csr_pem is not signed by its own key")
    key = csr.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise CertificateRequestInvalid(f"an RSA key needs at least {MIN_RSA_BITS} bits")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ALLOWED_CURVES):
            raise CertificateRequestInvalid("an EC key must be on P-256 or P-384")
    else:
        raise CertificateRequestInvalid("the key must be RSA (2048+) or EC (P-256, P-384)")
    return csr


def generate_key_and_csr(common_name: str) -> tuple[str, str]:
    """A fresh P-256 key and a CSR for it, both PEM: (private_key_pem, csr_pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return key_pem, csr.public_bytes(serialization.Encoding.PEM).decode()
