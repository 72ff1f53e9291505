from __future__ import annotations

import jwt
import pytest

from functions.errors import Unauthorized
from functions.logic.tokens import issue_token, verify_token
from tests.api_client import JWT_SECRET
from tests.factories import NOW, PROVIDER, address


def verify(token: str, now: int = NOW, admins: tuple[str, ...] = ()):
    return verify_token(token, secret=JWT_SECRET, now=now, admins=admins)


def test_a_token_names_its_address_and_admin_flag():
    token = issue_token(PROVIDER.lower(), secret=JWT_SECRET, now=NOW, ttl=60)
    assert verify(token).address == PROVIDER
    assert verify(token, admins=(PROVIDER,)).is_admin


@pytest.mark.parametrize(
    "token",
    [
        issue_token(PROVIDER, secret=JWT_SECRET, now=NOW - 120, ttl=60),  # expired
        issue_token(PROVIDER, secret="another-secret-another-secret-xx", now=NOW, ttl=60),
        jwt.encode(
            {"sub": PROVIDER, "iss": "xenblocks", "iat": NOW, "exp": NOW + 60},
            key=None,
            algorithm="none",
        ),
        jwt.encode({"sub": PROVIDER, "iss": "elsewhere", "iat": NOW, "exp": NOW + 60}, JWT_SECRET),
        jwt.encode(
            {"sub": "not-an-address", "iss": "xenblocks", "iat": NOW, "exp": NOW + 60}, JWT_SECRET
        ),
        jwt.encode({"sub": address(1), "iss": "xenblocks", "iat": NOW}, JWT_SECRET),  # no exp
        "garbage",
    ],
)
def test_bad_tokens_are_unauthorized(token):
    with pytest.raises(Unauthorized):
        verify(token)


def test_a_tampered_token_is_unauthorized():
    header, _payload, signature = issue_token(PROVIDER, secret=JWT_SECRET, now=NOW, ttl=60).split(
        "."
    )
    other = issue_token(address(2), secret=JWT_SECRET, now=NOW, ttl=60).split(".")[1]
    with pytest.raises(Unauthorized):
        verify(f"{header}.{other}.{signature}")


def test_short_secrets_are_refused():
    with pytest.raises(ValueError, match="32 bytes"):
        issue_token(PROVIDER, secret="short", now=NOW, ttl=60)
