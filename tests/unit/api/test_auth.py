"""``/api/auth``: Sign-In with Ethereum (EIP-4361) nonce → signature → token → /me."""

from __future__ import annotations

import logging
import re

import jwt
import pytest

from functions.dal.nonces import NonceRepository
from functions.errors import Unauthorized
from functions.logic.siwe import SignInService, iso_utc, message_for
from functions.models.auth import Nonce
from functions.observability import logger
from tests.api_client import api_context, client_for, token_for
from tests.factories import NOW
from tests.wallet import Wallet

ALICE = Wallet.numbered(1)
MALLORY = Wallet.numbered(2)


def verify(client, wallet, signature, **extra):
    return client.post(
        "/api/auth/verify", json={"address": wallet.address, "signature": signature, **extra}
    )


def assert_unauthorized(response):
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthorized"


def test_sign_in_with_only_address_and_signature_then_me(client, clock, settings):
    challenge = ALICE.challenge(client)
    response = verify(client, ALICE, ALICE.sign(challenge["message"]))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["address"] == ALICE.address
    assert body["is_admin"] is False
    assert body["expires_at"] == NOW + settings.jwt_ttl_seconds
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200, me.text
    assert me.json() == {
        "address": ALICE.address,
        "is_admin": False,
        "credential": "session",
        "scopes": ["read", "trade", "withdraw", "devices", "alerts"],
        "expires_at": NOW + settings.jwt_ttl_seconds,
    }


def test_the_wallet_helper_signs_in(client):
    me = client.get("/api/auth/me", headers=ALICE.headers(client))
    assert me.json()["address"] == ALICE.address


def test_admins_are_the_configured_addresses(settings, tables, clock):
    admin_settings = settings.model_copy(update={"admin_addresses": (ALICE.address,)})
    client = client_for(api_context(admin_settings, tables, now=clock))

    response = verify(client, ALICE, ALICE.sign(ALICE.challenge(client)["message"]))
    assert response.json()["is_admin"] is True
    assert client.get("/api/auth/me", headers=ALICE.headers(client)).json()["is_admin"] is True
    assert client.get("/api/auth/me", headers=MALLORY.headers(client)).json()["is_admin"] is False


def test_the_message_follows_eip_4361(client, settings):
    challenge = ALICE.challenge(client)
    lines = challenge["message"].split("\n")

    assert lines[0] == f"{settings.siwe_domain} wants you to sign in with your Ethereum account:"
    assert lines[1] == ALICE.address
    assert lines[2] == ""
    assert lines[3]  # the statement: one line, no newline inside
    assert lines[4] == ""
    assert lines[5:] == [
        f"URI: {settings.siwe_uri}",
        "Version: 1",
        f"Chain ID: {settings.chain_id}",
        f"Nonce: {challenge['nonce']}",
        f"Issued At: {iso_utc(NOW)}",
        f"Expiration Time: {iso_utc(NOW + settings.nonce_ttl_seconds)}",
    ]
    assert iso_utc(NOW) == "2025-11-21T04:40:00Z"
    assert re.fullmatch(r"[A-Za-z0-9]{8,}", challenge["nonce"])
    assert challenge["issued_at"] == NOW
    assert challenge["expires_at"] == NOW + settings.nonce_ttl_seconds


def test_nonces_are_fresh_each_time(client):
    nonces = {ALICE.challenge(client)["nonce"] for _ in range(5)}
    assert len(nonces) == 5


def test_the_message_is_rebuilt_from_the_stored_nonce(client, context):
    challenge = ALICE.challenge(client)
    record = context.nonces.get(challenge["nonce"], NOW)
    assert record is not None
    assert message_for(record, context.settings) == challenge["message"]


def test_a_tampered_message_is_refused_and_the_nonce_survives(client):
    message = ALICE.challenge(client)["message"]
    tampered = message.replace("Chain ID: 1", "Chain ID: 5")
    assert tampered != message

    assert_unauthorized(verify(client, ALICE, ALICE.sign(tampered)))
    assert verify(client, ALICE, ALICE.sign(message)).status_code == 200


