"""``xenblocks-miner enroll``: key and CSR on the rig, sign-in, enrolment, the bundle, the CLI.

No sockets: the miner's ``requests.Session`` is routed into the real FastAPI app (moto
tables, the local CA) through a transport adapter that forwards to starlette's TestClient.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from functions.api.context import ApiContext
from functions.dal.workers import WorkerRepository
from functions.local.ca import LocalCertificateAuthority
from functions.ports.csr import load_csr
from functions.ports.devices import RecordingPublisher
from miner import enroll as enroll_module
from miner.enroll import (
    BundleError,
    CertificateBundle,
    EnrollError,
    EnrollInputError,
    PlatformApi,
    PlatformError,
    add_enroll_arguments,
    enroll,
    make_key_and_csr,
    normalize_api_url,
    parse_wallet_key,
    run_enroll_command,
)
from tests.api_client import api_settings, client_for, token_for
from tests.factories import NOW, PROVIDER
from tests.wallet import Wallet

API = "https://platform.test"

Rewrite = Callable[[str, str, Any], Any]


def _response(request: requests.PreparedRequest, status: int, content: bytes, headers: Any) -> Any:
    response = requests.Response()
    response.status_code = status
    response._content = content
    response.headers = CaseInsensitiveDict(headers)
    response.url = request.url or ""
    response.request = request
    response.encoding = "utf-8"
    return response


class AppTransport(BaseAdapter):
    """A requests transport that hands every request to the app in-process.

    ``rewrite(method, path, body)`` may change a JSON answer (a hostile or broken API).
    """

    def __init__(self, client: Any, rewrite: Rewrite | None = None) -> None:
        super().__init__()
        self.client = client
        self.rewrite = rewrite
        self.sent: list[tuple[str, str]] = []

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):  # type: ignore[no-untyped-def]
        parts = urlsplit(request.url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        self.sent.append((request.method, parts.path))
        answer = self.client.request(
            request.method, target, content=request.body, headers=dict(request.headers)
        )
        content = answer.content
        if self.rewrite is not None and content:
            body = self.rewrite(request.method, parts.path, answer.json())
            content = json.dumps(body).encode()
        headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
        return _response(request, answer.status_code, content, headers)

    def close(self) -> None:
        pass


class Canned(BaseAdapter):
    """A transport that answers every request the same way, or raises."""

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        raises: Exception | None = None,
    ) -> None:
        super().__init__()
        self.status, self.body, self.headers, self.raises = status, body, headers or {}, raises
        self.sent: list[str] = []

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):  # type: ignore[no-untyped-def]
        self.sent.append(request.url)
        if self.raises is not None:
            raise self.raises
        return _response(request, self.status, self.body, self.headers)

    def close(self) -> None:
        pass


def session_with(adapter: BaseAdapter) -> requests.Session:
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


@pytest.fixture
def ca(tmp_path):
    return LocalCertificateAuthority(tmp_path / "ca")


@pytest.fixture
def client(settings, tables, ca):
    context = ApiContext(
        settings=api_settings(settings),
        tables=tables,
        ca=ca,
        publisher=RecordingPublisher(),
        clock=lambda: NOW,
    )
    return client_for(context)


@pytest.fixture
def transport(client):
    return AppTransport(client)


@pytest.fixture
def session(transport):
    return session_with(transport)


@pytest.fixture
def wallet():
    return Wallet.numbered(7)


@pytest.fixture
def wallet_hex(wallet):
    return bytes(wallet.account.key).hex()  # no 0x: the form a key file often has


@pytest.fixture
def key_file(tmp_path, wallet_hex):
    path = tmp_path / "wallet.key"
    path.write_text(wallet_hex + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def bundle_dir(tmp_path):
    return tmp_path / "home" / ".xenblocks" / "miner"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="xenblocks-miner enroll")
    add_enroll_arguments(parser)
    return parser.parse_args(list(argv))


def run_cli(
    *argv: str, session: requests.Session | None = None, environ: dict[str, str] | None = None
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_enroll_command(
        parse(*argv),
        environ=environ if environ is not None else {},
        session=session if session is not None else session_with(Canned(raises=AssertionError())),
        stdout=out,
        stderr=err,
    )
    return code, out.getvalue(), err.getvalue()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- the rig's key ------------------------------------------------------------------------


def test_the_rig_makes_a_p256_key_and_a_csr_the_server_accepts():
    key_pem, csr_pem = make_key_and_csr("garage rig")
    key = serialization.load_pem_private_key(key_pem.encode(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)
    csr = load_csr(csr_pem)  # the server's own checks
    assert csr.public_key() == key.public_key()
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "garage rig"
    _, unnamed = make_key_and_csr("  ")
    assert load_csr(unnamed).subject.rfc4514_string() == "CN=xenblocks-miner"


def test_the_miner_does_not_import_the_platform_package():
    code = (
        "import sys, miner.enroll; "
        "bad = sorted(m for m in sys.modules if m == 'functions' or m.startswith('functions.')); "
        "assert not bad, bad"
    )
    subprocess.run(  # noqa: S603 (this interpreter, a fixed snippet)
        [sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[3]
    )


@pytest.mark.parametrize(
    "text",
    ["ab" * 32, "0x" + "ab" * 32, "0X" + "AB" * 32, "  0x" + "ab" * 32 + "\n"],
)
def test_wallet_keys_are_hex_with_or_without_0x(text):
    assert parse_wallet_key(text) == "0x" + "ab" * 32


@pytest.mark.parametrize(
    "text", ["", "ab" * 31, "ab" * 33, "zz" * 32, "0x" + "00" * 32, "0x" + "ff" * 32]
)
def test_a_bad_wallet_key_is_refused_without_echoing_it(text):
    with pytest.raises(EnrollInputError) as caught:
        parse_wallet_key(text)
    assert text.strip() == "" or text not in str(caught.value)
    # Nothing that might hold the key is chained to the error.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("https://platform.test", "https://platform.test"),
        ("https://platform.test/", "https://platform.test"),
        ("https://platform.test/api/", "https://platform.test"),
        ("http://localhost:8000", "http://localhost:8000"),
        (" https://cdn.test/prod ", "https://cdn.test/prod"),
    ],
)
def test_api_urls_are_normalized(url, base):
    assert normalize_api_url(url) == base


@pytest.mark.parametrize(
    "url",
    [
        "platform.test",
        "ftp://platform.test",
        "https://",
        "https://h/?q=1",
        "https://u:p@h",
        "http://h:x",
    ],
)
def test_bad_api_urls_are_refused(url):
    with pytest.raises(EnrollInputError, match="--api"):
        normalize_api_url(url)


# -- enrolment end to end -----------------------------------------------------------------


def test_enrol_with_a_wallet_key_file_writes_a_private_bundle_that_loads(
    session, transport, tables, ca, wallet, wallet_hex, key_file, bundle_dir
):
    code, out, err = run_cli(
        "--api",
        API,
        "--wallet-key-file",
        str(key_file),
        "--name",
        "garage rig",
        "--dir",
        str(bundle_dir),
        session=session,
    )

    assert (code, err) == (0, "")
    assert [path for _, path in transport.sent] == [
        "/api/auth/nonce",
        "/api/auth/verify",
        "/api/devices",
    ]
    bundle = CertificateBundle.load(bundle_dir)
    assert f"enrolled worker {bundle.worker_id} (garage rig) for {wallet.address}" in out
    assert f"certificate bundle: {bundle_dir}" in out
    assert f"next: xenblocks-miner run --dir {bundle_dir}" in out
    assert wallet_hex not in out + err
    # Private: the directory 0700, every file 0600.
    assert mode(bundle_dir) == 0o700
    assert sorted(p.name for p in bundle_dir.iterdir()) == sorted(
        ["worker.json", "certificate.pem", "private.key", "ca.pem"]
    )
    for path in bundle_dir.iterdir():
        assert mode(path) == 0o600, path
    # The platform knows the worker as the wallet's, and the certificate is for the rig's key.
    worker = WorkerRepository(tables).require(bundle.worker_id)
    assert (worker.owner, worker.name) == (wallet.address, "garage rig")
    assert worker.certificate_id == bundle.certificate_id
    cert = bundle.certificate
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == bundle.worker_id
    key = serialization.load_pem_private_key(bundle.private_key_path.read_bytes(), None)
    assert cert.public_key() == key.public_key()
    assert bundle.ca_pem == ca.ca_pem
    assert (bundle.owner, bundle.name, bundle.api_url) == (wallet.address, "garage rig", API)
    assert (bundle.mqtt_host, bundle.mqtt_port) == ("localhost", 8883)
    # Deployed stages publish heartbeats through Basic Ingest; the bundle keeps the map.
    assert bundle.publish_topics["heartbeat"] == (
        f"$aws/rules/xenblocks_test_heartbeat/xenminer/{bundle.worker_id}/heartbeat"
    )
    assert bundle.publish_topics["block"] == f"xenminer/{bundle.worker_id}/block"
    record = json.loads(bundle.worker_path.read_text())
    assert record["worker_id"] == bundle.worker_id
    assert "PRIVATE KEY" not in bundle.worker_path.read_text()
    assert "PRIVATE KEY" not in repr(bundle)


def test_files_are_0600_whatever_the_umask(session, wallet_hex, bundle_dir):
    old = os.umask(0)
    try:
        enroll(API, wallet_key=wallet_hex, name="r", bundle_dir=bundle_dir, session=session)
    finally:
        os.umask(old)
    assert {mode(p) for p in bundle_dir.iterdir()} == {0o600}
    assert mode(bundle_dir) == 0o700


def test_enrol_with_a_token(session, transport, tables, bundle_dir):
    bundle = enroll(
        API + "/api",
        token=token_for(PROVIDER),
        name="rig 2",
        bundle_dir=bundle_dir,
        session=session,
        clock=lambda: 1_700_000_000,
    )

    assert [path for _, path in transport.sent] == ["/api/auth/me", "/api/devices"]
    assert bundle.owner == PROVIDER
    assert bundle.enrolled_at == 1_700_000_000
    assert bundle.api_url == API
    assert WorkerRepository(tables).require(bundle.worker_id).owner == PROVIDER
    assert CertificateBundle.load(bundle_dir) == bundle


def test_the_cli_reads_the_api_url_token_and_directory_from_the_environment(session, bundle_dir):
    environ = {
        "XENBLOCKS_API_URL": API,
        "XENBLOCKS_TOKEN": token_for(PROVIDER),
        "XENBLOCKS_MINER_DIR": str(bundle_dir),
    }
    code, out, err = run_cli(session=session, environ=environ)

    assert (code, err) == (0, "")
    assert out.rstrip().endswith("next: xenblocks-miner run")
    assert CertificateBundle.load(bundle_dir).owner == PROVIDER


def test_the_cli_reads_the_wallet_key_from_the_environment(session, wallet, wallet_hex, bundle_dir):
    environ = {"XENBLOCKS_WALLET_KEY": "0x" + wallet_hex}
    code, _, err = run_cli("--api", API, "--dir", str(bundle_dir), session=session, environ=environ)

    assert (code, err) == (0, "")
    assert CertificateBundle.load(bundle_dir).owner == wallet.address


def test_a_flag_wins_over_the_environment(session, bundle_dir, key_file, wallet):
    environ = {"XENBLOCKS_TOKEN": "stale", "XENBLOCKS_WALLET_KEY": "also set"}
    code, _, err = run_cli(
        "--api", API, "--wallet-key-file", str(key_file), "--dir", str(bundle_dir),
        session=session, environ=environ,
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert CertificateBundle.load(bundle_dir).owner == wallet.address


def test_an_open_wallet_key_file_is_warned_about(session, key_file, bundle_dir):
    key_file.chmod(0o644)
    code, _, err = run_cli(
        "--api", API, "--wallet-key-file", str(key_file), "--dir", str(bundle_dir), session=session
    )
    assert code == 0
    assert f"warning: {key_file} is readable by others" in err
    assert f"chmod 600 {key_file}" in err


# -- an existing bundle -------------------------------------------------------------------


def test_an_existing_bundle_is_not_overwritten_without_force(session, tables, bundle_dir):
    first = enroll(API, token=token_for(PROVIDER), name="a", bundle_dir=bundle_dir, session=session)
    before = {p.name: p.read_bytes() for p in bundle_dir.iterdir()}

    with pytest.raises(BundleError) as caught:
        enroll(API, token=token_for(PROVIDER), name="b", bundle_dir=bundle_dir, session=session)
    assert str(bundle_dir) in str(caught.value)
    assert "--force" in str(caught.value)
    assert {p.name: p.read_bytes() for p in bundle_dir.iterdir()} == before
    # Refused before the platform was asked: still one worker.
    assert len(WorkerRepository(tables).list_by_owner(PROVIDER, limit=10).items) == 1

    code, _, err = run_cli(
        "--api", API, "--token", token_for(PROVIDER), "--dir", str(bundle_dir), session=session
    )
    assert code == 2
    assert "already exists" in err
    assert "--force" in err

    (bundle_dir / "outbox.sqlite3").write_bytes(b"the miner's own state")  # `run` keeps it here
    second = enroll(
        API, token=token_for(PROVIDER), name="b", bundle_dir=bundle_dir, force=True, session=session
    )
    assert second.worker_id != first.worker_id
    assert CertificateBundle.load(bundle_dir).worker_id == second.worker_id


def test_a_directory_holding_other_files_is_refused(session, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(BundleError, match="other files"):
        enroll(API, token=token_for(PROVIDER), name="a", bundle_dir=tmp_path, session=session)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca", "notes.txt"]


def test_a_bundle_that_cannot_be_written_is_revoked(session, tables, bundle_dir, monkeypatch):
    real = enroll_module._write_atomic

    def failing(path: Path, data: bytes) -> None:
        if path.name == "ca.pem":
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(enroll_module, "_write_atomic", failing)
    with pytest.raises(BundleError) as caught:
        enroll(API, token=token_for(PROVIDER), name="a", bundle_dir=bundle_dir, session=session)

    assert caught.value.exit_code == 1
    assert "No space left on device" in str(caught.value)
    assert "revoked" in str(caught.value)
    (worker,) = WorkerRepository(tables).list_by_owner(PROVIDER, limit=10).items
    assert worker.revoked
    with pytest.raises(BundleError, match="incomplete"):
        CertificateBundle.load(bundle_dir)


def test_a_certificate_for_another_key_is_refused_and_revoked(client, tables, bundle_dir):
    _, other_csr = make_key_and_csr("other")
    stranger = LocalCertificateAuthority(bundle_dir.parent / "other-ca").issue("w-x", other_csr)

    def swap(method: str, path: str, body: Any) -> Any:
        if path == "/api/devices" and method == "POST":
            body["certificate_pem"] = stranger.certificate_pem
        return body

    session = session_with(AppTransport(client, rewrite=swap))
    with pytest.raises(PlatformError, match="not for this rig's key"):
        enroll(API, token=token_for(PROVIDER), name="a", bundle_dir=bundle_dir, session=session)
    (worker,) = WorkerRepository(tables).list_by_owner(PROVIDER, limit=10).items
    assert worker.revoked
    assert not CertificateBundle.exists(bundle_dir)


def test_an_older_server_without_publish_topics_still_enrols(client, bundle_dir):
    def drop(method: str, path: str, body: Any) -> Any:
        if path == "/api/devices":
            del body["publish_topics"]
        return body

    session = session_with(AppTransport(client, rewrite=drop))
    bundle = enroll(
        API, token=token_for(PROVIDER), name="a", bundle_dir=bundle_dir, session=session
    )
    assert bundle.publish_topics == {}
    assert CertificateBundle.load(bundle_dir).publish_topics == {}


def test_wildcard_publish_topics_are_refused_and_revoked(client, tables, bundle_dir):
    def wildcard(method: str, path: str, body: Any) -> Any:
        if path == "/api/devices":
            body["publish_topics"]["heartbeat"] = "xenminer/#"
        return body

    session = session_with(AppTransport(client, rewrite=wildcard))
    with pytest.raises(PlatformError, match="not a concrete MQTT topic"):
        enroll(API, token=token_for(PROVIDER), name="a", bundle_dir=bundle_dir, session=session)
    (worker,) = WorkerRepository(tables).list_by_owner(PROVIDER, limit=10).items
    assert worker.revoked


# -- loading a bundle ---------------------------------------------------------------------


@pytest.fixture
def written(session, bundle_dir):
    return enroll(API, token=token_for(PROVIDER), name="a", bundle_dir=bundle_dir, session=session)


def test_loading_a_missing_bundle_says_to_enrol_first(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(BundleError) as caught:
        CertificateBundle.load(missing)
    assert str(caught.value) == f"no certificate in {missing}: run `xenblocks-miner enroll` first"
    missing.mkdir()
    with pytest.raises(BundleError, match="no certificate in"):
        CertificateBundle.load(missing)


def test_the_default_directory_comes_from_the_environment(written, monkeypatch):
    monkeypatch.setenv("XENBLOCKS_MINER_DIR", str(written.directory))
    assert CertificateBundle.load().worker_id == written.worker_id


@pytest.mark.parametrize("permissions", [0o640, 0o604, 0o644])
def test_a_private_key_others_can_read_is_refused(written, permissions):
    written.private_key_path.chmod(permissions)
    with pytest.raises(BundleError) as caught:
        CertificateBundle.load(written.directory)
    assert f"permissions {permissions:04o} on {written.private_key_path} are too open" in str(
        caught.value
    )
    assert f"chmod 600 {written.private_key_path}" in str(caught.value)
    written.private_key_path.chmod(0o400)
    assert CertificateBundle.load(written.directory) == written


def test_a_key_that_does_not_match_the_certificate_is_refused(written):
    other, _ = make_key_and_csr("other")
    written.private_key_path.write_text(other)
    with pytest.raises(BundleError, match="does not match the certificate"):
        CertificateBundle.load(written.directory)


def test_a_certificate_from_another_enrolment_is_refused(written, session, tmp_path):
    other = enroll(
        API, token=token_for(PROVIDER), name="b", bundle_dir=tmp_path / "b", session=session
    )
    for name in ("certificate.pem", "private.key"):
        (written.directory / name).write_bytes((other.directory / name).read_bytes())
    with pytest.raises(BundleError, match=r"not the certificate worker\.json was enrolled with"):
        CertificateBundle.load(written.directory)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("worker.json", "{not json", "worker.json is corrupt"),
        ("worker.json", '{"worker_id": "w"}', "worker.json is corrupt"),
        ("certificate.pem", "garbage", "certificate.pem is corrupt"),
        ("private.key", "garbage", "private.key is corrupt"),
        ("ca.pem", "", "ca.pem is corrupt"),
    ],
)
def test_corrupt_files_are_named(written, name, content, message):
    (written.directory / name).write_text(content)
    with pytest.raises(BundleError, match=message):
        CertificateBundle.load(written.directory)


@pytest.mark.parametrize("name", ["certificate.pem", "private.key", "ca.pem"])
def test_a_missing_file_is_named(written, name):
    (written.directory / name).unlink()
    with pytest.raises(BundleError) as caught:
        CertificateBundle.load(written.directory)
    assert f"{written.directory / name} is missing" in str(caught.value)
    assert "enroll --force" in str(caught.value)


def test_an_interrupted_enrolment_does_not_load(written):
    written.worker_path.unlink()
    with pytest.raises(BundleError, match="incomplete"):
        CertificateBundle.load(written.directory)


# -- the platform's errors ----------------------------------------------------------------


def test_a_bad_token_is_a_clear_401(session, bundle_dir):
    with pytest.raises(PlatformError) as caught:
        enroll(API, token="nonsense", name="a", bundle_dir=bundle_dir, session=session)
    assert caught.value.status == 401
    assert "the platform refused the token: it is invalid or expired" in str(caught.value)
    assert not CertificateBundle.exists(bundle_dir)

    code, out, err = run_cli(
        "--api", API, "--token", token_for(PROVIDER, now=NOW - 10**6), "--dir", str(bundle_dir),
        session=session,
    )  # fmt: skip
    assert (code, out) == (1, "")
    assert err.startswith("xenblocks-miner enroll: the platform refused the token")
    assert "Traceback" not in err


def test_a_refused_signature_is_a_clear_401(client, wallet_hex, bundle_dir):
    def tamper(method: str, path: str, body: Any) -> Any:
        if path == "/api/auth/nonce":
            body["message"] = body["message"].replace("Sign in to", "Log in to")
        return body

    session = session_with(AppTransport(client, rewrite=tamper))
    with pytest.raises(PlatformError) as caught:
        enroll(API, wallet_key=wallet_hex, name="a", bundle_dir=bundle_dir, session=session)
    assert caught.value.status == 401
    assert str(caught.value) == (
        "the platform refused the wallet's signature "
        "(the signature does not match this address's sign-in message)"
    )


def test_the_wallet_never_signs_anything_but_a_sign_in_for_itself(client, wallet_hex, bundle_dir):
    def hostile(method: str, path: str, body: Any) -> Any:
        if path == "/api/auth/nonce":
            body["message"] = "Transfer everything to 0xBAD"
        return body

    transport = AppTransport(client, rewrite=hostile)
    with pytest.raises(PlatformError, match="not signing it"):
        enroll(
            API, wallet_key=wallet_hex, name="a", bundle_dir=bundle_dir,
            session=session_with(transport),
        )  # fmt: skip
    assert [path for _, path in transport.sent] == ["/api/auth/nonce"]


def test_the_apis_own_error_message_is_surfaced(session):
    api = PlatformApi(API, session=session)
    with pytest.raises(PlatformError) as caught:
        api.enrol(token_for(PROVIDER), "not a csr", "a")
    assert caught.value.status == 422
    assert caught.value.code == "invalid_input"
    assert str(caught.value) == (
        "enrolling the rig failed: the platform refused (HTTP 422, invalid_input): "
        "csr_pem is not a PEM certificate request"
    )


def test_a_4xx_error_body_is_surfaced_through_the_cli(bundle_dir):
    body = {"error": {"code": "conflict", "message": "enrolment is closed for maintenance"}}
    canned = Canned(409, json.dumps(body).encode(), {"Content-Type": "application/json"})
    code, _, err = run_cli(
        "--api", API, "--token", "t", "--dir", str(bundle_dir), session=session_with(canned)
    )
    assert code == 1
    assert err == (
        "xenblocks-miner enroll: checking the token failed: the platform refused "
        "(HTTP 409, conflict): enrolment is closed for maintenance\n"
    )


@pytest.mark.parametrize(
    ("adapter", "message"),
    [
        (
            Canned(raises=requests.ConnectionError("refused")),
            "cannot reach the platform API at https://platform.test (refused); check --api",
        ),
        (
            Canned(raises=requests.ConnectTimeout("slow")),
            "the platform API at https://platform.test did not answer in time",
        ),
        (
            Canned(200, b"<html>a dashboard</html>", {"Content-Type": "text/html"}),
            "unexpected answer from https://platform.test/api/auth/me (HTTP 200); "
            "is --api the platform API's URL?",
        ),
        (
            Canned(502, b"<html>Bad Gateway</html>"),
            "unexpected answer from https://platform.test/api/auth/me (HTTP 502)",
        ),
        (
            Canned(500, b'{"error": {"code": "internal_error", "message": "logged"}}'),
            "the platform failed (HTTP 500, internal_error): logged",
        ),
        (
            Canned(301, b"", {"Location": "https://www.platform.test/api/auth/me"}),
            "the API redirects to https://www.platform.test/api/auth/me; use that as --api",
        ),
        (Canned(200, b'{"address": ""}'), "unexpected answer"),
    ],
)
def test_network_and_unexpected_answers_are_one_line_failures(adapter, message, bundle_dir):
    code, out, err = run_cli(
        "--api", API, "--token", "t", "--dir", str(bundle_dir), session=session_with(adapter)
    )
    assert (code, out) == (1, "")
    assert message in err
    assert err.count("\n") == 1
    assert not CertificateBundle.exists(bundle_dir)


def test_urllib3_connection_errors_read_well():
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    class Connection:
        def __str__(self) -> str:
            return "HTTPSConnection(host='x', port=443)"

    inner = NewConnectionError(
        Connection(),  # type: ignore[arg-type]
        "Failed to establish a new connection: [Errno 111] Connection refused",
    )
    error = requests.ConnectionError(MaxRetryError(None, "/api", inner))  # type: ignore[arg-type]
    session = session_with(Canned(raises=error))
    with pytest.raises(PlatformError) as caught:
        PlatformApi(API, session=session).whoami("t")
    assert "(Failed to establish a new connection: [Errno 111] Connection refused)" in str(
        caught.value
    )


# -- bad input: exit code 2, nothing sent --------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["--token", "t"], {}, "--api URL is required (or set $XENBLOCKS_API_URL)"),
        (["--api", API], {}, "sign in with --token TOKEN or --wallet-key-file PATH"),
        (
            ["--api", API],
            {"XENBLOCKS_TOKEN": "t", "XENBLOCKS_WALLET_KEY": "k"},
            "both $XENBLOCKS_TOKEN and $XENBLOCKS_WALLET_KEY are set",
        ),
        (["--api", API, "--token", " "], {}, "--token is empty"),
        (["--api", "ftp://x", "--token", "t"], {}, "is not an http(s) URL"),
        (["--api", API, "--token", "t", "--name", "tab\there"], {}, "printable characters"),
        (["--api", API, "--token", "t", "--name", "x" * 65], {}, "at most 64"),
        (["--api", API, "--wallet-key-file", "/nonexistent/key"], {}, "cannot read the wallet"),
    ],
)
def test_bad_input_is_exit_code_2_and_sends_nothing(argv, environ, message, bundle_dir):
    canned = Canned(raises=AssertionError("nothing may be sent"))
    code, out, err = run_cli(
        *argv, "--dir", str(bundle_dir), session=session_with(canned), environ=environ
    )
    assert (code, out) == (2, "")
    assert message in err
    assert err.startswith("xenblocks-miner enroll: ")
    assert canned.sent == []
    assert not bundle_dir.exists()


def test_token_and_wallet_key_file_together_are_refused(key_file, bundle_dir):
    code, _, err = run_cli(
        "--api", API, "--token", "t", "--wallet-key-file", str(key_file), "--dir", str(bundle_dir)
    )
    assert code == 2
    assert "give --token or --wallet-key-file, not both" in err


def test_a_bad_key_file_is_named_without_its_content(tmp_path, bundle_dir):
    secret = "0x" + "g" * 64
    path = tmp_path / "wallet.key"
    path.write_text(secret)
    code, out, err = run_cli("--api", API, "--wallet-key-file", str(path), "--dir", str(bundle_dir))
    assert code == 2
    assert str(path) in err
    assert secret not in out + err
    assert "expected 64 hex characters" in err


def test_enroll_needs_exactly_one_credential(bundle_dir):
    with pytest.raises(EnrollInputError, match="exactly one"):
        enroll(API, name="a", bundle_dir=bundle_dir)
    with pytest.raises(EnrollInputError, match="exactly one"):
        enroll(API, token="t", wallet_key="ab" * 32, name="a", bundle_dir=bundle_dir)


def test_every_error_is_an_enroll_error_with_an_exit_code():
    assert EnrollInputError("x").exit_code == 2
    assert BundleError("x").exit_code == 2
    assert PlatformError("x").exit_code == 1
    assert issubclass(BundleError, EnrollError)


def test_the_certificate_is_an_x509_client_certificate(written):
    assert isinstance(written.certificate, x509.Certificate)
    assert written.certificate_path.read_text() == written.certificate_pem


def test_plain_http_outside_this_machine_is_warned_about(session, bundle_dir, tmp_path):
    code, _, err = run_cli(
        "--api", "http://10.0.0.5:8000", "--token", token_for(PROVIDER), "--dir", str(bundle_dir),
        session=session,
    )  # fmt: skip
    assert code == 0
    assert "warning: http://10.0.0.5:8000 is plain http" in err
    assert CertificateBundle.load(bundle_dir).api_url == "http://10.0.0.5:8000"

    code, _, err = run_cli(
        "--api", "http://127.0.0.1:8000", "--token", token_for(PROVIDER),
        "--dir", str(tmp_path / "local"), session=session,
    )  # fmt: skip
    assert (code, err) == (0, "")


def test_the_enroll_subcommand_is_wired_into_the_miner_cli(capsys):
    from miner.cli import main

    with pytest.raises(SystemExit) as caught:
        main(["enroll", "--help"])
    assert caught.value.code == 0
    help_text = capsys.readouterr().out
    for flag in ("--api", "--token", "--wallet-key-file", "--name", "--dir", "--force"):
        assert flag in help_text
