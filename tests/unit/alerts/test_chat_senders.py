"""The chat senders' requests, on a recording poster (no sockets): where and what they POST."""

from __future__ import annotations

from typing import Any

from functions.ports.chat import INVALID_DISCORD_URL, HttpDiscordSender, HttpTelegramSender
from functions.ports.webhooks import DeliveryResult

TOKEN = "123456789:AAH" + "x" * 32
WEBHOOK = "112233445566778899/" + "t" * 68


class RecordingPoster:
    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any], str]] = []

    def post(self, url: str, payload: dict[str, Any], *, channel: str) -> DeliveryResult:
        self.posts.append((url, payload, channel))
        return DeliveryResult(ok=True, attempts=1, status=200)


def test_telegram_posts_chat_and_text_to_the_bots_send_message():
    poster = RecordingPoster()
    sender = HttpTelegramSender("http://127.0.0.1:9/", poster)  # type: ignore[arg-type]

    assert sender.send(TOKEN, "-100123", "x" * 5000).ok

    ((url, payload, channel),) = poster.posts
    assert url == f"http://127.0.0.1:9/bot{TOKEN}/sendMessage"
    assert payload == {"chat_id": "-100123", "text": "x" * 4096}  # Telegram's limit
    assert channel == "telegram"


def test_discord_webhooks_are_moved_onto_the_deployments_base():
    poster = RecordingPoster()
    sender = HttpDiscordSender("https://discord.test", poster)  # type: ignore[arg-type]
    for url in (
        f"https://discord.com/api/webhooks/{WEBHOOK}",
        f"https://discordapp.com/api/v10/webhooks/{WEBHOOK}",
    ):
        assert sender.send(url, "y" * 3000).ok
    assert [(url, payload) for url, payload, _ in poster.posts] == [
        (f"https://discord.test/api/webhooks/{WEBHOOK}", {"content": "y" * 2000}),
    ] * 2


def test_a_url_that_is_not_a_discord_webhook_is_never_posted():
    poster = RecordingPoster()
    sender = HttpDiscordSender("https://discord.com", poster)  # type: ignore[arg-type]
    result = sender.send(f"https://evil.example/api/webhooks/{WEBHOOK}", "z")
    assert (result.ok, result.attempts, result.error) == (False, 0, INVALID_DISCORD_URL)
    assert poster.posts == []
