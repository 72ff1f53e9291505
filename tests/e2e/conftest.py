"""The end-to-end tests' platform: ``xenblocks local`` as a newcomer runs it, as a subprocess.

Each test gets its own state directory and free ports; the stack stops with Ctrl-C (SIGINT),
must exit cleanly, and must leave nothing running (broker, miners, their hashing workers).
A test may kill the stack instead (``LocalPlatform.kill``): then nothing may outlive it
either.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT = 120
# How long the stack's children may take to go once it has: a killed stack's miners stop as
# on Ctrl-C, or exit outright 15 s later (miner.fleet.LIFELINE_GRACE_SECONDS).
GONE_TIMEOUT = 40


@dataclass
class LocalPlatform:
    local: dict[str, Any]  # its local.json
    process: subprocess.Popen[bytes]
    state: Path
    killed: bool = False

    def kill(self) -> None:
        """SIGKILL the stack: no way out, nothing stopped in order."""
        self.killed = True
        self.process.kill()
        self.process.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _local_platform(directory: Path, options: tuple[str, ...]) -> Iterator[LocalPlatform]:
    state = directory / "state"
    ports = {name: _free_port() for name in ("dynamodb", "mqtt", "api", "ws")}
    command = [
        sys.executable,
        "-m",
        "tools.cli",
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
    platform = LocalPlatform({}, process, state)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not (state / "local.json").exists():
            assert process.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "xenblocks local did not start"
            time.sleep(0.2)
        platform.local = json.loads((state / "local.json").read_text())
        yield platform
    finally:
        if not platform.killed:
            process.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            code = process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGUSR1)  # the stack prints its threads' stacks
            time.sleep(2)
            process.kill()
            process.wait()
            log.close()
            # The stack dumps its threads' tracebacks when its stop hangs: show them.
            raise AssertionError(
                "xenblocks local did not stop in 90s:\n" + log_path.read_text()[-12000:]
            ) from None
        finally:
            log.close()
        if not platform.killed:
            assert code == 0, log_path.read_text()[-3000:]
        _assert_nothing_left(state, platform.local.get("miners_pid"))


def _assert_nothing_left(state: Path, miners_pid: int | None, also: tuple[str, ...] = ()) -> None:
    """No process of the stack survives it: broker, miners, their hashing workers (those
    that name the state directory, and all of the miners' process group). Polled for a
    while: a stack that was killed leaves its children to stop by themselves."""
    deadline = time.monotonic() + GONE_TIMEOUT
    while leftovers := _survivors(state, miners_pid, also):
        assert time.monotonic() < deadline, f"still running after {GONE_TIMEOUT}s: {leftovers}"
        time.sleep(0.2)


def _survivors(state: Path, miners_pid: int | None, also: tuple[str, ...] = ()) -> list[str]:
    """Live processes (zombies are dead) naming ``state``, in the group ``miners_pid``, or
    whose command line holds one of ``also``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            # "pid (comm) state ppid pgrp …": the comm may hold spaces and parentheses.
            fields = (proc / "stat").read_text().rpartition(")")[2].split()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if fields[0] in "ZX":
                continue
            named = str(state) in cmdline or any(text in cmdline for text in also)
            if named or (miners_pid is not None and int(fields[2]) == miners_pid):
                found.append(f"{proc.name}: {cmdline.strip() or '?'}")
    return found


@pytest.fixture
def launch_platform(tmp_path: Path) -> Iterator[Callable[..., LocalPlatform]]:
    """``launch_platform("--miners=2", …)`` runs ``xenblocks local`` with those options until
    the test ends (or kills it), and returns it."""
    with contextlib.ExitStack() as stack:

        def launch(*options: str) -> LocalPlatform:
            return stack.enter_context(_local_platform(tmp_path, options))

        yield launch


@pytest.fixture
def start_platform(
    launch_platform: Callable[..., LocalPlatform],
) -> Callable[..., dict[str, Any]]:
    """``start_platform("--miners=2", …)``: the same, returning its local.json."""
    return lambda *options: launch_platform(*options).local
