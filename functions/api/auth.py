"""Who is calling: the ``Authorization: Bearer <jwt>`` session token, checked per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from functions.api.context import ApiContext
from functions.errors import Forbidden, Unauthorized
from functions.logic.tokens import Principal, verify_token

_bearer = HTTPBearer(auto_error=False, description="The token from POST /api/auth/verify")


def get_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.context
    return context


Context = Annotated[ApiContext, Depends(get_context)]


def current_principal(
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("sign in first: Authorization: Bearer <token>")
    secret = context.settings.jwt_secret
    if secret is None:
        raise Unauthorized("sign-in is not configured on this deployment")
    return verify_token(
        credentials.credentials,
        secret=secret.get_secret_value(),
        now=context.clock(),
        admins=context.settings.admin_addresses,
    )


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def admin_principal(principal: CurrentPrincipal) -> Principal:
    """Admin-only paths: the signed-in address must be one of the configured admins."""
    if not principal.is_admin:
        raise Forbidden("this path is for platform admins")
    return principal


AdminPrincipal = Annotated[Principal, Depends(admin_principal)]
