"""A miner on a lifeline stops when the program holding the other end is gone, and exits
outright when stopping takes longer than its grace. The child is a real process: the test
holds the pipe's write end as its starter would, and lets go of it as the starter's death
would."""

from __future__ import annotations

import os
import subprocess
import sys

# Stops when told to, then hangs as a miner stuck on its way out would.
CHILD = """
import sys, threading
from miner.lifeline import watch_lifeline

stop = threading.Event()
watch_lifeline(int(sys.argv[1]), stop, grace=float(sys.argv[2]))
print("watching", flush=True)
stop.wait()
print("stopping", flush=True)
threading.Event().wait()
"""
TIMEOUT = 20  # seconds


def _child(grace: float) -> tuple[subprocess.Popen[bytes], int]:
    read_end, write_end = os.pipe()
    try:
        child = subprocess.Popen(  # noqa: S603 (our own interpreter and script)
            [sys.executable, "-c", CHILD, str(read_end), str(grace)],
            stdout=subprocess.PIPE,
            pass_fds=(read_end,),
        )
    finally:
        os.close(read_end)
    assert child.stdout is not None
    assert child.stdout.readline() == b"watching\n"
    return child, write_end


def test_a_closed_lifeline_stops_the_miner_and_a_stuck_stop_ends_it() -> None:
    child, lifeline = _child(grace=0.5)
    try:
        os.close(lifeline)  # the starter is gone
        assert child.wait(timeout=TIMEOUT) == 1
        assert child.stdout is not None
        assert child.stdout.read() == b"stopping\n"
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
