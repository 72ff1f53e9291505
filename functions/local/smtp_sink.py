"""The local stack's mail server: a real SMTP sink (aiosmtpd) that keeps what it receives.

``xenblocks local`` starts one and points the alerts job's e-mail at it (``smtp_host``,
``smtp_port`` in local.json); nothing is relayed anywhere. Each message is kept in memory
(``messages``, ``wait_for`` for tests) and written to ``directory`` as ``<n>.eml``, numbered
on from what is there (``mail_dir`` in local.json): open one in any mail client, or ``cat`` it.

    with smtp_sink(directory=Path(".xenblocks/mail")) as sink:
        ...  # SMTP to sink.host:sink.port
        (mail,) = sink.wait_for(1, timeout=10)
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    subject: str
    text: str
    raw: bytes


class _Keeper:
    """aiosmtpd's handler: accepts every message and hands it to the sink."""

    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        raw = envelope.original_content or b""
        self._sink.keep(envelope.mail_from or "", tuple(envelope.rcpt_tos), raw)
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """aiosmtpd's threaded controller on any free port: the port is read back once bound."""

    def _trigger_server(self) -> None:
        if self.server is not None and self.port == 0:
            # create_server's result is an asyncio.Server (typed as AbstractServer).
            sockets: Any = getattr(self.server, "sockets", None)
            self.port = int(sockets[0].getsockname()[1])
        super()._trigger_server()  # type: ignore[no-untyped-call]


class SmtpSink:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, directory: Path | None = None):
        self._controller = _Controller(_Keeper(self), hostname=host, port=port)
        self._directory = directory
        self._messages: list[ReceivedMail] = []
        self._numbered_from = 0  # .eml files a previous run left in the directory
        self._arrived = threading.Condition()

    @property
    def host(self) -> str:
        return str(self._controller.hostname)

    @property
    def port(self) -> int:
        return int(self._controller.port)

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._arrived:
            return list(self._messages)

    def start(self) -> None:
        if self._directory is not None:
            self._directory.mkdir(parents=True, exist_ok=True)
            self._numbered_from = len(list(self._directory.glob("*.eml")))
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def keep(self, mail_from: str, rcpt_tos: tuple[str, ...], raw: bytes) -> None:
        parsed = message_from_bytes(raw, policy=policy.default)
        body = parsed.get_body(("plain",)) if isinstance(parsed, EmailMessage) else None
        text = body.get_content() if body is not None else ""
        mail = ReceivedMail(mail_from, rcpt_tos, str(parsed.get("Subject", "")), text, raw)
        with self._arrived:
            self._messages.append(mail)
            if self._directory is not None:
                number = self._numbered_from + len(self._messages)
                (self._directory / f"{number}.eml").write_bytes(raw)
            self._arrived.notify_all()

    def wait_for(self, count: int, *, timeout: float) -> list[ReceivedMail]:
        """The first ``count`` messages, once they are here; TimeoutError if they are not."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self._messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self._messages)} of {count} messages arrived")
                self._arrived.wait(left)
            return list(self._messages[:count])


@contextlib.contextmanager
def smtp_sink(**options: Any) -> Iterator[SmtpSink]:
    sink = SmtpSink(**options)
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()
