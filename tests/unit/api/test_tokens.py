from __future__ import annotations

import jwt
import pytest

from functions.errors import Unauthorized
from functions.logic.tokens import MAX_TOKEN_TTL_SECONDS, issue_token, verify_token
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


def test_every_token_has_its_own_id_and_issue_time():
    first, second = (issue_token(PROVIDER, secret=JWT_SECRET, now=NOW, ttl=60) for _ in range(2))
    a, b = verify(first), verify(second)
    assert a.credential_id != b.credential_id
    assert len(a.credential_id) >= 22  # 128 random bits
    assert (a.issued_at, a.expires_at) == (NOW, NOW + 60)
    assert a.is_session


def test_a_token_without_an_id_is_refused():
    claims = {"sub": PROVIDER, "iss": "xenblocks", "iat": NOW, "exp": NOW + 60}
    with pytest.raises(Unauthorized):
        verify(jwt.encode(claims, JWT_SECRET))
    with pytest.raises(Unauthorized):
        verify(jwt.encode({**claims, "jti": "x" * 65}, JWT_SECRET))


def test_a_token_lives_at_most_seven_days():
    with pytest.raises(ValueError, match="seconds"):
        issue_token(PROVIDER, secret=JWT_SECRET, now=NOW, ttl=MAX_TOKEN_TTL_SECONDS + 1)
    token = issue_token(PROVIDER, secret=JWT_SECRET, now=NOW, ttl=MAX_TOKEN_TTL_SECONDS)
    assert verify(token).expires_at == NOW + MAX_TOKEN_TTL_SECONDS
