"""Fixtures for the enrolment tests: the real FastAPI app (moto tables, the local CA) behind
a ``requests.Session``, a provider wallet, a bundle directory."""

from __future__ import annotations

import pytest

from functions.local.ca import LocalCertificateAuthority
from miner.enrolment.flow import enroll
from tests.api_client import api_context, client_for, token_for
from tests.factories import PROVIDER
from tests.unit.miner.enrolment.support import API, AppTransport, session_with
from tests.wallet import Wallet


@pytest.fixture
def ca(tmp_path):
    return LocalCertificateAuthority(tmp_path / "ca")


@pytest.fixture
def client(settings, tables, ca):
    return client_for(api_context(settings, tables, ca=ca))


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


@pytest.fixture
def written(session, bundle_dir):
    return enroll(API, token=token_for(PROVIDER), name="a", bundle_dir=bundle_dir, session=session)
