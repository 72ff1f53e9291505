"""Sign-out: ``POST /api/auth/logout`` voids the presented token, ``/logout-all`` every
token of the address issued until then; HTTP and the WebSocket connect both refuse them."""

from __future__ import annotations

import pytest

from functions.dal.sessions import SessionRepository
from functions.errors import ConcurrentUpdate, Unauthorized
from functions.handlers import live as live_handler
from functions.local.lambda_context import LocalLambdaContext
from functions.logic import sessions
from functions.logic.live_updates import LiveService
from functions.logic.sessions import SessionService
from functions.logic.tokens import MAX_TOKEN_TTL_SECONDS, verify_token
from functions.models.auth import SessionState
from functions.ports.broadcast import RecordingBroadcaster
from tests.api_client import JWT_SECRET
from tests.factories import NOW
from tests.wallet import Wallet

ALICE = Wallet.numbered(1)
BOB = Wallet.numbered(2)
TTL = 3600  # the settings' default session length


@pytest.fixture
def live(context, tables, clock):
    service = LiveService(context.settings, tables, RecordingBroadcaster(), clock=clock)
    live_handler.configure(service)
    yield service
    live_handler.configure(None)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def me(client, token: str):
    return client.get("/api/auth/me", headers=bearer(token))


def assert_unauthorized(response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthorized"


def connect_event(connection_id: str, token: str) -> dict:
    return {
        "requestContext": {"connectionId": connection_id, "routeKey": "$connect"},
        "queryStringParameters": {"token": token},
    }


def test_a_signed_out_token_gets_401_and_the_other_sessions_live_on(client):
    laptop, phone = ALICE.sign_in(client), ALICE.sign_in(client)

    response = client.post("/api/auth/logout", headers=bearer(laptop))

    assert response.status_code == 200, response.text
    assert response.json() == {"signed_out": "this_session", "tokens_valid_after": None}
    assert_unauthorized(me(client, laptop))
    assert_unauthorized(client.post("/api/auth/logout", headers=bearer(laptop)))
    assert me(client, phone).status_code == 200


def test_the_websocket_connect_refuses_a_signed_out_token(client, live):
    token = ALICE.sign_in(client)
    assert live.connect("before", token).subject == ALICE.address

    assert client.post("/api/auth/logout", headers=bearer(token)).status_code == 200

    with pytest.raises(Unauthorized, match="signed out"):
        live.connect("after", token)
    refused = live_handler.connect_handler(
        connect_event("after-lambda", token), LocalLambdaContext(function_name="live")
    )
    assert refused["statusCode"] == 401
    assert live.fanout.get("after-lambda") is None


def test_logout_all_ends_every_older_session_and_a_new_sign_in_works(client, clock, live):
    laptop, phone = ALICE.sign_in(client), ALICE.sign_in(client)
    bobs = BOB.sign_in(client)
    clock.now += 60

    response = client.post("/api/auth/logout-all", headers=bearer(phone))

    assert response.status_code == 200, response.text
    assert response.json() == {"signed_out": "all_sessions", "tokens_valid_after": NOW + 60}
    for token in (laptop, phone):
        assert_unauthorized(me(client, token))
        with pytest.raises(Unauthorized):
            live.connect("c", token)
    assert me(client, bobs).status_code == 200  # another address is not touched

    clock.now += 1
    fresh = ALICE.sign_in(client)
    assert me(client, fresh).status_code == 200
    assert live.connect("fresh", fresh).subject == ALICE.address


def test_a_sign_in_in_the_very_second_of_logout_all_is_void_too(client):
    token = ALICE.sign_in(client)
    assert client.post("/api/auth/logout-all", headers=bearer(token)).status_code == 200

    assert_unauthorized(me(client, ALICE.sign_in(client)))  # same second: sign in again


def test_the_stored_sign_outs_expire_with_their_tokens(client, clock, context):
    first = ALICE.sign_in(client)
    client.post("/api/auth/logout", headers=bearer(first))
    first_jti = _jti(first, clock.now)
    state = context.sessions.get(ALICE.address)
    assert state is not None
    assert state.revoked == {first_jti: NOW + TTL}
    assert state.expires_at == NOW + TTL  # DynamoDB's TTL removes it once the token is dead

    clock.now = NOW + TTL + 5  # the first token has expired on its own
    second = ALICE.sign_in(client)
    client.post("/api/auth/logout", headers=bearer(second))

    state = context.sessions.get(ALICE.address)
    assert state is not None
    assert state.revoked == {_jti(second, clock.now): clock.now + TTL}
    assert state.tokens_valid_after == 0
    assert state.expires_at == clock.now + TTL


def test_logout_all_is_remembered_as_long_as_any_token_can_live(client, clock, context):
    token = ALICE.sign_in(client)
    client.post("/api/auth/logout-all", headers=bearer(token))

    state = context.sessions.get(ALICE.address)
    assert state is not None
    assert state.tokens_valid_after == NOW
    assert state.revoked == {}
    assert state.expires_at == NOW + MAX_TOKEN_TTL_SECONDS


def test_past_the_bound_a_sign_out_ends_every_session(client, clock, monkeypatch):
    monkeypatch.setattr(sessions, "MAX_REVOKED", 2)
    tokens = [ALICE.sign_in(client) for _ in range(4)]
    clock.now += 1
    answers = [client.post("/api/auth/logout", headers=bearer(t)).json() for t in tokens[:3]]

    assert [a["signed_out"] for a in answers] == ["this_session", "this_session", "all_sessions"]
    assert answers[2]["tokens_valid_after"] == NOW + 1
    assert_unauthorized(me(client, tokens[3]))


def test_a_token_without_a_session_check_would_pass_so_the_check_is_what_refuses(client, clock):
    """The signature and expiry still hold after sign-out: only the stored state refuses."""
    token = ALICE.sign_in(client)
    client.post("/api/auth/logout", headers=bearer(token))
    assert verify_token(token, secret=JWT_SECRET, now=clock.now, admins=()).address == (
        ALICE.address
    )
    assert_unauthorized(me(client, token))


class RacingRepository(SessionRepository):
    """Lets another sign-out of the same address land between our read and our write, once."""

    def __init__(self, tables, other_jti: str) -> None:
        super().__init__(tables)
        self.other_jti = other_jti
        self.raced = False

    def save(self, state: SessionState, *, previous_version: int) -> None:
        if not self.raced:
            self.raced = True
            other = SessionState(
                address=state.address,
                revoked={self.other_jti: NOW + TTL},
                version=previous_version + 1,
                expires_at=NOW + TTL,
            )
            super().save(other, previous_version=previous_version)
        super().save(state, previous_version=previous_version)


def test_two_sign_outs_racing_both_count(client, clock, context, tables):
    token = ALICE.sign_in(client)
    principal = verify_token(token, secret=JWT_SECRET, now=clock.now, admins=())
    racing = RacingRepository(tables, other_jti="the-other-tab")

    SessionService(racing).sign_out(principal, clock.now)

    state = context.sessions.get(ALICE.address)
    assert state is not None
    assert set(state.revoked) == {principal.credential_id, "the-other-tab"}
    assert state.version == 2


def test_a_stale_write_is_refused(tables):
    repository = SessionRepository(tables)
    state = SessionState(address=ALICE.address, version=1, expires_at=NOW + TTL)
    repository.save(state, previous_version=0)
    with pytest.raises(ConcurrentUpdate):
        repository.save(state.model_copy(update={"version": 2}), previous_version=0)
    repository.save(state.model_copy(update={"version": 2}), previous_version=1)


def _jti(token: str, now: int) -> str:
    return verify_token(token, secret=JWT_SECRET, now=now, admins=()).credential_id
