"""``xenblocks-miner enroll``: turn a rig into a platform worker with its own certificate.

The rig makes its own P-256 key and sends only a certificate request, so the private key
never leaves it. The provider proves who they are with either a session token from the
dashboard or their wallet key (Sign-In with Ethereum, done here: nonce, EIP-191 signature,
token). ``POST /api/devices`` answers with the worker id, the certificate, the CA the rig
trusts when it verifies the broker, and where the broker is; all of it is written to a
certificate bundle that ``xenblocks-miner run`` reads:

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

import argparse
import contextlib
import hashlib
import json
import os
import re
import secrets
import socket
import stat
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID
from eth_account import Account
from eth_account.messages import encode_defunct
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from protocol.errors import ProtocolError
from protocol.jsonlimits import restore_recursion_limit
from protocol.topics import validate_worker_id

restore_recursion_limit()  # eth_account's py_ecc raised it: see protocol.jsonlimits

API_URL_ENV = "XENBLOCKS_API_URL"
TOKEN_ENV = "XENBLOCKS_TOKEN"  # noqa: S105 (a variable name, not a secret)
WALLET_KEY_ENV = "XENBLOCKS_WALLET_KEY"
BUNDLE_DIR_ENV = "XENBLOCKS_MINER_DIR"
DEFAULT_BUNDLE_DIR = Path("~/.xenblocks/miner")

WORKER_FILE = "worker.json"
CERTIFICATE_FILE = "certificate.pem"
PRIVATE_KEY_FILE = "private.key"
CA_FILE = "ca.pem"
BUNDLE_FILES = (WORKER_FILE, CERTIFICATE_FILE, PRIVATE_KEY_FILE, CA_FILE)
BUNDLE_VERSION = 1
MAX_TOPIC_BYTES = 256  # AWS IoT's limit on a topic name

# The server's rule for a rig's label (functions.logic.enrolment), checked here first so a
# bad name is a usage error before anything is enrolled.
MAX_NAME_LENGTH = 64
# (connect, read) seconds: enrolment makes a certificate, which may take a few seconds.
DEFAULT_TIMEOUT = (10.0, 60.0)

EXIT_OK = 0
EXIT_FAILURE = 1  # the platform or the network failed, or refused
EXIT_USAGE = 2  # bad input: flags, files, keys, an existing bundle

_WALLET_KEY = re.compile(r"(?:0[xX])?([0-9a-fA-F]{64})")
_TEMP_PREFIX = ".tmp-"
# urllib3 starts its messages with the connection object: not useful to a rig owner.
_CONNECTION_PREFIX = re.compile(r"^(?:\w*Connection\([^)]*\)|<[^>]*>): ")


# -- errors ------------------------------------------------------------------------------


class EnrollError(Exception):
    """Enrolment (or loading a bundle) failed; ``str()`` says why and what to do."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EnrollInputError(EnrollError):
    """Bad input: a flag, a URL, a key, a file, an existing bundle (exit code 2)."""

    exit_code = EXIT_USAGE


class PlatformError(EnrollError):
    """The platform API could not be reached, refused, or answered something unexpected."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class BundleError(EnrollInputError):
    """A certificate bundle that is missing, incomplete, corrupt, unsafe, or in the way."""


# -- the rig's key -----------------------------------------------------------------------


def make_key_and_csr(name: str) -> tuple[str, str]:
    """A fresh P-256 key and a CSR for it, both PEM: ``(private_key_pem, csr_pem)``.

    The platform names the certificate after the worker id it chooses, so the CSR's common
    name is only a hint (the rig's name, or ``xenblocks-miner``).
    """
    key = ec.generate_private_key(ec.SECP256R1())
    common_name = name.strip()[:64] or "xenblocks-miner"
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


def parse_wallet_key(text: str) -> str:
    """The wallet's private key as ``0x`` + 64 lowercase hex, or EnrollInputError.

    Accepts the hex with or without ``0x`` and surrounding whitespace. No message, and no
    chained exception, ever contains the key.
    """
    match = _WALLET_KEY.fullmatch(text.strip())
    if match is None:
        raise EnrollInputError(
            "the wallet key is not a private key: expected 64 hex characters, with or without 0x"
        )
    key = "0x" + match.group(1).lower()
    try:
        Account.from_key(key)
    except Exception:
        raise EnrollInputError("the wallet key is not a valid secp256k1 private key") from None
    return key


def wallet_address(private_key_hex: str) -> str:
    """The checksum address of a wallet key (validated as ``parse_wallet_key`` does)."""
    return str(Account.from_key(parse_wallet_key(private_key_hex)).address)


def validate_name(name: str) -> str:
    """The rig's label, stripped; at most 64 printable characters (the server's rule)."""
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise EnrollInputError(f"--name must be at most {MAX_NAME_LENGTH} printable characters")
    return name


def default_name() -> str:
    """The machine's host name, cut to the name limit (no network look-up)."""
    name = socket.gethostname().strip()
    return name[:MAX_NAME_LENGTH] if name.isprintable() else ""


