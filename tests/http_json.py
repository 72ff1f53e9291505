"""A JSON HTTP call in integration tests, to the API or the node of a stack on loopback."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


def call(
    url: str,
    *,
    token: str | None = None,
    body: Any = None,
    method: str | None = None,
    timeout: float = 15.0,
) -> Any:
    """GET ``url``, or POST ``body`` to it as JSON (``method`` says otherwise), with
    ``token`` as the bearer; the answer's JSON (None for an empty answer). An error status
    raises ``urllib.error.HTTPError``."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (loopback)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (loopback)
        return json.loads(response.read() or b"null")
