"""The platform API calls a rig makes to enrol: sign-in, enrolment, revocation.

The provider proves who they are with either a session token from the dashboard or their
wallet key (Sign-In with Ethereum, done here: nonce, EIP-191 signature, token). Every
failure is a PlatformError whose message says what failed and what to do.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from miner.closing import Closing
from miner.enrolment.errors import EnrollInputError, PlatformError
from miner.enrolment.keys import sign_message, wallet_address
from protocol.topics import validate_worker_id

# (connect, read) seconds: enrolment makes a certificate, which may take a few seconds.
DEFAULT_TIMEOUT = (10.0, 60.0)

# urllib3 starts its messages with the connection object: not useful to a rig owner.
_CONNECTION_PREFIX = re.compile(r"^(?:\w*Connection\([^)]*\)|<[^>]*>): ")


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class NonceAnswer(_Answer):
    nonce: str = Field(min_length=1)
    message: str = Field(min_length=1)


class _TokenAnswer(_Answer):
    token: str = Field(min_length=1)


class _MeAnswer(_Answer):
    address: str = Field(min_length=1)


class EnrolResult(_Answer):
    """What ``POST /api/devices`` answers for a CSR."""

    worker_id: str = Field(min_length=1)
    name: str = ""
    certificate_id: str = Field(min_length=1)
    certificate_pem: str = Field(min_length=1)
    ca_pem: str = Field(min_length=1)
    mqtt_host: str = Field(min_length=1)
    mqtt_port: int = Field(ge=1, le=65535)
    # uplink suffix -> topic; older servers send none (the rig then uses xenminer/{id}/...)
    publish_topics: dict[str, str] = Field(default_factory=dict)


_A = TypeVar("_A", bound=_Answer)


def normalize_api_url(url: str) -> str:
    """The API's base URL: http(s), a host, no query; a trailing ``/`` or ``/api`` dropped.

    Paths are joined as ``{base}/api/...``, so both ``https://host`` and ``https://host/api``
    work, and so does a deployment under a path prefix.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises for a bad port
    except ValueError as error:
        raise EnrollInputError(f"--api {text!r} is not a URL: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EnrollInputError(
            f"--api {text!r} is not an http(s) URL: expected e.g. https://api.example.com"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise EnrollInputError(
            f"--api {text!r}: give only the scheme, host and path (no query or credentials)"
        )
    path = parts.path.rstrip("/")
    if path.endswith("/api"):
        path = path[: -len("/api")]
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class PlatformApi(Closing):
    """The few platform API calls a rig makes to enrol, over a ``requests.Session``.

    ``session`` is injectable (tests route it into the app in-process). Every failure is a
    PlatformError whose message says what failed and, for a 4xx, the API's own message.
    """

    def __init__(
        self,
        base_url: str,
        *,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self.base_url = normalize_api_url(base_url)
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._timeout = timeout

    def close(self) -> None:
        """Close the session if this object made it (an injected one is the caller's)."""
        if self._owns_session:
            self._session.close()

    # -- sign-in

    def nonce(self, address: str) -> NonceAnswer:
        """``GET /api/auth/nonce``: a nonce and the EIP-4361 message to sign."""
        return self._call(
            "GET",
            "/api/auth/nonce",
            NonceAnswer,
            doing="asking for a sign-in message",
            params={"address": address},
        )

    def verify(self, address: str, signature: str, nonce: str) -> str:
        """``POST /api/auth/verify``: the session token for a signed message."""
        answer = self._call(
            "POST",
            "/api/auth/verify",
            _TokenAnswer,
            doing="signing in with the wallet",
            json={"address": address, "signature": signature, "nonce": nonce},
            unauthorized="the platform refused the wallet's signature",
        )
        return answer.token

    def sign_in_with_key(self, private_key_hex: str) -> str:
        """Sign-In with Ethereum with a wallet key: nonce, EIP-191 signature, token."""
        address = wallet_address(private_key_hex)
        challenge = self.nonce(address)
        _check_sign_in_message(challenge, address)
        signature = sign_message(private_key_hex, challenge.message)
        return self.verify(address, signature, challenge.nonce)

    def whoami(self, token: str) -> str:
        """``GET /api/auth/me``: the address a token signs in as (checks the token)."""
        return self._call(
            "GET", "/api/auth/me", _MeAnswer, doing="checking the token", token=token
        ).address

    # -- devices

    def enrol(self, token: str, csr_pem: str, name: str) -> EnrolResult:
        """``POST /api/devices``: a worker and a certificate for the CSR's key."""
        return self._call(
            "POST",
            "/api/devices",
            EnrolResult,
            doing="enrolling the rig",
            token=token,
            json={"csr_pem": csr_pem, "name": name},
            expect=201,
        )

    def revoke(self, token: str, worker_id: str) -> None:
        """``DELETE /api/devices/{id}``: revoke a worker's certificate."""
        validate_worker_id(worker_id)
        self._send(
            "DELETE",
            f"/api/devices/{worker_id}",
            doing=f"revoking {worker_id}",
            token=token,
            expect=204,
        )

    # -- plumbing

    def _call(self, method: str, path: str, model: type[_A], *, doing: str, **kwargs: Any) -> _A:
        """Send a request and parse its JSON answer as ``model``."""
        response = self._send(method, path, doing=doing, **kwargs)
        try:
            return model.model_validate(response.json())
        except (ValueError, ValidationError):
            raise PlatformError(
                f"{doing} failed: unexpected answer from {self.base_url + path} "
                f"(HTTP {response.status_code}); is --api the platform API's URL?",
                status=response.status_code,
            ) from None

    def _send(
        self,
        method: str,
        path: str,
        *,
        doing: str,
        token: str | None = None,
        expect: int = 200,
        unauthorized: str = "the platform refused the token: it is invalid or expired "
        "(get a new one, or sign in with --wallet-key-file)",
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request; PlatformError unless it answers ``expect``."""
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = self._session.request(
                method,
                self.base_url + path,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,  # a redirected POST loses its body
                **kwargs,
            )
        except requests.Timeout:
            raise PlatformError(
                f"{doing} failed: the platform API at {self.base_url} did not answer in time"
            ) from None
        except requests.RequestException as error:
            raise PlatformError(
                f"{doing} failed: cannot reach the platform API at {self.base_url} "
                f"({_reason(error)}); check --api and the network"
            ) from None
        if response.status_code != expect:
            raise self._refusal(response, doing, unauthorized)
        return response

    def _refusal(self, response: requests.Response, doing: str, unauthorized: str) -> PlatformError:
        status = response.status_code
        code, message = _error_body(response)
        if 300 <= status < 400:
            where = response.headers.get("Location", "elsewhere")
            return PlatformError(
                f"{doing} failed: the API redirects to {where}; use that as --api",
                status=status,
            )
        if status == 401:
            detail = f" ({message})" if message else ""
            return PlatformError(f"{unauthorized}{detail}", status=status, code=code)
        if message is None:
            return PlatformError(
                f"{doing} failed: unexpected answer from {response.url or self.base_url} "
                f"(HTTP {status}); is --api the platform API's URL?",
                status=status,
            )
        kind = "the platform refused" if status < 500 else "the platform failed"
        return PlatformError(
            f"{doing} failed: {kind} (HTTP {status}, {code}): {message}",
            status=status,
            code=code,
        )


def _check_sign_in_message(challenge: NonceAnswer, address: str) -> None:
    """Sign only an EIP-4361 sign-in for this address and nonce, never arbitrary text.

    The wallet key signs what the API hands out, so a wrong or hostile ``--api`` must not
    get a signature it could replay elsewhere as anything but this sign-in.
    """
    lines = challenge.message.split("\n")
    if (
        len(lines) < 3
        or not lines[0].endswith(" wants you to sign in with your Ethereum account:")
        or lines[1] != address
        or f"Nonce: {challenge.nonce}" not in lines
    ):
        raise PlatformError(
            "signing in with the wallet failed: the API's sign-in message is not an EIP-4361 "
            f"message for {address}; not signing it (is --api the platform API's URL?)"
        )


def _error_body(response: requests.Response) -> tuple[str | None, str | None]:
    """``(code, message)`` of the API's ``{"error": {"code", "message"}}``, or Nones."""
    try:
        body = response.json()
    except ValueError:
        return None, None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return None, None
    code = error.get("code")
    return (code if isinstance(code, str) else "error"), error["message"][:500]


def _reason(error: requests.RequestException) -> str:
    """A short cause for a failed request, e.g. ``[Errno 111] Connection refused``."""
    cause: object = error
    inner = error.args[0] if error.args else None
    if isinstance(getattr(inner, "reason", None), BaseException):
        cause = inner.reason  # type: ignore[union-attr]
    text = _CONNECTION_PREFIX.sub("", str(cause)) or type(cause).__name__
    return text if len(text) <= 200 else text[:200] + "…"
