"""NonceRepository: a sign-in nonce is consumed once, by its address, before it expires."""

from __future__ import annotations

import pytest

from functions.dal.nonces import NonceRepository
from functions.dal.tables import Tables
from functions.errors import AlreadyExists, Unauthorized
from functions.models.auth import Nonce

T0 = 1_715_342_400
ALICE = "0x" + "A1" * 20
MALLORY = "0x" + "B2" * 20


def _nonce(value: str = "n-1", address: str = ALICE) -> Nonce:
    return Nonce(nonce=value, address=address, issued_at=T0, expires_at=T0 + 300)


def test_consumed_exactly_once(tables: Tables) -> None:
    repo = NonceRepository(tables)
    nonce = repo.create(_nonce())
    assert repo.consume("n-1", ALICE, T0 + 10) == nonce
    with pytest.raises(Unauthorized, match="unknown, expired or already used"):
        repo.consume("n-1", ALICE, T0 + 11)


def test_create_twice_is_refused(tables: Tables) -> None:
    repo = NonceRepository(tables)
    repo.create(_nonce())
    with pytest.raises(AlreadyExists):
        repo.create(_nonce(address=MALLORY))
    assert repo.consume("n-1", ALICE, T0) == _nonce()


def test_wrong_address_leaves_it_for_the_right_one(tables: Tables) -> None:
    repo = NonceRepository(tables)
    repo.create(_nonce())
    with pytest.raises(Unauthorized):
        repo.consume("n-1", MALLORY, T0 + 10)
    assert repo.consume("n-1", ALICE, T0 + 10).address == ALICE


def test_expired_is_refused(tables: Tables) -> None:
    repo = NonceRepository(tables)
    repo.create(_nonce())
    with pytest.raises(Unauthorized):
        repo.consume("n-1", ALICE, T0 + 300)  # expires_at itself is already too late
    assert repo.consume("n-1", ALICE, T0 + 299).nonce == "n-1"


def test_unknown_is_refused(tables: Tables) -> None:
    with pytest.raises(Unauthorized):
        NonceRepository(tables).consume("never-issued", ALICE, T0)