def test_a_tampered_signature_is_refused(client):
    signature = bytearray.fromhex(ALICE.sign(ALICE.challenge(client)["message"])[2:])
    signature[40] ^= 0x01  # a bit of s: still recovers, but to some other address
    assert_unauthorized(verify(client, ALICE, "0x" + signature.hex()))


def test_another_key_cannot_sign_for_an_address_and_the_nonce_stays_for_its_owner(client):
    challenge = ALICE.challenge(client)
    forged = MALLORY.sign(challenge["message"])

    assert_unauthorized(verify(client, ALICE, forged))
    assert_unauthorized(verify(client, ALICE, forged, nonce=challenge["nonce"]))
    owner = verify(client, ALICE, ALICE.sign(challenge["message"]))
    assert owner.status_code == 200, owner.text


def test_a_nonce_of_another_address_is_refused(client):
    alices = ALICE.challenge(client)
    signed_by_mallory = MALLORY.sign(alices["message"])
    assert_unauthorized(verify(client, MALLORY, signed_by_mallory, nonce=alices["nonce"]))
    assert verify(client, ALICE, ALICE.sign(alices["message"])).status_code == 200


def test_an_expired_nonce_is_refused(client, clock, settings):
    message = ALICE.challenge(client)["message"]
    clock.now = NOW + settings.nonce_ttl_seconds  # the expiry instant is already too late

    assert_unauthorized(verify(client, ALICE, ALICE.sign(message)))


def test_a_nonce_just_before_expiry_still_works(client, clock, settings):
    message = ALICE.challenge(client)["message"]
    clock.now = NOW + settings.nonce_ttl_seconds - 1
    assert verify(client, ALICE, ALICE.sign(message)).status_code == 200


def test_a_replayed_sign_in_is_refused(client, context):
    challenge = ALICE.challenge(client)
    signature = ALICE.sign(challenge["message"])
    assert verify(client, ALICE, signature).status_code == 200

    assert_unauthorized(verify(client, ALICE, signature))
    assert_unauthorized(verify(client, ALICE, signature, nonce=challenge["nonce"]))
    # Both the nonce and the address's latest pointer were consumed.
    assert context.nonces.get(challenge["nonce"], NOW) is None
    assert context.nonces.latest(ALICE.address, NOW) is None


def test_an_unknown_nonce_is_refused(client):
    ALICE.challenge(client)
    assert_unauthorized(
        verify(client, ALICE, ALICE.sign("anything"), nonce="NeverIssued1234567890")
    )


def test_no_outstanding_nonce_is_refused(client):
    assert_unauthorized(verify(client, ALICE, ALICE.sign("anything")))


def test_an_older_nonce_works_when_named_but_not_by_default(client):
    older = ALICE.challenge(client)
    newer = ALICE.challenge(client)
    old_signature = ALICE.sign(older["message"])

    assert_unauthorized(verify(client, ALICE, old_signature))  # checked against the newer one
    assert verify(client, ALICE, old_signature, nonce=older["nonce"]).status_code == 200
    # Consuming the older nonce leaves the pointer to the newer one in place.
    assert verify(client, ALICE, ALICE.sign(newer["message"])).status_code == 200


@pytest.mark.parametrize(
    "signature",
    [
        "0x" + "zz" * 65,
        "0x1234",
        "not hex at all",
        "0x" + "00" * 65,
        "0x" + "ff" * 65,
        "0x" + "11" * 64 + "05",  # v out of range
        "0x" + "ab" * 64,  # 64 bytes: compact signatures are not accepted
    ],
)
def test_garbage_signatures_are_unauthorized(client, signature):
    ALICE.challenge(client)
    assert_unauthorized(verify(client, ALICE, signature))


def test_the_signature_may_omit_0x(client):
    signature = ALICE.sign(ALICE.challenge(client)["message"])
    assert verify(client, ALICE, signature.removeprefix("0x")).status_code == 200