# -- the platform API --------------------------------------------------------------------


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class NonceAnswer(_Answer):
    nonce: str = Field(min_length=1)
    message: str = Field(min_length=1)


class _TokenAnswer(_Answer):
    token: str = Field(min_length=1)


class _MeAnswer(_Answer):
    address: str = Field(min_length=1)


class EnrolResult(_Answer):
    """What ``POST /api/devices`` answers for a CSR."""

    worker_id: str = Field(min_length=1)
    name: str = ""
    certificate_id: str = Field(min_length=1)
    certificate_pem: str = Field(min_length=1)
    ca_pem: str = Field(min_length=1)
    mqtt_host: str = Field(min_length=1)
    mqtt_port: int = Field(ge=1, le=65535)
    # uplink suffix -> topic; older servers send none (the rig then uses xenminer/{id}/...)
    publish_topics: dict[str, str] = Field(default_factory=dict)


_A = TypeVar("_A", bound=_Answer)


def normalize_api_url(url: str) -> str:
    """The API's base URL: http(s), a host, no query; a trailing ``/`` or ``/api`` dropped.

    Paths are joined as ``{base}/api/...``, so both ``https://host`` and ``https://host/api``
    work, and so does a deployment under a path prefix.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises for a bad port
    except ValueError as error:
        raise EnrollInputError(f"--api {text!r} is not a URL: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EnrollInputError(
            f"--api {text!r} is not an http(s) URL: expected e.g. https://api.example.com"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise EnrollInputError(
            f"--api {text!r}: give only the scheme, host and path (no query or credentials)"
        )
    path = parts.path.rstrip("/")
    if path.endswith("/api"):
        path = path[: -len("/api")]
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class PlatformApi:
    """The few platform API calls a rig makes to enrol, over a ``requests.Session``.

    ``session`` is injectable (tests route it into the app in-process). Every failure is a
    PlatformError whose message says what failed and, for a 4xx, the API's own message.
    """

    def __init__(
        self,
        base_url: str,
        *,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self.base_url = normalize_api_url(base_url)
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._timeout = timeout

    def close(self) -> None:
        """Close the session if this object made it (an injected one is the caller's)."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> PlatformApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sign-in

    def nonce(self, address: str) -> NonceAnswer:
        """``GET /api/auth/nonce``: a nonce and the EIP-4361 message to sign."""
        return self._call(
            "GET",
            "/api/auth/nonce",
            NonceAnswer,
            doing="asking for a sign-in message",
            params={"address": address},
        )

    def verify(self, address: str, signature: str, nonce: str) -> str:
        """``POST /api/auth/verify``: the session token for a signed message."""
        answer = self._call(
            "POST",
            "/api/auth/verify",
            _TokenAnswer,
            doing="signing in with the wallet",
            json={"address": address, "signature": signature, "nonce": nonce},
            unauthorized="the platform refused the wallet's signature",
        )
        return answer.token

    def sign_in_with_key(self, private_key_hex: str) -> str:
        """Sign-In with Ethereum with a wallet key: nonce, EIP-191 signature, token."""
        account = Account.from_key(parse_wallet_key(private_key_hex))
        address = str(account.address)
        challenge = self.nonce(address)
        _check_sign_in_message(challenge, address)
        signed = account.sign_message(encode_defunct(text=challenge.message))
        signature = "0x" + bytes(signed.signature).hex()
        return self.verify(address, signature, challenge.nonce)

    def whoami(self, token: str) -> str:
        """``GET /api/auth/me``: the address a token signs in as (checks the token)."""
        return self._call(
            "GET", "/api/auth/me", _MeAnswer, doing="checking the token", token=token
        ).address

    # -- devices

    def enrol(self, token: str, csr_pem: str, name: str) -> EnrolResult:
        """``POST /api/devices``: a worker and a certificate for the CSR's key."""
        return self._call(
            "POST",
            "/api/devices",
            EnrolResult,
            doing="enrolling the rig",
            token=token,
            json={"csr_pem": csr_pem, "name": name},
            expect=201,
        )

    def revoke(self, token: str, worker_id: str) -> None:
        """``DELETE /api/devices/{id}``: revoke a worker's certificate."""
        validate_worker_id(worker_id)
        self._send(
            "DELETE",
            f"/api/devices/{worker_id}",
            doing=f"revoking {worker_id}",
            token=token,
            expect=204,
        )

    # -- plumbing

    def _call(self, method: str, path: str, model: type[_A], *, doing: str, **kwargs: Any) -> _A:
        """Send a request and parse its JSON answer as ``model``."""
        response = self._send(method, path, doing=doing, **kwargs)
        try:
            return model.model_validate(response.json())
        except (ValueError, ValidationError):
            raise PlatformError(
                f"{doing} failed: unexpected answer from {self.base_url + path} "
                f"(HTTP {response.status_code}); is --api the platform API's URL?",
                status=response.status_code,
            ) from None

    def _send(
        self,
        method: str,
        path: str,
        *,
        doing: str,
        token: str | None = None,
        expect: int = 200,
        unauthorized: str = "the platform refused the token: it is invalid or expired "
        "(get a new one, or sign in with --wallet-key-file)",
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request; PlatformError unless it answers ``expect``."""
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = self._session.request(
                method,
                self.base_url + path,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,  # a redirected POST loses its body
                **kwargs,
            )
        except requests.Timeout:
            raise PlatformError(
                f"{doing} failed: the platform API at {self.base_url} did not answer in time"
            ) from None
        except requests.RequestException as error:
            raise PlatformError(
                f"{doing} failed: cannot reach the platform API at {self.base_url} "
                f"({_reason(error)}); check --api and the network"
            ) from None
        if response.status_code != expect:
            raise self._refusal(response, doing, unauthorized)
        return response

    def _refusal(self, response: requests.Response, doing: str, unauthorized: str) -> PlatformError:
        status = response.status_code
        code, message = _error_body(response)
        if 300 <= status < 400:
            where = response.headers.get("Location", "elsewhere")
            return PlatformError(
                f"{doing} failed: the API redirects to {where}; use that as --api",
                status=status,
            )
        if status == 401:
            detail = f" ({message})" if message else ""
            return PlatformError(f"{unauthorized}{detail}", status=status, code=code)
        if message is None:
            return PlatformError(
                f"{doing} failed: unexpected answer from {response.url or self.base_url} "
                f"(HTTP {status}); is --api the platform API's URL?",
                status=status,
            )
        kind = "the platform refused" if status < 500 else "the platform failed"
        return PlatformError(
            f"{doing} failed: {kind} (HTTP {status}, {code}): {message}",
            status=status,
            code=code,
        )


def _check_sign_in_message(challenge: NonceAnswer, address: str) -> None:
    """Sign only an EIP-4361 sign-in for this address and nonce, never arbitrary text.

    The wallet key signs what the API hands out, so a wrong or hostile ``--api`` must not
    get a signature it could replay elsewhere as anything but this sign-in.
    """
    lines = challenge.message.split("\n")
    if (
        len(lines) < 3
        or not lines[0].endswith(" wants you to sign in with your Ethereum account:")
        or lines[1] != address
        or f"Nonce: {challenge.nonce}" not in lines
    ):
        raise PlatformError(
            "signing in with the wallet failed: the API's sign-in message is not an EIP-4361 "
            f"message for {address}; not signing it (is --api the platform API's URL?)"
        )


def _error_body(response: requests.Response) -> tuple[str | None, str | None]:
    """``(code, message)`` of the API's ``{"error": {"code", "message"}}``, or Nones."""
    try:
        body = response.json()
    except ValueError:
        return None, None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return None, None
    code = error.get("code")
    return (code if isinstance(code, str) else "error"), error["message"][:500]


def _reason(error: requests.RequestException) -> str:
    """A short cause for a failed request, e.g. ``[Errno 111] Connection refused``."""
    cause: object = error
    inner = error.args[0] if error.args else None
    if isinstance(getattr(inner, "reason", None), BaseException):
        cause = inner.reason  # type: ignore[union-attr]
    text = _CONNECTION_PREFIX.sub("", str(cause)) or type(cause).__name__
    return text if len(text) <= 200 else text[:200] + "…"


# -- the certificate bundle --------------------------------------------------------------


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
        problem = _topics_problem(self.publish_topics)
        if problem is not None:
            raise BundleError(f"{directory / WORKER_FILE} is corrupt ({problem})")
        if _public_der(key.public_key()) != _public_der(certificate.public_key()):
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


def _public_der(key: Any) -> bytes:
    der: bytes = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


# -- enrolment ---------------------------------------------------------------------------


def enroll(
    api_url: str,
    *,
    token: str | None = None,
    wallet_key: str | None = None,
    name: str,
    bundle_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    session: requests.Session | None = None,
    clock: Callable[[], float] = time.time,
) -> CertificateBundle:
    """Enrol this rig and write its certificate bundle; returns the written bundle.

    Exactly one of ``token`` (a session token) or ``wallet_key`` (the provider's wallet
    private key, hex with or without 0x) signs the request. Everything that can be checked
    here is checked before the platform is asked for a certificate.
    """
    token = token.strip() if token is not None else None
    if (token is None) == (wallet_key is None) or token == "":
        raise EnrollInputError(
            "give exactly one of a token (--token, $XENBLOCKS_TOKEN) or a wallet key "
            "(--wallet-key-file, $XENBLOCKS_WALLET_KEY)"
        )
    key_hex = parse_wallet_key(wallet_key) if wallet_key is not None else None
    name = validate_name(name)
    with PlatformApi(api_url, session=session) as api:
        directory = resolve_bundle_dir(bundle_dir)
        prepare_bundle_dir(directory, force=force)  # fail before a certificate is made
        return _enroll(api, token, key_hex, name, directory, force=force, clock=clock)


def _enroll(
    api: PlatformApi,
    token: str | None,
    key_hex: str | None,
    name: str,
    directory: Path,
    *,
    force: bool,
    clock: Callable[[], float],
) -> CertificateBundle:
    """The platform half of ``enroll``: sign in, enrol, check the answer, write the bundle."""
    key_pem, csr_pem = make_key_and_csr(name)
    owner: str | None
    if key_hex is not None:
        owner = wallet_address(key_hex)
        token = api.sign_in_with_key(key_hex)
    elif token is not None:
        owner = api.whoami(token)
    else:  # enroll() checked this already
        raise EnrollInputError("no token and no wallet key")
    result = api.enrol(token, csr_pem, name)
    problem = _unusable(result, key_pem)
    if problem is not None:
        revoked = _revoke_quietly(api, token, result.worker_id)
        what = "it was revoked again" if revoked else "revoke it in the dashboard"
        raise PlatformError(f"enrolling the rig failed: {problem} ({what})")

    bundle = CertificateBundle(
        directory=directory,
        worker_id=result.worker_id,
        name=result.name or name,
        owner=owner,
        api_url=api.base_url,
        mqtt_host=result.mqtt_host,
        mqtt_port=result.mqtt_port,
        certificate_id=result.certificate_id,
        enrolled_at=int(clock()),
        certificate_pem=result.certificate_pem,
        private_key_pem=key_pem,
        ca_pem=result.ca_pem,
        publish_topics=dict(result.publish_topics),
    )
    try:
        bundle.write(force=force)
    except BundleError as error:
        revoked = _revoke_quietly(api, token, result.worker_id)
        what = "it was revoked again" if revoked else "revoke it in the dashboard"
        failed = type(error)(f"enrolled {result.worker_id} but {error} ({what})")
        failed.exit_code = error.exit_code
        raise failed from None
    return bundle


def _unusable(result: EnrolResult, key_pem: str) -> str | None:
    """Why the platform's answer cannot become a bundle, or None when it can."""
    try:
        validate_worker_id(result.worker_id)
    except ProtocolError:
        return f"the platform answered an invalid worker id {result.worker_id!r}"
    try:
        certificate = x509.load_pem_x509_certificate(result.certificate_pem.encode())
    except ValueError:
        return f"the platform's certificate for {result.worker_id} is not a PEM certificate"
    try:
        if not x509.load_pem_x509_certificates(result.ca_pem.encode()):
            raise ValueError
    except ValueError:
        return f"the platform's CA for {result.worker_id} is not a PEM certificate"
    problem = _topics_problem(result.publish_topics)
    if problem is not None:
        return f"the platform answered unusable topics for {result.worker_id}: {problem}"
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    if _public_der(certificate.public_key()) != _public_der(key.public_key()):
        return f"the platform's certificate for {result.worker_id} is not for this rig's key"
    return None


def _topics_problem(topics: Mapping[str, str]) -> str | None:
    """Why a publish-topic map is unusable (wildcards, empty or huge topics), or None."""
    for uplink, name in topics.items():
        if not name or len(name.encode()) > MAX_TOPIC_BYTES or "+" in name or "#" in name:
            return f"publish topic for {uplink!r} is not a concrete MQTT topic"
    return None


def _revoke_quietly(api: PlatformApi, token: str, worker_id: str) -> bool:
    """Undo an enrolment whose certificate cannot be used; False if that failed too."""
    try:
        api.revoke(token, worker_id)
    except (EnrollError, ProtocolError):
        return False
    return True


# -- the command line --------------------------------------------------------------------


def add_enroll_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``enroll`` subcommand's flags."""
    parser.add_argument(
        "--api",
        metavar="URL",
        help=f"the platform API, e.g. https://api.example.com (default: ${API_URL_ENV})",
    )
    credentials = parser.add_argument_group(
        "sign-in (one of)",
        f"a session token from the dashboard, or the provider wallet's private key read "
        f"from a file; or ${TOKEN_ENV} / ${WALLET_KEY_ENV}",
    )
    credentials.add_argument("--token", help=f"a session token (default: ${TOKEN_ENV})")
    credentials.add_argument(
        "--wallet-key-file",
        metavar="PATH",
        type=Path,
        help="a file holding the wallet's private key as hex (never pass a key as a flag)",
    )
    parser.add_argument(
        "--name",
        help=f"a label for the rig, at most {MAX_NAME_LENGTH} characters (default: host name)",
    )
    parser.add_argument(
        "--dir",
        metavar="PATH",
        type=Path,
        help=f"where the certificate bundle goes (default: ${BUNDLE_DIR_ENV} or "
        f"{DEFAULT_BUNDLE_DIR})",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace an existing certificate bundle"
    )


@dataclass(frozen=True)
class Credentials:
    """How to sign in: a session token, or a wallet key (hex, as given; never shown)."""

    token: str | None = None
    wallet_key: str | None = field(default=None, repr=False)


def resolve_credentials(
    args: argparse.Namespace, env: Mapping[str, str], err: IO[str]
) -> Credentials:
    """The sign-in from ``--token`` / ``--wallet-key-file``, else the environment.

    A flag wins over the environment; both flags, or both variables, are refused.
    Warnings (a wallet key file others can read) go to ``err``.
    """
    token_flag: str | None = getattr(args, "token", None)
    key_file: Path | None = getattr(args, "wallet_key_file", None)
    if token_flag is not None and key_file is not None:
        raise EnrollInputError("give --token or --wallet-key-file, not both")
    if token_flag is not None:
        if not token_flag.strip():
            raise EnrollInputError("--token is empty")
        return Credentials(token=token_flag)
    if key_file is not None:
        return Credentials(wallet_key=_read_wallet_key_file(key_file, err))
    env_token = env.get(TOKEN_ENV, "").strip()
    env_key = env.get(WALLET_KEY_ENV, "").strip()
    if env_token and env_key:
        raise EnrollInputError(
            f"both ${TOKEN_ENV} and ${WALLET_KEY_ENV} are set: unset one, or pass "
            "--token / --wallet-key-file"
        )
    if env_token:
        return Credentials(token=env_token)
    if env_key:
        return Credentials(wallet_key=env_key)
    raise EnrollInputError(
        "sign in with --token TOKEN or --wallet-key-file PATH "
        f"(or set ${TOKEN_ENV} / ${WALLET_KEY_ENV})"
    )


def _warn_if_plain_http(base_url: str, err: IO[str]) -> None:
    """Plain http is for a local stack; anywhere else the token crosses the network bare."""
    host = urlsplit(base_url).hostname or ""
    if (
        urlsplit(base_url).scheme == "http"
        and host not in ("localhost", "::1")
        and not host.startswith("127.")
    ):
        print(
            f"xenblocks-miner: warning: {base_url} is plain http: the sign-in and the "
            "session token travel unencrypted; use https outside a local network",
            file=err,
        )


def _read_wallet_key_file(path: Path, err: IO[str]) -> str:
    path = path.expanduser()
    try:
        text = path.read_text(encoding="utf-8")
        mode = stat.S_IMODE(path.stat().st_mode)
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise EnrollInputError(f"cannot read the wallet key file {path}: {reason}") from None
    if os.name == "posix" and mode & 0o077:
        print(
            f"xenblocks-miner: warning: {path} is readable by others (mode {mode:04o}); "
            f"`chmod 600 {path}`",
            file=err,
        )
    try:
        return parse_wallet_key(text)
    except EnrollInputError as error:
        raise EnrollInputError(f"{path}: {error}") from None


def run_enroll_command(
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run ``xenblocks-miner enroll``: 0 enrolled, 2 bad input, 1 platform/network failure."""
    env = os.environ if environ is None else environ
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    try:
        api_url = getattr(args, "api", None) or env.get(API_URL_ENV, "").strip()
        if not api_url:
            raise EnrollInputError(f"--api URL is required (or set ${API_URL_ENV})")
        _warn_if_plain_http(normalize_api_url(api_url), err)
        credentials = resolve_credentials(args, env, err)
        name_flag: str | None = getattr(args, "name", None)
        name = name_flag if name_flag is not None else default_name()
        directory = resolve_bundle_dir(getattr(args, "dir", None), env)
        bundle = enroll(
            api_url,
            token=credentials.token,
            wallet_key=credentials.wallet_key,
            name=name,
            bundle_dir=directory,
            force=bool(getattr(args, "force", False)),
            session=session,
        )
    except EnrollError as error:
        print(f"xenblocks-miner enroll: {error}", file=err)
        return error.exit_code
    except Exception as error:  # a bug: still one line, never a traceback
        print(f"xenblocks-miner enroll: unexpected {type(error).__name__}: {error}", file=err)
        return EXIT_FAILURE
    owner = f" for {bundle.owner}" if bundle.owner else ""
    print(f"enrolled worker {bundle.worker_id} ({bundle.name}){owner}", file=out)
    print(f"certificate bundle: {bundle.directory}", file=out)
    print(f"MQTT broker: {bundle.mqtt_host}:{bundle.mqtt_port}", file=out)
    default = resolve_bundle_dir(None, env)
    next_command = "xenblocks-miner run"
    if bundle.directory != default:
        next_command += f" --dir {bundle.directory}"
    print(f"next: {next_command}", file=out)
    return EXIT_OK


__all__ = [
    "API_URL_ENV",
    "BUNDLE_DIR_ENV",
    "DEFAULT_BUNDLE_DIR",
    "TOKEN_ENV",
    "WALLET_KEY_ENV",
    "BundleError",
    "CertificateBundle",
    "Credentials",
    "EnrolResult",
    "EnrollError",
    "EnrollInputError",
    "PlatformApi",
    "PlatformError",
    "add_enroll_arguments",
    "enroll",
    "make_key_and_csr",
    "normalize_api_url",
    "parse_wallet_key",
    "resolve_bundle_dir",
    "resolve_credentials",
    "run_enroll_command",
    "wallet_address",
]
