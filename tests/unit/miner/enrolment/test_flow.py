"""``miner.enrolment.flow``: enrolment end to end, an existing bundle, unusable answers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from functions.dal.workers import WorkerRepository
from functions.local.ca import LocalCertificateAuthority
from miner.enrolment import bundle as bundle_module
from miner.enrolment.bundle import CertificateBundle
from miner.enrolment.errors import BundleError, EnrollInputError, PlatformError
from miner.enrolment.flow import enroll
from miner.enrolment.keys import make_key_and_csr
from tests.api_client import token_for
from tests.factories import PROVIDER
from tests.unit.miner.enrolment.support import (
    API,
    AppTransport,
    mode,
    run_cli,
    session_with,
)


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
    real = bundle_module._write_atomic

    def failing(path: Path, data: bytes) -> None:
        if path.name == "ca.pem":
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(bundle_module, "_write_atomic", failing)
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


def test_enroll_needs_exactly_one_credential(bundle_dir):
    with pytest.raises(EnrollInputError, match="exactly one"):
        enroll(API, name="a", bundle_dir=bundle_dir)
    with pytest.raises(EnrollInputError, match="exactly one"):
        enroll(API, token="t", wallet_key="ab" * 32, name="a", bundle_dir=bundle_dir)
