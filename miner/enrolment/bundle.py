"""The certificate bundle: a rig's identity on disk, what ``xenblocks-miner run`` reads.

    ~/.xenblocks/miner/          0700
        worker.json              0600  worker id, name, owner, API URL, MQTT host/port,
                                       publish topics, certificate id and SHA-256, time
        certificate.pem          0600  the rig's device certificate
        private.key              0600  its key (PKCS#8 PEM, unencrypted)
        ca.pem                   0600  what the rig trusts when it verifies the broker

``ca.pem`` is the *server's* trust anchor, not the issuer of the device certificate: on AWS
IoT Core the API answers with Amazon Root CA 1 (the ATS endpoint's root), while the device
certificate is signed by an AWS-internal CA; locally one CA signs both. So the bundle never
checks that the device certificate chains to ``ca.pem``.

Every file is written atomically (temp file, fsync, rename) and ``worker.json`` last: it is
the commit marker, and it records the certificate's SHA-256, so a crash or a concurrent
writer can never leave a bundle that loads with a mismatched certificate.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from miner.enrolment.errors import EXIT_FAILURE, BundleError
from miner.enrolment.keys import public_der
from protocol.errors import ProtocolError
from protocol.topics import validate_worker_id

BUNDLE_DIR_ENV = "XENBLOCKS_MINER_DIR"
DEFAULT_BUNDLE_DIR = Path("~/.xenblocks/miner")

WORKER_FILE = "worker.json"
CERTIFICATE_FILE = "certificate.pem"
PRIVATE_KEY_FILE = "private.key"
CA_FILE = "ca.pem"
BUNDLE_FILES = (WORKER_FILE, CERTIFICATE_FILE, PRIVATE_KEY_FILE, CA_FILE)
BUNDLE_VERSION = 1
MAX_TOPIC_BYTES = 256  # AWS IoT's limit on a topic name

_TEMP_PREFIX = ".tmp-"


class _WorkerFile(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    version: int = BUNDLE_VERSION
    worker_id: str = Field(min_length=1, max_length=128)
    name: str
    owner: str | None = None
    api_url: str
    mqtt_host: str = Field(min_length=1)
    mqtt_port: int = Field(ge=1, le=65535)
    certificate_id: str
    certificate_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    enrolled_at: int = Field(ge=0)
    publish_topics: dict[str, str] = Field(default_factory=dict)


def resolve_bundle_dir(
    directory: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """The bundle directory: ``directory``, else ``$XENBLOCKS_MINER_DIR``, else the default."""
    env = os.environ if environ is None else environ
    chosen = directory if directory is not None else env.get(BUNDLE_DIR_ENV) or DEFAULT_BUNDLE_DIR
    return Path(chosen).expanduser()


@dataclass(frozen=True)
class CertificateBundle:
    """A rig's identity on disk: what ``xenblocks-miner run`` connects with.

    ``write`` puts it in ``directory``; ``load`` reads one back and checks it. The MQTT
    client uses the paths: ``ca_path`` (trust the broker), ``certificate_path`` and
    ``private_key_path`` (the rig's identity); ``worker_id`` is its client id.
    """

    directory: Path
    worker_id: str
    name: str
    owner: str | None
    api_url: str
    mqtt_host: str
    mqtt_port: int
    certificate_id: str
    enrolled_at: int
    certificate_pem: str
    private_key_pem: str = field(repr=False)
    ca_pem: str
    # Where the rig publishes each uplink (``heartbeat`` -> ``$aws/rules/.../heartbeat`` on
    # a deployed stage); an uplink not named here goes to ``xenminer/{worker_id}/{uplink}``.
    publish_topics: dict[str, str] = field(default_factory=dict)

    # -- paths

    @property
    def worker_path(self) -> Path:
        return self.directory / WORKER_FILE

    @property
    def certificate_path(self) -> Path:
        return self.directory / CERTIFICATE_FILE

    @property
    def private_key_path(self) -> Path:
        return self.directory / PRIVATE_KEY_FILE

    @property
    def ca_path(self) -> Path:
        return self.directory / CA_FILE

    # -- checks

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.certificate_pem.encode())

    @property
    def certificate_sha256(self) -> str:
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        return hashlib.sha256(der).hexdigest()

    def validate(self) -> None:
        """Raise BundleError unless the parts parse and the key is the certificate's."""
        self._check(self.directory)

    def _check(self, directory: Path) -> None:
        try:
            validate_worker_id(self.worker_id)
        except ProtocolError as error:
            raise BundleError(f"worker id {self.worker_id!r} is invalid: {error}") from None
        certificate = _parse_certificate(self.certificate_pem, directory / CERTIFICATE_FILE)
        key = _parse_private_key(self.private_key_pem, directory / PRIVATE_KEY_FILE)
        _parse_ca(self.ca_pem, directory / CA_FILE)
        problem = topics_problem(self.publish_topics)
        if problem is not None:
            raise BundleError(f"{directory / WORKER_FILE} is corrupt ({problem})")
        if public_der(key.public_key()) != public_der(certificate.public_key()):
            raise BundleError(
                f"the private key in {directory / PRIVATE_KEY_FILE} does not match the "
                f"certificate in {directory / CERTIFICATE_FILE}: run `xenblocks-miner enroll "
                "--force` to enrol this rig again"
            )

    # -- disk

    @staticmethod
    def exists(directory: str | os.PathLike[str]) -> bool:
        """Whether ``directory`` holds a bundle, or any part of one."""
        path = Path(directory).expanduser()
        return any((path / name).exists() or (path / name).is_symlink() for name in BUNDLE_FILES)

    def write(self, *, force: bool = False) -> None:
        """Write the bundle to ``directory`` (0700; files 0600), each file atomically.

        Refuses to replace an existing bundle unless ``force``, and refuses a directory
        that holds anything else (so ``--dir ~`` cannot scatter keys in a home folder).
        ``worker.json`` goes last and is removed first on ``force``: until it is in place
        the directory does not load as a bundle.
        """
        self._check(self.directory)
        directory = self.directory
        prepare_bundle_dir(directory, force=force)
        record = _WorkerFile(
            worker_id=self.worker_id,
            name=self.name,
            owner=self.owner,
            api_url=self.api_url,
            mqtt_host=self.mqtt_host,
            mqtt_port=self.mqtt_port,
            certificate_id=self.certificate_id,
            certificate_sha256=self.certificate_sha256,
            enrolled_at=self.enrolled_at,
            publish_topics=dict(self.publish_topics),
        )
        try:
            with contextlib.suppress(FileNotFoundError):
                (directory / WORKER_FILE).unlink()  # un-commit the old bundle first
            _write_atomic(directory / PRIVATE_KEY_FILE, self.private_key_pem.encode())
            _write_atomic(directory / CERTIFICATE_FILE, self.certificate_pem.encode())
            _write_atomic(directory / CA_FILE, self.ca_pem.encode())
            worker_json = json.dumps(record.model_dump(), indent=2) + "\n"
            _write_atomic(directory / WORKER_FILE, worker_json.encode())
            _fsync_dir(directory)
        except OSError as error:
            failed = BundleError(f"cannot write the certificate bundle in {directory}: {error}")
            failed.exit_code = EXIT_FAILURE
            raise failed from None

    @classmethod
    def load(cls, directory: str | os.PathLike[str] | None = None) -> CertificateBundle:
        """Read and check the bundle in ``directory`` (default: as ``resolve_bundle_dir``).

        BundleError when it is missing or incomplete, a file is unreadable or corrupt, the
        private key is readable by group or others (refused, as ssh does), or the key is
        not the certificate's.
        """
        path = resolve_bundle_dir(directory)
        if not path.is_dir() or not cls.exists(path):
            raise BundleError(f"no certificate in {path}: run `xenblocks-miner enroll` first")
        worker_path = path / WORKER_FILE
        if not worker_path.exists():
            raise BundleError(
                f"the certificate bundle in {path} is incomplete ({WORKER_FILE} is missing; "
                "an enrolment was interrupted?): run `xenblocks-miner enroll --force`"
            )
        for name in BUNDLE_FILES:
            if not (path / name).is_file():
                raise BundleError(
                    f"{path / name} is missing: the certificate bundle is incomplete; "
                    "run `xenblocks-miner enroll --force`"
                )
        _check_key_permissions(path / PRIVATE_KEY_FILE)
        raw = _read_text(worker_path)
        try:
            record = _WorkerFile.model_validate_json(raw)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            detail = f"{where}: {first['msg']}" if where else first["msg"]
            raise BundleError(f"{worker_path} is corrupt ({detail})") from None
        bundle = cls(
            directory=path,
            worker_id=record.worker_id,
            name=record.name,
            owner=record.owner,
            api_url=record.api_url,
            mqtt_host=record.mqtt_host,
            mqtt_port=record.mqtt_port,
            certificate_id=record.certificate_id,
            enrolled_at=record.enrolled_at,
            certificate_pem=_read_text(path / CERTIFICATE_FILE),
            private_key_pem=_read_text(path / PRIVATE_KEY_FILE),
            ca_pem=_read_text(path / CA_FILE),
            publish_topics=dict(record.publish_topics),
        )
        bundle._check(path)
        if bundle.certificate_sha256 != record.certificate_sha256:
            raise BundleError(
                f"{path / CERTIFICATE_FILE} is not the certificate {WORKER_FILE} was enrolled "
                "with: run `xenblocks-miner enroll --force`"
            )
        return bundle


def prepare_bundle_dir(directory: Path, *, force: bool) -> None:
    """Make ``directory`` ready for a bundle (0700), or BundleError saying why not."""
    if directory.exists() and not directory.is_dir():
        raise BundleError(f"{directory} exists and is not a directory")
    existing = CertificateBundle.exists(directory)
    if existing and not force:
        raise BundleError(
            f"a certificate bundle already exists in {directory}: pass --force to replace "
            "it (the rig gets a new worker id; revoke the old one in the dashboard), or "
            "choose another --dir"
        )
    if directory.is_dir() and not existing:  # a bundle's directory may hold the miner's state
        others = sorted(
            entry.name
            for entry in directory.iterdir()
            if entry.name not in BUNDLE_FILES and not entry.name.startswith(_TEMP_PREFIX)
        )
        if others:
            raise BundleError(
                f"{directory} holds other files ({', '.join(others[:3])}): a certificate "
                "bundle needs a directory of its own; choose an empty or new --dir"
            )
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(PermissionError):  # not ours: every file is 0600 anyway
            directory.chmod(0o700)
        for stale in directory.glob(_TEMP_PREFIX + "*"):
            stale.unlink(missing_ok=True)
    except OSError as error:
        failed = BundleError(f"cannot create the certificate bundle directory {directory}: {error}")
        failed.exit_code = EXIT_FAILURE
        raise failed from None


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a 0600 temp file beside ``path``, fsync, rename over ``path``."""
    temp = path.with_name(f"{_TEMP_PREFIX}{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BundleError(f"cannot read {path}: {error}") from None


def _check_key_permissions(path: Path) -> None:
    if os.name != "posix":
        return
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as error:
        raise BundleError(f"cannot read {path}: {error}") from None
    if mode & 0o077:
        raise BundleError(
            f"permissions {mode:04o} on {path} are too open: the private key must be "
            f"readable by its owner only; run `chmod 600 {path}`"
        )


def _parse_certificate(pem: str, path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise BundleError(f"{path} is corrupt: not a PEM certificate") from None


def _parse_private_key(pem: str, path: Path) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(pem.encode(), password=None)
    except TypeError:
        raise BundleError(f"{path} is encrypted: the miner needs it unencrypted") from None
    except (ValueError, UnsupportedAlgorithm):
        raise BundleError(f"{path} is corrupt: not a PEM private key") from None


def _parse_ca(pem: str, path: Path) -> list[x509.Certificate]:
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        certificates = []
    if not certificates:
        raise BundleError(f"{path} is corrupt: not a PEM CA certificate")
    return certificates


def topics_problem(topics: Mapping[str, str]) -> str | None:
    """Why a publish-topic map is unusable (wildcards, empty or huge topics), or None."""
    for uplink, name in topics.items():
        if not name or len(name.encode()) > MAX_TOPIC_BYTES or "+" in name or "#" in name:
            return f"publish topic for {uplink!r} is not a concrete MQTT topic"
    return None
