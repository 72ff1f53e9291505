"""Channel inputs, quiet hours and sealing, without tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from functions.errors import InvalidInput
from functions.logic.alert_channels import (
    alert_text,
    build_channels,
    canonical_timezone,
    in_quiet_hours,
    validate_bot_token,
    validate_chat_id,
    validate_discord_url,
    validate_email,
    validate_max_per_hour,
    validate_quiet_hours,
)
from functions.logic.secret_box import SealBroken, SecretBox, hint, seal_context
from functions.models.alerts import AlertChannels, QuietHours
from tests.factories import PROVIDER, alert_event

TOKEN = "123456789:AAH" + "x" * 32
DISCORD = "https://discord.com/api/webhooks/112233445566778899/" + "t" * 68


@pytest.mark.parametrize(
    ("token", "ok"),
    [
        (TOKEN, True),
        ("1:" + "a_-B" * 8, True),
        ("123456789:" + "x" * 29, False),  # too short
        ("abc:" + "x" * 35, False),  # the bot id is digits
        ("123456789" + "x" * 35, False),  # no colon
        ("123456789:" + "x" * 34 + "/", False),
        (" " + TOKEN, False),
        (TOKEN + "\n", False),
        (123, False),
    ],
)
def test_bot_tokens_are_checked(token, ok):
    if ok:
        assert validate_bot_token(token) == token
    else:
        with pytest.raises(InvalidInput, match=r"telegram\.bot_token"):
            validate_bot_token(token)


@pytest.mark.parametrize(
    ("chat_id", "expected"),
    [
        ("12345", "12345"),
        ("-1001234567890", "-1001234567890"),
        (-42, "-42"),
        ("@xenblocks_ops", "@xenblocks_ops"),
        ("@abc", None),  # usernames are 5 to 32 characters
        ("12a", None),
        ("", None),
        (True, None),
        (None, None),
    ],
)
def test_chat_ids_are_numbers_or_channel_usernames(chat_id, expected):
    if expected is not None:
        assert validate_chat_id(chat_id) == expected
    else:
        with pytest.raises(InvalidInput, match=r"telegram\.chat_id"):
            validate_chat_id(chat_id)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        (DISCORD, True),
        (DISCORD.replace("discord.com", "discordapp.com"), True),
        (DISCORD.replace("/api/", "/api/v10/"), True),
        (DISCORD.replace("https://", "http://"), False),
        (DISCORD.replace("discord.com", "discord.com.evil.example"), False),
        (DISCORD.replace("discord.com", "evil.example/discord.com"), False),
        (DISCORD + "?wait=true", False),
        (DISCORD + "/slack", False),
        ("https://discord.com/api/webhooks/abc/" + "t" * 68, False),
        ("https://127.0.0.1/api/webhooks/112233445566778899/" + "t" * 68, False),
    ],
)
def test_discord_urls_must_be_discord_webhooks(url, ok):
    if ok:
        assert validate_discord_url(url) == url
    else:
        with pytest.raises(InvalidInput, match=r"discord\.webhook_url"):
            validate_discord_url(url)


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("ops@example.com", True),
        ("first.last+alerts@mail.example.co.uk", True),
        ("ops@localhost", False),
        ("ops@@example.com", False),
        ("ops example@example.com", False),
        ("ops@example.com\r\nBcc: victim@example.com", False),
        ("a" * 65 + "@example.com", False),
        ("ops@" + "a" * 250 + ".com", False),
        ("", False),
    ],
)
def test_email_addresses_are_checked(address, ok):
    if ok:
        assert validate_email(address, sends_email=True) == address
    else:
        with pytest.raises(InvalidInput, match=r"email\.address"):
            validate_email(address, sends_email=True)


def test_an_email_channel_needs_a_deployment_that_sends_email():
    with pytest.raises(InvalidInput, match="does not send e-mail"):
        validate_email("ops@example.com", sends_email=False)


@pytest.mark.parametrize("value", [0, 1001, -1, True, 2.5, "10"])
def test_max_per_hour_is_1_to_1000(value):
    with pytest.raises(InvalidInput, match="max_per_hour"):
        validate_max_per_hour(value)


def test_max_per_hour_may_be_absent():
    assert validate_max_per_hour(None) is None
    assert validate_max_per_hour(1000) == 1000


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("UTC", "UTC"),
        ("utc", "UTC"),
        ("Europe/Berlin", "Europe/Berlin"),
        ("America/New_York", "America/New_York"),
        ("+05:30", "+05:30"),
        ("-8", "-08:00"),
        ("UTC+2", "+02:00"),
        ("+0545", "+05:45"),
    ],
)
def test_time_zones_are_iana_names_or_offsets(name, canonical):
    assert canonical_timezone(name) == canonical


@pytest.mark.parametrize(
    "name", ["Mars/Olympus", "+15:00", "+05:60", "../../etc/passwd", "/etc/localtime", ""]
)
def test_unknown_time_zones_are_refused(name):
    with pytest.raises(InvalidInput, match="timezone"):
        canonical_timezone(name)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"start_hour": 22, "end_hour": 22}, "must differ"),
        ({"start_hour": 24, "end_hour": 7}, "start_hour"),
        ({"start_hour": 22, "end_hour": -1}, "end_hour"),
        ({"start_hour": 22}, "end_hour"),
        ({"start_hour": 22, "end_hour": 7, "tz": "UTC"}, "unknown fields"),
        ({"start_hour": 22, "end_hour": 7, "timezone": "Nowhere/Land"}, "timezone"),
    ],
)
def test_quiet_hours_are_checked(values, message):
    with pytest.raises(InvalidInput, match=message):
        validate_quiet_hours(values)


def _at(hour: int, minute: int = 0) -> int:
    return int(datetime(2025, 11, 21, hour, minute, tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("hour", "minute", "quiet"),
    [
        (21, 59, False),
        (22, 0, True),
        (23, 30, True),
        (0, 0, True),  # across midnight
        (6, 59, True),
        (7, 0, False),  # the end hour is no longer quiet
        (12, 0, False),
    ],
)
def test_quiet_hours_across_midnight(hour, minute, quiet):
    night = QuietHours(start_hour=22, end_hour=7, timezone="UTC")
    assert in_quiet_hours(night, _at(hour, minute)) is quiet


@pytest.mark.parametrize(("hour", "quiet"), [(8, False), (9, True), (16, True), (17, False)])
def test_quiet_hours_within_a_day(hour, quiet):
    office = QuietHours(start_hour=9, end_hour=17, timezone="UTC")
    assert in_quiet_hours(office, _at(hour)) is quiet


def test_quiet_hours_are_read_on_the_rules_clock():
    # 21:00 UTC is 22:00 in Berlin (CET, November) and 02:30 at +05:30.
    berlin = QuietHours(start_hour=22, end_hour=7, timezone="Europe/Berlin")
    india = QuietHours(start_hour=1, end_hour=3, timezone="+05:30")
    assert in_quiet_hours(berlin, _at(21)) is True
    assert in_quiet_hours(berlin, _at(20, 59)) is False
    assert in_quiet_hours(india, _at(21)) is True
    assert in_quiet_hours(india, _at(19, 29)) is False  # 00:59 there
    assert in_quiet_hours(None, _at(0)) is False


# -- sealing ------------------------------------------------------------------------------------


def test_a_sealed_secret_opens_with_its_key_and_context_only():
    box = SecretBox.from_secret("jwt-secret-of-the-deployment")
    context = seal_context(PROVIDER, "rule-1", "telegram.bot_token")
    sealed = box.seal(TOKEN, context=context)

    assert sealed.startswith("v1.")
    assert TOKEN.split(":")[1] not in sealed
    assert box.open(sealed, context=context) == TOKEN
    assert box.seal(TOKEN, context=context) != sealed  # a fresh nonce each time
    assert SecretBox.from_secret("jwt-secret-of-the-deployment").open(sealed, context=context)
    with pytest.raises(SealBroken):
        SecretBox.from_secret("another deployment").open(sealed, context=context)
    with pytest.raises(SealBroken):  # copied onto another rule
        box.open(sealed, context=seal_context(PROVIDER, "rule-2", "telegram.bot_token"))
    with pytest.raises(SealBroken):  # or another field
        box.open(sealed, context=seal_context(PROVIDER, "rule-1", "discord.webhook_url"))
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(SealBroken):
        box.open(tampered, context=context)
    with pytest.raises(SealBroken):
        box.open("plain text", context=context)


def test_the_sealing_key_is_not_the_cursor_key():
    # Both derive from the JWT secret, each with its own label.
    import hashlib
    import hmac

    from functions.dal.pagination import CursorCodec

    secret = "shared-jwt-secret"
    assert (
        CursorCodec.from_secret(secret)._key
        != hmac.new(secret.encode(), b"xenblocks alert channel secrets v1", hashlib.sha256).digest()
    )


def test_building_channels_seals_secrets_and_keeps_hints():
    box = SecretBox.from_secret("k")
    channels = build_channels(
        {
            "telegram": {"bot_token": TOKEN, "chat_id": "-100123"},
            "discord": {"webhook_url": DISCORD},
            "email": {"address": "ops@example.com"},
        },
        current=AlertChannels(),
        box=box,
        owner=PROVIDER,
        rule_id="rule-1",
        sends_email=True,
    )
    assert channels.telegram is not None
    assert channels.discord is not None
    assert channels.telegram.bot_token_hint == hint(TOKEN) == "…" + TOKEN[-4:]
    assert channels.discord.webhook_url_hint == "…tttt"
    dumped = channels.model_dump_json()
    assert TOKEN.split(":")[1] not in dumped
    assert "t" * 68 not in dumped
    context = seal_context(PROVIDER, "rule-1", "discord.webhook_url")
    assert box.open(channels.discord.webhook_url_sealed, context=context) == DISCORD

    # Naming a channel with null removes it; channels not named stay.
    fewer = build_channels(
        {"discord": None},
        current=channels,
        box=box,
        owner=PROVIDER,
        rule_id="rule-1",
        sends_email=True,
    )
    assert (fewer.telegram, fewer.discord, fewer.email) == (channels.telegram, None, channels.email)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"slack": {"url": "x"}}, "unknown channels: slack"),
        ({"telegram": {"bot_token": TOKEN}}, "telegram.chat_id"),
        ({"telegram": {"bot_token": TOKEN, "chat_id": "1", "x": 1}}, "unknown fields: x"),
        ({"discord": "https://discord.com"}, "object or null"),
    ],
)
def test_channel_changes_are_checked(changes, message):
    with pytest.raises(InvalidInput, match=message):
        build_channels(
            changes,
            current=AlertChannels(),
            box=SecretBox.from_secret("k"),
            owner=PROVIDER,
            rule_id="rule-1",
            sends_email=True,
        )


def test_the_text_names_the_rule_and_the_worker():
    event = alert_event(1, rule_name="too hot", worker_id="rig-9", message="GPU 0 is at 91 °C")
    assert alert_text(event) == 'XenBlocks alert "too hot" on worker rig-9: GPU 0 is at 91 °C'
