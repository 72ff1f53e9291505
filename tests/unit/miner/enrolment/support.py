"""Test doubles for enrolment: a requests transport into the app in-process, canned answers,
and the ``enroll`` command run with captured output. No sockets."""

from __future__ import annotations

import argparse
import io
import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from miner.enrolment.command import add_enroll_arguments, run_enroll_command

API = "https://platform.test"


Rewrite = Callable[[str, str, Any], Any]


def _response(request: requests.PreparedRequest, status: int, content: bytes, headers: Any) -> Any:
    response = requests.Response()
    response.status_code = status
    response._content = content
    response.headers = CaseInsensitiveDict(headers)
    response.url = request.url or ""
    response.request = request
    response.encoding = "utf-8"
    return response


class AppTransport(BaseAdapter):
    """A requests transport that hands every request to the app in-process.

    ``rewrite(method, path, body)`` may change a JSON answer (a hostile or broken API).
    """

    def __init__(self, client: Any, rewrite: Rewrite | None = None) -> None:
        super().__init__()
        self.client = client
        self.rewrite = rewrite
        self.sent: list[tuple[str, str]] = []

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):  # type: ignore[no-untyped-def]
        parts = urlsplit(request.url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        self.sent.append((request.method, parts.path))
        answer = self.client.request(
            request.method, target, content=request.body, headers=dict(request.headers)
        )
        content = answer.content
        if self.rewrite is not None and content:
            body = self.rewrite(request.method, parts.path, answer.json())
            content = json.dumps(body).encode()
        headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
        return _response(request, answer.status_code, content, headers)

    def close(self) -> None:
        pass


class Canned(BaseAdapter):
    """A transport that answers every request the same way, or raises."""

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        raises: Exception | None = None,
    ) -> None:
        super().__init__()
        self.status, self.body, self.headers, self.raises = status, body, headers or {}, raises
        self.sent: list[str] = []

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):  # type: ignore[no-untyped-def]
        self.sent.append(request.url)
        if self.raises is not None:
            raise self.raises
        return _response(request, self.status, self.body, self.headers)

    def close(self) -> None:
        pass


def session_with(adapter: BaseAdapter) -> requests.Session:
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="xenblocks-miner enroll")
    add_enroll_arguments(parser)
    return parser.parse_args(list(argv))


def run_cli(
    *argv: str, session: requests.Session | None = None, environ: dict[str, str] | None = None
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_enroll_command(
        parse(*argv),
        environ=environ if environ is not None else {},
        session=session if session is not None else session_with(Canned(raises=AssertionError())),
        stdout=out,
        stderr=err,
    )
    return code, out.getvalue(), err.getvalue()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)
