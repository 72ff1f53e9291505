"""The CPU backend's worker processes die with the process that owns the pool, however it
dies: SIGKILL leaves it no way to stop them, and nothing of the pool may be left running
(workers mid-chunk, the fork server, the resource tracker)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

GONE_TIMEOUT = 20.0  # seconds

# An owner with two workers busy on seconds of hashing when it is killed.
OWNER = """
from miner.backends.base import KeyRange
from miner.backends.cpu import CpuBackend

backend = CpuBackend(processes=2)
backend.start(KeyRange("ab" * 24, 0, 2), bytes(20), 8).result()
busy = backend.start(KeyRange("cd" * 24, 0, 4000), bytes(20), 1024)
print(*backend.worker_pids(), flush=True)
busy.result()
"""


def _group(pgid: int) -> list[str]:
    """Live processes (zombies are dead) of the process group ``pgid``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            # "pid (comm) state ppid pgrp …": the comm may hold spaces and parentheses.
            fields = (proc / "stat").read_text().rpartition(")")[2].split()
            if fields[0] not in "ZX" and int(fields[2]) == pgid:
                found.append(f"{proc.name}: {(proc / 'cmdline').read_bytes()[:200]!r}")
    return found


def test_a_killed_owner_takes_its_workers_with_it() -> None:
    owner = subprocess.Popen(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", OWNER], stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert owner.stdout is not None
        workers = [int(pid) for pid in owner.stdout.readline().split()]
        assert len(workers) == 2
        # The owner, its fork server and resource tracker, and the two workers.
        assert len(_group(owner.pid)) >= 3

        owner.send_signal(signal.SIGKILL)
        owner.wait()

        deadline = time.monotonic() + GONE_TIMEOUT
        while left := _group(owner.pid):
            assert time.monotonic() < deadline, f"still running: {left}"
            time.sleep(0.1)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(owner.pid, signal.SIGKILL)
        owner.wait()
        if owner.stdout is not None:
            owner.stdout.close()
