"""The e-mail port: SES in AWS, SMTP locally (``functions.local.smtp_sink``).

``email_sender(settings)`` picks one: SMTP when ``smtp_host`` is set, else SES (``sesv2``
``SendEmail`` from ``alert_email_sender``), else none (the deployment sends no e-mail and
rules cannot have an e-mail channel). Attempts and timeouts are the webhook settings';
throttling and network failures are tried again, a refused recipient is not. The owner
reads a short reason, the log the rest (never the message).
"""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any, Protocol

from functions.observability import logger
from functions.ports.webhooks import CONNECTION_FAILED, DeliveryResult
from functions.settings import Settings

REJECTED = "could not deliver (the address was refused)"
NOT_SENT = "could not deliver (the mail service refused the message)"
LOCAL_SENDER = "alerts@xenblocks.local"
# SES answers worth another try.
_SES_RETRY_CODES = frozenset(
    {"TooManyRequestsException", "Throttling", "ThrottlingException", "ServiceUnavailable"}
)


class EmailSender(Protocol):
    def send(self, to: str, subject: str, text: str) -> DeliveryResult:
        """Send a plain-text message; never raises for a failed delivery."""
        ...


class _Retrying:
    def __init__(
        self, attempts: int, backoff_seconds: float, sleep: Callable[[float], None]
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._sleep = sleep

    def run(self, attempt_once: Callable[[int], tuple[DeliveryResult, bool]]) -> DeliveryResult:
        result = DeliveryResult(ok=False, attempts=0)
        for attempt in range(1, self._attempts + 1):
            if attempt > 1:
                self._sleep(self._backoff * 2 ** (attempt - 2))
            result, retry = attempt_once(attempt)
            if result.ok or not retry:
                break
        return result


class SmtpEmailSender:
    """Plain SMTP (no TLS, no login): the local sink. ``smtp_host``/``smtp_port``."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        timeout_seconds: float,
        attempts: int,
        backoff_seconds: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._host = host
        self._port = port
        self._from = sender
        self._timeout = timeout_seconds
        self._retrying = _Retrying(attempts, backoff_seconds, sleep)

    def send(self, to: str, subject: str, text: str) -> DeliveryResult:
        message = EmailMessage()
        message["From"] = self._from
        message["To"] = to
        message["Subject"] = subject
        message.set_content(text)
        return self._retrying.run(lambda attempt: self._attempt(message, attempt))

    def _attempt(self, message: EmailMessage, attempt: int) -> tuple[DeliveryResult, bool]:
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused:
            return DeliveryResult(False, attempt, error=REJECTED), False
        except (smtplib.SMTPException, OSError) as error:
            logger.warning(
                "e-mail attempt failed",
                extra={"smtp_host": self._host, "attempt": attempt, "reason": repr(error)[:300]},
            )
            return DeliveryResult(False, attempt, error=CONNECTION_FAILED), True
        return DeliveryResult(True, attempt), False


class SesEmailSender:
    """SES v2 ``SendEmail`` from a verified identity; the client is made on first use."""

    def __init__(
        self,
        sender: str,
        *,
        region: str,
        attempts: int,
        client: Any = None,
        backoff_seconds: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._from = sender
        self._region = region
        self._client = client
        self._retrying = _Retrying(attempts, backoff_seconds, sleep)

    def send(self, to: str, subject: str, text: str) -> DeliveryResult:
        request = {
            "FromEmailAddress": self._from,
            "Destination": {"ToAddresses": [to]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": text, "Charset": "UTF-8"}},
                }
            },
        }
        return self._retrying.run(lambda attempt: self._attempt(request, attempt))

    def _attempt(self, request: dict[str, Any], attempt: int) -> tuple[DeliveryResult, bool]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._ses().send_email(**request)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            logger.warning("SES refused an alert e-mail", extra={"code": code, "attempt": attempt})
            retry = code in _SES_RETRY_CODES
            return DeliveryResult(
                False, attempt, error=CONNECTION_FAILED if retry else NOT_SENT
            ), retry
        except BotoCoreError as error:
            logger.warning(
                "SES attempt failed", extra={"reason": type(error).__name__, "attempt": attempt}
            )
            return DeliveryResult(False, attempt, error=CONNECTION_FAILED), True
        return DeliveryResult(True, attempt), False

    def _ses(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("sesv2", region_name=self._region)
        return self._client


def email_sender(settings: Settings) -> EmailSender | None:
    """The deployment's e-mail sender: SMTP if ``smtp_host``, SES if ``alert_email_sender``."""
    if settings.smtp_host:
        return SmtpEmailSender(
            settings.smtp_host,
            settings.smtp_port,
            sender=settings.alert_email_sender or LOCAL_SENDER,
            timeout_seconds=settings.webhook_timeout_seconds,
            attempts=settings.webhook_attempts,
        )
    if settings.alert_email_sender:
        return SesEmailSender(
            settings.alert_email_sender,
            region=settings.aws_region,
            attempts=settings.webhook_attempts,
        )
    return None


def sends_email(settings: Settings) -> bool:
    """Whether rules of this deployment may have an e-mail channel."""
    return bool(settings.smtp_host or settings.alert_email_sender)


class RecordingEmailSender:
    """An e-mail port for tests: keeps what it was asked to send, answers as told."""

    def __init__(self, *, ok: bool = True) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self._ok = ok

    def send(self, to: str, subject: str, text: str) -> DeliveryResult:
        self.sent.append((to, subject, text))
        if self._ok:
            return DeliveryResult(ok=True, attempts=1)
        return DeliveryResult(ok=False, attempts=1, error=REJECTED)
