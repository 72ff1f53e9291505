"""The rig's key and certificate request, its label, and the provider's wallet key.

The rig makes its own P-256 key and sends only a certificate request, so the private key
never leaves it. The wallet key only ever signs the platform's sign-in message, here, and
no message or chained exception ever contains it.
"""

from __future__ import annotations

import re
import socket
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from eth_account import Account
from eth_account.messages import encode_defunct

from miner.enrolment.errors import EnrollInputError
from protocol.jsonlimits import restore_recursion_limit

restore_recursion_limit()  # eth_account's py_ecc raised it: see protocol.jsonlimits

# The server's rule for a rig's label (functions.logic.enrolment), checked here first so a
# bad name is a usage error before anything is enrolled.
MAX_NAME_LENGTH = 64

_WALLET_KEY = re.compile(r"(?:0[xX])?([0-9a-fA-F]{64})")


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


def sign_message(private_key_hex: str, message: str) -> str:
    """The wallet's EIP-191 signature of ``message``, ``0x`` + hex."""
    signed = Account.from_key(parse_wallet_key(private_key_hex)).sign_message(
        encode_defunct(text=message)
    )
    return "0x" + bytes(signed.signature).hex()


def public_der(public_key: Any) -> bytes:
    """A public key as DER SubjectPublicKeyInfo, to compare a key with a certificate's."""
    der: bytes = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der
