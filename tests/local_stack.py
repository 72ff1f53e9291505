"""``xenblocks local`` in a thread, on free ports, for integration tests that need handles
on its services (the broker, the node)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from functions.local.stack import LocalHandles, LocalOptions, run_local


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_stack(state_dir: Path, **options: Any) -> Iterator[LocalHandles]:
    """The stack with ``options`` (rules, node port…) until the block ends."""
    settings = LocalOptions(
        dynamodb_port=free_port(),
        mqtt_port=free_port(),
        api_port=free_port(),
        ws_port=free_port(),
        state_dir=state_dir,
        # No local EVM chain unless asked: these tests are about rigs and the node
        # (test_local_stack.py and test_chain_deposits.py cover the chain).
        **{"chain": False, **options},
    )
    handles: list[LocalHandles] = []
    stop = threading.Event()
    runner = threading.Thread(
        target=run_local, args=(settings,), kwargs={"stop": stop, "on_started": handles.append}
    )
    runner.start()
    try:
        deadline = time.monotonic() + 90
        while not handles:
            assert runner.is_alive(), "the stack stopped while starting"
            assert time.monotonic() < deadline, "the stack never started"
            time.sleep(0.2)
        yield handles[0]
    finally:
        stop.set()
        runner.join(timeout=60)
