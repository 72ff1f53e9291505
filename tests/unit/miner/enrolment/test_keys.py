"""``miner.enrolment.keys``: the rig's key and CSR, its label, the provider's wallet key."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from functions.logic.siwe import recover_signer
from functions.ports.csr import load_csr
from miner.enrolment.errors import EnrollInputError
from miner.enrolment.keys import (
    MAX_NAME_LENGTH,
    default_name,
    make_key_and_csr,
    parse_wallet_key,
    public_der,
    sign_message,
    validate_name,
    wallet_address,
)
from tests.wallet import Wallet


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
        [sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[4]
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


def test_the_wallet_signs_as_its_address_and_the_platform_recovers_it():
    wallet = Wallet.numbered(3)
    key = "0x" + bytes(wallet.account.key).hex()
    assert wallet_address(key[2:].upper()) == wallet.address
    signature = sign_message(key, "Sign in, please")
    assert signature == wallet.sign("Sign in, please")
    assert len(signature) == 2 + 65 * 2
    assert recover_signer("Sign in, please", signature) == wallet.address  # the server's check
    assert recover_signer("Something else", signature) != wallet.address


def test_signing_refuses_a_bad_key_without_echoing_it():
    with pytest.raises(EnrollInputError) as caught:
        sign_message("0x" + "zz" * 32, "hello")
    assert "zz" not in str(caught.value)


@pytest.mark.parametrize(
    ("given", "kept"),
    [("  garage rig  ", "garage rig"), ("", ""), ("x" * 64, "x" * 64), ("ünï", "ünï")],
)
def test_a_rig_label_is_stripped_and_kept(given, kept):
    assert validate_name(given) == kept


@pytest.mark.parametrize("name", ["x" * 65, "tab\there", "new\nline"])
def test_a_rig_label_too_long_or_unprintable_is_a_usage_error(name):
    with pytest.raises(EnrollInputError, match="at most 64 printable characters"):
        validate_name(name)


def test_the_default_label_is_the_host_name_cut_to_the_limit(monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: " " + "h" * 80 + " ")
    assert default_name() == "h" * MAX_NAME_LENGTH
    monkeypatch.setattr(socket, "gethostname", lambda: "bad\x00host")
    assert default_name() == ""


def test_public_der_tells_a_key_from_another():
    first, _ = make_key_and_csr("a")
    second, _ = make_key_and_csr("b")
    key = serialization.load_pem_private_key(first.encode(), None)
    again = serialization.load_pem_private_key(first.encode(), None)
    other = serialization.load_pem_private_key(second.encode(), None)
    assert public_der(key.public_key()) == public_der(again.public_key())
    assert public_der(key.public_key()) != public_der(other.public_key())
    assert public_der(key.public_key()).startswith(b"\x30")  # a DER SEQUENCE
