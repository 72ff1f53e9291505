"""The one error type raised for anything a peer sends that breaks the protocol."""

from __future__ import annotations

from pydantic import ValidationError


class ProtocolError(ValueError):
    """A message, topic or value that does not follow the protocol.

    ``field`` is the dotted path of the offending field (``"heartbeat.hashrate"``,
    ``"register.gpus.0.index"``), or None when the payload as a whole is bad.
    """

    def __init__(self, reason: str, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        super().__init__(f"{field}: {reason}" if field else reason)

    @classmethod
    def from_validation(cls, error: ValidationError, message_type: str) -> ProtocolError:
        """Name the first failing field of ``error``, prefixed with the message type."""
        first = error.errors(include_url=False)[0]
        cause = first.get("ctx", {}).get("error")
        location = first["loc"]
        # A model-level check has no location of its own; its ProtocolError names one.
        if not location and isinstance(cause, ProtocolError) and cause.field:
            location = (cause.field,)
        path = ".".join(str(part) for part in (message_type, *location))
        # Our validators raise ProtocolError; its reason reads better than pydantic's
        # "Value error, ..." wrapping.
        reason = cause.reason if isinstance(cause, ProtocolError) else first["msg"]
        return cls(reason, field=path)
