"""Enrolling rigs: a worker id, a certificate for the rig's own key, and revocation.

The preferred flow takes a CSR, so the rig's private key never leaves it. Without one a key
is generated here and returned once; it is never stored.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from functions.dal.pagination import Page
from functions.dal.workers import WorkerRepository
from functions.errors import Conflict, InvalidInput, NotFound
from functions.models.workers import Worker
from functions.ports.certificates import (
    CertificateAuthority,
    CertificateRequestInvalid,
    IssuedCertificate,
)
from functions.ports.csr import generate_key_and_csr

MAX_NAME_LENGTH = 64


@dataclass(frozen=True)
class Enrolment:
    worker: Worker
    certificate: IssuedCertificate
    private_key_pem: str | None  # only when the platform made the key


def worker_id_prefix(stage: str) -> str:
    """What every worker id a stage issues starts with: ``<stage>_``.

    Stages of one AWS account share IoT Core (thing names, topics, rules): each stage's
    rules take only the topics of its own workers by this prefix (``infra/device_plane.py``).
    A stage name has no ``_`` (``functions.settings``), so no stage's prefix is the start of
    another's (``prod_`` and ``prod-eu_``)."""
    return f"{stage}_"


def new_worker_id(prefix: str = "") -> str:
    # Thing-name safe, unguessable, short enough to type.
    return f"{prefix}rig-{secrets.token_hex(8)}"


class EnrolmentService:
    def __init__(
        self, workers: WorkerRepository, ca: CertificateAuthority, *, worker_id_prefix: str = ""
    ) -> None:
        self._workers = workers
        self._ca = ca
        self._prefix = worker_id_prefix

    def enrol(self, owner: str, *, csr_pem: str | None, name: str, now: int) -> Enrolment:
        name = name.strip()
        if len(name) > MAX_NAME_LENGTH or not name.isprintable():
            raise InvalidInput(f"name must be at most {MAX_NAME_LENGTH} printable characters")
        worker_id = new_worker_id(self._prefix)
        private_key_pem = None
        if csr_pem is None:
            private_key_pem, csr_pem = generate_key_and_csr(worker_id)
        try:
            certificate = self._ca.issue(worker_id, csr_pem)
        except CertificateRequestInvalid as error:
            raise InvalidInput(str(error)) from None
        worker = Worker(
            worker_id=worker_id,
            owner=owner,
            name=name or worker_id,
            created_at=now,
            certificate_id=certificate.certificate_id,
        )
        try:
            self._workers.create(worker)
        except BaseException:
            # No certificate may outlive a failed enrolment.
            self._ca.revoke(worker_id, certificate.certificate_id)
            raise
        return Enrolment(worker, certificate, private_key_pem)

    def devices(self, owner: str, *, limit: int, cursor: str | None) -> Page[Worker]:
        return self._workers.list_by_owner(owner, limit=limit, cursor=cursor)

    def revoke(self, owner: str, worker_id: str, *, now: int) -> Worker:
        """Revoke the rig's certificate and close its open connection.

        Repeating it retries the CA calls and is harmless. The order matters: once the
        certificate is revoked, the rig cannot reconnect after its connection is closed.
        """
        worker = self._workers.get(worker_id)
        if worker is None or worker.owner != owner:
            raise NotFound(f"device {worker_id} not found")
        if worker.listing_id is not None and not worker.revoked:
            raise Conflict("the device is listed on the marketplace; delist it first")
        if not worker.revoked:
            worker = self._workers.revoke(worker_id, now=now)
        if worker.certificate_id is not None:
            self._ca.revoke(worker_id, worker.certificate_id)
        self._ca.disconnect(worker_id)
        return worker
