"""The ``CertificateAuthority`` port: who issues and revokes rig certificates.

AWS adapter: IoT Core (``functions.ports.aws_iot``). Local adapter: a CA on disk whose
certificates the local broker trusts (``functions.local.ca``). The rig's identity is the
worker id: the IoT thing name in AWS, the certificate's common name locally.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class CertificateRequestInvalid(ValueError):
    """A CSR that cannot be used: unparsable, badly signed, or a weak or unknown key."""


@dataclass(frozen=True)
class IssuedCertificate:
    certificate_id: str  # AWS IoT certificate id, or the local certificate's SHA-256
    certificate_pem: str
    # What the rig trusts when it verifies the broker: Amazon's root CA, or the local CA.
    ca_pem: str


class CertificateAuthority(Protocol):
    def issue(self, worker_id: str, csr_pem: str) -> IssuedCertificate:
        """A certificate for ``worker_id`` over the CSR's public key, active at once.

        Raises CertificateRequestInvalid for a CSR it cannot use. On any failure nothing
        is left behind (no half-made thing, certificate or attachment).
        """
        ...

    def revoke(self, worker_id: str, certificate_id: str) -> None:
        """The certificate can no longer connect; safe to call twice."""
        ...

    def disconnect(self, worker_id: str) -> None:
        """Close the rig's open MQTT connection and drop its session, without its last will.

        Called after ``revoke``, so the rig cannot come back. No connection is fine; safe to
        call twice.
        """
        ...
