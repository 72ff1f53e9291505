"""``xenblocks-miner enroll`` (``miner.enrolment.command``): flags, environment, output."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from functions.dal.workers import WorkerRepository
from miner.enrolment.bundle import CertificateBundle
from miner.enrolment.errors import BundleError, EnrollError, EnrollInputError, PlatformError
from tests.api_client import token_for
from tests.factories import PROVIDER
from tests.unit.miner.enrolment.support import (
    API,
    Canned,
    mode,
    run_cli,
    session_with,
)


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


def test_every_error_is_an_enroll_error_with_an_exit_code():
    assert EnrollInputError("x").exit_code == 2
    assert BundleError("x").exit_code == 2
    assert PlatformError("x").exit_code == 1
    assert issubclass(BundleError, EnrollError)