@pytest.mark.parametrize(
    "address",
    ["0x1234", "not-an-address", "0x" + "g" * 40, ALICE.address[:-1] + "X", "0x" + "a" * 41],
)
def test_a_malformed_address_is_422_in_the_one_error_format(client, address):
    nonce = client.get("/api/auth/nonce", params={"address": address})
    assert nonce.status_code == 422, nonce.text
    assert nonce.json()["error"]["code"] == "invalid_input"
    assert "address" in nonce.json()["error"]["message"]

    body = client.post("/api/auth/verify", json={"address": address, "signature": "0x00"})
    assert body.status_code == 422, body.text
    assert body.json()["error"]["code"] == "invalid_input"


def test_a_wrong_checksum_is_422(client):
    digits = ALICE.address[2:]
    wrong = "0x" + digits.swapcase()  # still mixed case, so a checksum, and a wrong one
    assert client.get("/api/auth/nonce", params={"address": wrong}).status_code == 422


def test_a_lowercase_address_signs_in_as_its_checksum_form(client):
    lower = ALICE.address.lower()
    challenge = client.get("/api/auth/nonce", params={"address": lower}).json()
    assert f"\n{ALICE.address}\n" in challenge["message"]
    response = client.post(
        "/api/auth/verify", json={"address": lower, "signature": ALICE.sign(challenge["message"])}
    )
    assert response.json()["address"] == ALICE.address


@pytest.mark.parametrize(
    "body",
    [
        {"address": ALICE.address},
        {"address": ALICE.address, "signature": ""},
        {"address": ALICE.address, "signature": "0x" + "ab" * 500},
        {"address": ALICE.address, "signature": "0x00", "nonce": "latest:x"},
        {"address": ALICE.address, "signature": "0x00", "extra": 1},
    ],
)
def test_bad_verify_bodies_are_422(client, body):
    response = client.post("/api/auth/verify", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_input"


def test_alg_none_token_is_refused_on_me(client):
    forged = jwt.encode(
        {"sub": ALICE.address, "iss": "xenblocks", "iat": NOW, "exp": NOW + 60},
        key=None,
        algorithm="none",
    )
    assert_unauthorized(client.get("/api/auth/me", headers={"Authorization": f"Bearer {forged}"}))


def test_an_expired_token_is_refused_on_me(client, clock, settings):
    headers = ALICE.headers(client)
    assert client.get("/api/auth/me", headers=headers).status_code == 200

    clock.now = NOW + settings.jwt_ttl_seconds
    assert_unauthorized(client.get("/api/auth/me", headers=headers))
    stale = token_for(ALICE.address, now=NOW - 7200)
    assert_unauthorized(client.get("/api/auth/me", headers={"Authorization": f"Bearer {stale}"}))


def test_me_without_a_token_is_refused(client):
    assert_unauthorized(client.get("/api/auth/me"))


def test_sign_in_is_refused_when_no_secret_is_configured(settings, tables):
    context = api_context(settings, tables)
    context.settings = settings  # the fixture settings carry no jwt_secret
    client = client_for(context)
    assert_unauthorized(client.get("/api/auth/nonce", params={"address": ALICE.address}))


def test_refusals_are_logged_with_a_reason_and_without_the_signature(client, caplog):
    challenge = ALICE.challenge(client)
    forged = MALLORY.sign(challenge["message"])
    with caplog.at_level(logging.WARNING, logger=logger.name):
        assert_unauthorized(verify(client, ALICE, forged))

    [record] = caplog.records
    assert record.getMessage() == "sign-in refused"
    assert record.address == ALICE.address
    assert "another address" in record.reason
    logged = " ".join(str(value) for value in vars(record).values())
    assert forged[2:20] not in logged
    assert forged[2:20] not in caplog.text


class LosesTheRace(NonceRepository):
    """Another request with the same signature consumes the nonce between check and use."""

    def get(self, nonce: str, now: int) -> Nonce | None:
        record = super().get(nonce, now)
        if record is not None:
            super().consume(nonce, record.address, now)
        return record


def test_the_loser_of_a_race_is_refused(context, tables):
    service = SignInService(context.nonces, context.settings)
    challenge = service.issue_nonce(ALICE.address, NOW)
    racing = SignInService(LosesTheRace(tables), context.settings)

    with pytest.raises(Unauthorized, match="already used"):
        racing.verify(ALICE.address, ALICE.sign(challenge.message), NOW)
