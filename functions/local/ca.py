"""The local ``CertificateAuthority``: a CA on disk that the local brokers trust.

The directory holds the CA key (mode 0600) and certificate, an index of every certificate
issued (so a revocation can find the serial) and a CRL that the brokers check. Several
processes may share a directory (``xenblocks local`` and a CLI): writes take a file lock
and readers notice when another process changed the index.

A rig's identity is its certificate's common name, always the worker id the platform chose,
never the CSR's subject. ``SERVICE_IDENTITY`` is the platform itself: the brokers let it use
every topic, so no rig may be issued that name.

A broker started with this CA registers itself (``on_disconnect``), so ``disconnect`` closes
a revoked rig's open connections on every broker serving the CA in this process.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import ipaddress
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from functions.errors import NotFound
from functions.ports.certificates import IssuedCertificate
from functions.ports.csr import generate_key_and_csr, load_csr
from protocol.topics import validate_worker_id

SERVICE_IDENTITY = "xenblocks-service"
CLIENT_VALIDITY = dt.timedelta(days=365)
CA_VALIDITY = dt.timedelta(days=3650)
# The CRL is re-signed on load when it has less than this left, so brokers never see it expire.
CRL_VALIDITY = dt.timedelta(days=365)
CRL_REFRESH = dt.timedelta(days=30)
# Tolerates a rig whose clock is a little behind.
BACKDATE = dt.timedelta(minutes=5)
SERVER_NAME = "xenblocks-local-broker"

_CA_KEY = "ca.key"
_CA_CERT = "ca.pem"
_CRL = "crl.pem"
_INDEX = "issued.json"
_LOCK = ".lock"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    """Atomic replace, so a broker or another process never reads half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def certificate_id(cert: x509.Certificate) -> str:
    """The local certificate id: SHA-256 of the DER, hex."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def common_name(cert: x509.Certificate) -> str | None:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        return None
    value = names[0].value
    return value if isinstance(value, str) else value.decode()


class LocalCertificateAuthority:
    """Implements ``CertificateAuthority`` with a CA kept in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._thread_lock = threading.RLock()
        self._index: dict[str, dict[str, Any]] = {}
        self._index_stamp: tuple[int, int] | None = None
        self._disconnectors: list[Callable[[str], None]] = []
        with self._locked():
            self._key, self._cert = self._load_or_create()
            self._load_index()
            self._refresh_crl()

    # -- what brokers and clients read ------------------------------------------------

    @property
    def ca_path(self) -> Path:
        return self.directory / _CA_CERT

    @property
    def crl_path(self) -> Path:
        return self.directory / _CRL

    @property
    def ca_pem(self) -> str:
        return _pem(self._cert).decode()

    @property
    def certificate(self) -> x509.Certificate:
        return self._cert

    def is_revoked(self, cert: x509.Certificate) -> bool:
        """Whether ``cert`` was revoked, by this or any other process sharing the directory."""
        with self._thread_lock:
            self._load_index()
            entry = self._index.get(certificate_id(cert))
            return bool(entry and entry.get("revoked_at"))

    def revocations(self) -> dict[str, str]:
        """Every revoked certificate, by this or another process: {certificate id: worker}.

        Read under the CA's lock: the CRL on disk holds every revocation returned.
        """
        with self._locked():
            self._load_index()
            return {
                cert_id: entry["worker_id"]
                for cert_id, entry in self._index.items()
                if entry.get("revoked_at")
            }

    # -- the port ----------------------------------------------------------------------

    def issue(self, worker_id: str, csr_pem: str) -> IssuedCertificate:
        """A client certificate for ``worker_id`` over the CSR's key.

        Raises CertificateRequestInvalid for a bad CSR, and ProtocolError (a ValueError) for
        an invalid worker id or the reserved service identity.
        """
        validate_worker_id(worker_id)
        if worker_id == SERVICE_IDENTITY:
            raise ValueError(f"{SERVICE_IDENTITY!r} is reserved for the platform")
        return self._issue(worker_id, csr_pem)

    def revoke(self, worker_id: str, certificate_id: str) -> None:
        """Record the revocation and re-sign the CRL; a second call changes nothing.

        Raises NotFound when this CA never issued that certificate to ``worker_id``.
        """
        with self._locked():
            self._load_index()
            entry = self._index.get(certificate_id)
            if entry is None or entry["worker_id"] != worker_id:
                raise NotFound(f"no certificate {certificate_id} for worker {worker_id}")
            if entry.get("revoked_at"):
                return
            entry["revoked_at"] = _now().isoformat()
            self._save_index()
            self._write_crl()

    def disconnect(self, worker_id: str) -> None:
        """Close the worker's open connections on every broker serving this CA here.

        Each broker first takes the new revocations, so the rig cannot come back. A broker
        that fails raises (BrokerError); the revocation itself stands.
        """
        with self._thread_lock:
            disconnectors = list(self._disconnectors)
        for disconnect in disconnectors:
            disconnect(worker_id)

    def on_disconnect(self, disconnect: Callable[[str], None]) -> Callable[[], None]:
        """Have ``disconnect(worker_id)`` called by ``disconnect``; returns the undo."""
        with self._thread_lock:
            self._disconnectors.append(disconnect)

        def remove() -> None:
            with self._thread_lock, contextlib.suppress(ValueError):
                self._disconnectors.remove(disconnect)

        return remove

    # -- identities for the platform, the broker and tests ----------------------------

    def issue_identity(self, name: str, directory: Path) -> tuple[Path, Path]:
        """A fresh key and certificate for ``name`` written to ``directory``.

        For the platform's ``SERVICE_IDENTITY`` and for test or CLI clients:
        (certificate_path, key_path), the key file mode 0600.
        """
        validate_worker_id(name)
        key_pem, csr_pem = generate_key_and_csr(name)
        issued = self._issue(name, csr_pem)
        directory.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
        _write(key_path, key_pem.encode(), private=True)
        _write(cert_path, issued.certificate_pem.encode())
        return cert_path, key_path

    def server_certificate(
        self, hosts: Sequence[str] = (), *, directory: Path | None = None
    ) -> tuple[Path, Path]:
        """The broker's TLS server certificate for localhost, 127.0.0.1 and ``hosts``.

        Written to ``directory`` (default: the CA's) as (certificate_path, key_path). It
        carries serverAuth only, so the brokers refuse it as a client certificate.
        """
        names: list[x509.GeneralName] = []
        for host in dict.fromkeys(("localhost", "127.0.0.1", "::1", *hosts)):
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_NAME)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + CLIENT_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(_authority_key_id(self._cert), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        directory = directory or self.directory
        directory.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = directory / "server.pem", directory / "server.key"
        with self._locked():
            _write(key_path, _private_pem(key), private=True)
            _write(cert_path, _pem(cert))
        return cert_path, key_path

    # -- internals ---------------------------------------------------------------------

    def _issue(self, name: str, csr_pem: str) -> IssuedCertificate:
        csr = load_csr(csr_pem)
        public_key = csr.public_key()
        assert isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)  # load_csr
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self._cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + CLIENT_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                _key_usage(encipherment=isinstance(public_key, rsa.RSAPublicKey)), critical=True
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(_authority_key_id(self._cert), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        cert_id = certificate_id(cert)
        with self._locked():
            self._load_index()
            self._index[cert_id] = {
                "worker_id": name,
                "serial": format(cert.serial_number, "x"),
                "not_after": cert.not_valid_after_utc.isoformat(),
                "issued_at": now.isoformat(),
                "revoked_at": None,
            }
            self._save_index()
        return IssuedCertificate(
            certificate_id=cert_id, certificate_pem=_pem(cert).decode(), ca_pem=self.ca_pem
        )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time, across threads and processes."""
        with self._thread_lock, (self.directory / _LOCK).open("a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _load_or_create(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key_path, cert_path = self.directory / _CA_KEY, self.directory / _CA_CERT
        if key_path.exists() and cert_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{key_path} is not an EC key")
            return key, x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "XenBlocks local"),
                x509.NameAttribute(NameOID.COMMON_NAME, "XenBlocks local CA"),
            ]
        )
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        _write(key_path, _private_pem(key), private=True)
        _write(cert_path, _pem(cert))
        return key, cert

    def _load_index(self) -> None:
        path = self.directory / _INDEX
        try:
            stat = path.stat()
        except FileNotFoundError:
            self._index, self._index_stamp = {}, None
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._index_stamp:
            self._index = json.loads(path.read_text())
            self._index_stamp = stamp

    def _save_index(self) -> None:
        path = self.directory / _INDEX
        _write(path, (json.dumps(self._index, indent=2, sort_keys=True) + "\n").encode())
        stat = path.stat()
        self._index_stamp = (stat.st_mtime_ns, stat.st_size)

    def _refresh_crl(self) -> None:
        try:
            crl = x509.load_pem_x509_crl(self.crl_path.read_bytes())
        except (FileNotFoundError, ValueError):
            self._write_crl()
            return
        next_update = crl.next_update_utc
        if next_update is None or next_update - _now() < CRL_REFRESH:
            self._write_crl()

    def _write_crl(self) -> None:
        now = _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self._cert.subject)
            .last_update(now - BACKDATE)
            .next_update(now + CRL_VALIDITY)
            .add_extension(_authority_key_id(self._cert), critical=False)
        )
        for entry in self._index.values():
            if entry.get("revoked_at"):
                revoked = (
                    x509.RevokedCertificateBuilder()
                    .serial_number(int(entry["serial"], 16))
                    .revocation_date(dt.datetime.fromisoformat(entry["revoked_at"]))
                    .build()
                )
                builder = builder.add_revoked_certificate(revoked)
        crl = builder.sign(self._key, hashes.SHA256())
        _write(self.crl_path, crl.public_bytes(serialization.Encoding.PEM))


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _authority_key_id(ca: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _key_usage(*, encipherment: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
