"""The end-to-end tests' platform: ``xenblocks local`` as a newcomer runs it, as a subprocess.

Each test gets its own state directory and free ports; the stack stops with Ctrl-C (SIGINT),
must exit cleanly, and must leave nothing running (broker, miners, their hashing workers).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _local_platform(directory: Path, options: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    state = directory / "state"
    ports = {name: _free_port() for name in ("dynamodb", "mqtt", "api", "ws")}
    command = [
        sys.executable,
        "-m",
        "functions.cli",
        "local",
        f"--state-dir={state}",
        f"--dynamodb-port={ports['dynamodb']}",
        f"--mqtt-port={ports['mqtt']}",
        f"--api-port={ports['api']}",
        f"--ws-port={ports['ws']}",
        *options,
    ]
    log_path = directory / "stack.log"
    log = log_path.open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    local: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not (state / "local.json").exists():
            assert process.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "xenblocks local did not start"
            time.sleep(0.2)
        local = json.loads((state / "local.json").read_text())
        yield local
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            code = process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        finally:
            log.close()
        assert code == 0, log_path.read_text()[-3000:]
        _assert_nothing_left(state, local.get("miners_pid"))


def _assert_nothing_left(state: Path, miners_pid: int | None) -> None:
    """No process of the stack survives it: broker, miners, their hashing workers."""
    if miners_pid is not None:
        with pytest.raises(ProcessLookupError):
            os.killpg(miners_pid, 0)  # the miners' process group, workers included
    leftovers = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if str(state) in cmdline:
                leftovers.append(cmdline)
    assert leftovers == []


@pytest.fixture
def start_platform(tmp_path: Path) -> Iterator[Callable[..., dict[str, Any]]]:
    """``start_platform("--miners=2", …)`` runs ``xenblocks local`` with those options until
    the test ends, and returns its local.json."""
    with contextlib.ExitStack() as stack:

        def start(*options: str) -> dict[str, Any]:
            return stack.enter_context(_local_platform(tmp_path, options))

        yield start
