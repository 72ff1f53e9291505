"""Enrolment, start to end: check the input, sign in, enrol a CSR, check the answer, write
the bundle, and revoke the certificate again when the answer cannot become a bundle.

``POST /api/devices`` answers with the worker id, the certificate, the CA the rig trusts
when it verifies the broker, and where the broker is; all of it is written to a
certificate bundle (``miner.enrolment.bundle``) that ``xenblocks-miner run`` reads.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from miner.enrolment.bundle import (
    CertificateBundle,
    prepare_bundle_dir,
    resolve_bundle_dir,
    topics_problem,
)
from miner.enrolment.errors import BundleError, EnrollError, EnrollInputError, PlatformError
from miner.enrolment.keys import (
    make_key_and_csr,
    parse_wallet_key,
    public_der,
    validate_name,
    wallet_address,
)
from miner.enrolment.platform import EnrolResult, PlatformApi
from protocol.errors import ProtocolError
from protocol.topics import validate_worker_id


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
    problem = topics_problem(result.publish_topics)
    if problem is not None:
        return f"the platform answered unusable topics for {result.worker_id}: {problem}"
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    if public_der(certificate.public_key()) != public_der(key.public_key()):
        return f"the platform's certificate for {result.worker_id} is not for this rig's key"
    return None


def _revoke_quietly(api: PlatformApi, token: str, worker_id: str) -> bool:
    """Undo an enrolment whose certificate cannot be used; False if that failed too."""
    try:
        api.revoke(token, worker_id)
    except (EnrollError, ProtocolError):
        return False
    return True
