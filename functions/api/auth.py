"""Who is calling, and whether they may: the ``Authorization: Bearer`` credential, checked
per request, and the one map of what an API key may do.

The credential is a session token (``POST /api/auth/verify``) or an API key (``xbk_…``,
``POST /api/auth/keys``). Either costs one strongly consistent GetItem per request (1 read
unit): the address's sign-outs for a token, the key itself for a key
(``functions.logic.sessions``). FastAPI caches the dependency, so a route that needs both
the caller and an admin check still reads once.

A session may do everything its address may. An API key may do what its scopes allow,
judged here and nowhere else, by the route's method and path template: a GET needs
``read``; any other method needs the scope ``KEY_SCOPES`` names for it, and a route missing
from ``KEY_SCOPES`` is for sessions only (deny by default: a new endpoint stays out of
keys' reach until someone decides its scope here). Admin rights never come from a key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from functions.api.context import ApiContext
from functions.errors import Forbidden, Unauthorized
from functions.logic.sessions import Authenticator
from functions.logic.tokens import Principal
from functions.models.auth import Scope

_bearer = HTTPBearer(
    auto_error=False,
    description="A session token from POST /api/auth/verify, or an API key (xbk_…)",
)

# What an API key needs for each route that changes something (method, path template).
KEY_SCOPES: Mapping[tuple[str, str], Scope] = {
    ("POST", "/api/leases"): Scope.TRADE,
    ("POST", "/api/leases/{lease_id}/stop"): Scope.TRADE,
    ("POST", "/api/listings"): Scope.TRADE,
    ("PATCH", "/api/listings/{listing_id}"): Scope.TRADE,
    ("DELETE", "/api/listings/{listing_id}"): Scope.TRADE,
    ("POST", "/api/accounts/me/withdraw"): Scope.WITHDRAW,
    ("POST", "/api/devices"): Scope.DEVICES,
    ("DELETE", "/api/devices/{worker_id}"): Scope.DEVICES,
    ("POST", "/api/workers/{worker_id}/commands"): Scope.DEVICES,
    ("POST", "/api/alerts/rules"): Scope.ALERTS,
    ("PATCH", "/api/alerts/rules/{rule_id}"): Scope.ALERTS,
    ("DELETE", "/api/alerts/rules/{rule_id}"): Scope.ALERTS,
}
# Reads that are for sessions only all the same: a key never sees the keys.
SESSION_ONLY_READS = frozenset({"/api/auth/keys"})
_READ_METHODS = frozenset({"GET", "HEAD"})


def required_scope(method: str, path: str) -> Scope | None:
    """The scope an API key needs for ``method`` on the route ``path`` (its template);
    None when the route is for signed-in sessions only."""
    if method in _READ_METHODS:
        return None if path in SESSION_ONLY_READS else Scope.READ
    return KEY_SCOPES.get((method, path))


def authorize(principal: Principal, method: str, path: str) -> None:
    """Forbidden unless ``principal`` may call ``method path``."""
    if principal.is_session:
        return
    scope = required_scope(method, path)
    if scope is None:
        raise Forbidden("an API key cannot do this: sign in with your wallet")
    if not principal.allows(scope):
        raise Forbidden(f"this API key lacks the {scope.value} scope")


def get_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.context
    return context


Context = Annotated[ApiContext, Depends(get_context)]
Bearer = HTTPAuthorizationCredentials | None
Credentials = Annotated[Bearer, Depends(_bearer)]


def authenticated(context: ApiContext, credentials: Bearer) -> Principal:
    """Who the credential names (signature, expiry, sign-out, key): no scope judged yet."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("sign in first: Authorization: Bearer <token or API key>")
    authenticator = Authenticator(context.settings, context.sessions, context.api_keys)
    return authenticator.authenticate(credentials.credentials, context.clock())


def current_principal(context: ApiContext, credentials: Bearer) -> Principal:
    """The caller, for a read that asks outside the route dependency (a GET that needs the
    caller only sometimes): an API key needs ``read``."""
    principal = authenticated(context, credentials)
    if not principal.allows(Scope.READ):
        raise Forbidden(f"this API key lacks the {Scope.READ.value} scope")
    return principal


def route_principal(request: Request, context: Context, credentials: Credentials) -> Principal:
    """The caller, allowed to call this route (the dependency every private route has)."""
    principal = authenticated(context, credentials)
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    authorize(principal, request.method, path if isinstance(path, str) else "")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(route_principal)]


def admin_principal(principal: CurrentPrincipal) -> Principal:
    """Admin-only paths: the signed-in address must be one of the configured admins."""
    if not principal.is_admin:
        raise Forbidden("this path is for platform admins")
    return principal


AdminPrincipal = Annotated[Principal, Depends(admin_principal)]
