"""Domain errors: the one module that names what can go wrong in the business.

The data layer turns DynamoDB condition failures into these; the API maps each to one
HTTP status through ``http_status`` and answers ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    """Base of every expected, explainable failure."""

    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 400

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.code.replace("_", " "))

    @property
    def message(self) -> str:
        return str(self.args[0])


class InvalidInput(DomainError):
    code = "invalid_input"
    http_status = 422


class Unauthorized(DomainError):
    code = "unauthorized"
    http_status = 401


class Forbidden(DomainError):
    code = "forbidden"
    http_status = 403


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class Conflict(DomainError):
    """The request is valid but the current state does not allow it."""

    code = "conflict"
    http_status = 409


class AlreadyExists(Conflict):
    code = "already_exists"


class ListingUnavailable(Conflict):
    code = "listing_unavailable"


class WorkerAlreadyListed(Conflict):
    code = "worker_already_listed"


class LeaseNotActive(Conflict):
    code = "lease_not_active"


class AlreadySettled(Conflict):
    code = "already_settled"


class DuplicateEntry(Conflict):
    """A ledger movement, block or share that was already recorded (retries land here)."""

    code = "duplicate"


class InsufficientFunds(DomainError):
    code = "insufficient_funds"
    http_status = 402


class ConcurrentUpdate(Conflict):
    """Another writer changed the same items at the same moment; safe to retry."""

    code = "concurrent_update"


class NoMatch(NotFound):
    """No available listing meets a renter's criteria."""

    code = "no_match"
