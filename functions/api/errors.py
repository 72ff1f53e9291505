"""One error format for every failure: ``{"error": {"code", "message"}}`` with a 4xx/5xx."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from functions.errors import DomainError
from functions.observability import CORRELATION_HEADER, current_correlation_id, logger


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    """Every failure's body."""

    error: ErrorDetail


# Documented on every operation, so the OpenAPI says what clients actually get (FastAPI's
# default 422 body, ``{"detail": [...]}``, is replaced by this one).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in (
        (401, "Not signed in, or the session token is invalid or expired"),
        (402, "Not enough funds"),
        (403, "Signed in, but not allowed"),
        (404, "Not found (or not yours)"),
        (409, "The current state does not allow it"),
        (413, "The request body is too large"),
        (422, "The request is invalid"),
    )
}


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message}})


def _describe(error: RequestValidationError) -> str:
    parts = []
    for detail in error.errors()[:5]:
        where = ".".join(str(p) for p in detail.get("loc", ()) if p != "body")
        parts.append(f"{where}: {detail.get('msg', 'invalid')}" if where else detail["msg"])
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, error: DomainError) -> JSONResponse:
        return error_response(error.http_status, error.code, error.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_input", _describe(error))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        # A bug or an outage: logged with its trace, answered in the one format.
        logger.exception(
            "unhandled error", extra={"method": request.method, "path": request.url.path}
        )
        response = error_response(500, "internal_error", "internal error; it has been logged")
        # Answered outside every middleware: the correlation id is added here.
        correlation_id = current_correlation_id()
        if correlation_id is not None:
            response.headers[CORRELATION_HEADER] = correlation_id
        return response

    @app.exception_handler(HTTPException)
    async def _http(request: Request, error: HTTPException) -> JSONResponse:
        code = "not_found" if error.status_code == 404 else "http_error"
        return error_response(error.status_code, code, str(error.detail))
