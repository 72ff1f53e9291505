"""``miner.enrolment.bundle``: loading a bundle back, and every way one can be broken."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509

from miner.enrolment.bundle import (
    BUNDLE_FILES,
    MAX_TOPIC_BYTES,
    CertificateBundle,
    resolve_bundle_dir,
    topics_problem,
)
from miner.enrolment.errors import BundleError
from miner.enrolment.flow import enroll
from miner.enrolment.keys import make_key_and_csr
from tests.api_client import token_for
from tests.factories import PROVIDER
from tests.unit.miner.enrolment.support import (
    API,
)


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


def test_the_certificate_is_an_x509_client_certificate(written):
    assert isinstance(written.certificate, x509.Certificate)
    assert written.certificate_path.read_text() == written.certificate_pem


# -- writing a bundle, without the platform ------------------------------------------------


def a_bundle(ca, directory, **changes):
    """A bundle for a fresh key, its certificate issued by the local CA directly."""
    key_pem, csr_pem = make_key_and_csr("by hand")
    issued = ca.issue("w-hand", csr_pem)
    fields = {
        "directory": directory,
        "worker_id": "w-hand",
        "name": "by hand",
        "owner": None,
        "api_url": API,
        "mqtt_host": "localhost",
        "mqtt_port": 8883,
        "certificate_id": issued.certificate_id,
        "enrolled_at": 1_700_000_000,
        "certificate_pem": issued.certificate_pem,
        "private_key_pem": key_pem,
        "ca_pem": ca.ca_pem,
        "publish_topics": {"heartbeat": "xenminer/w-hand/heartbeat"},
    }
    return CertificateBundle(**(fields | changes))


def test_a_written_bundle_loads_back_equal_and_clears_stale_temp_files(ca, bundle_dir):
    bundle_dir.mkdir(parents=True)
    (bundle_dir / ".tmp-private.key.dead").write_text("left by a crash")
    bundle = a_bundle(ca, bundle_dir)
    bundle.write()
    assert sorted(p.name for p in bundle_dir.iterdir()) == sorted(BUNDLE_FILES)
    assert CertificateBundle.load(bundle_dir) == bundle
    record = json.loads(bundle.worker_path.read_text())
    assert record["version"] == 1
    assert record["certificate_sha256"] == bundle.certificate_sha256
    assert "private_key_pem" not in record


def test_a_bundle_is_checked_before_anything_is_written(ca, bundle_dir):
    other_key, _ = make_key_and_csr("other")
    with pytest.raises(BundleError, match="does not match the certificate"):
        a_bundle(ca, bundle_dir, private_key_pem=other_key).write()
    with pytest.raises(BundleError, match="worker id 'no/slash' is invalid"):
        a_bundle(ca, bundle_dir, worker_id="no/slash").write()
    with pytest.raises(BundleError, match="not a concrete MQTT topic"):
        a_bundle(ca, bundle_dir, publish_topics={"block": "xenminer/+/block"}).write()
    assert not bundle_dir.exists()


def test_a_bundle_directory_that_is_a_file_is_refused(ca, tmp_path):
    path = tmp_path / "bundle"
    path.write_text("a file")
    with pytest.raises(BundleError, match="is not a directory"):
        a_bundle(ca, path).write()


@pytest.mark.parametrize(
    ("topics", "uplink"),
    [
        ({}, None),
        ({"heartbeat": "$aws/rules/r/xenminer/w/heartbeat"}, None),
        ({"heartbeat": ""}, "heartbeat"),
        ({"block": "xenminer/#"}, "block"),
        ({"block": "xenminer/+/block"}, "block"),
        ({"heartbeat": "ok", "status": "t" * (MAX_TOPIC_BYTES + 1)}, "status"),
    ],
)
def test_publish_topics_must_be_concrete_and_short(topics, uplink):
    concrete = "is not a concrete MQTT topic"
    expected = None if uplink is None else f"publish topic for {uplink!r} {concrete}"
    assert topics_problem(topics) == expected


def test_the_bundle_directory_is_the_argument_then_the_environment_then_the_default(tmp_path):
    env = {"XENBLOCKS_MINER_DIR": str(tmp_path / "env")}
    assert resolve_bundle_dir(tmp_path / "arg", env) == tmp_path / "arg"
    assert resolve_bundle_dir(None, env) == tmp_path / "env"
    assert resolve_bundle_dir(None, {}) == Path("~/.xenblocks/miner").expanduser()
    assert resolve_bundle_dir("~/x", {}) == Path.home() / "x"
