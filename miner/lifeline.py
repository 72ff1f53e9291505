"""A miner started by another program stops when that program is gone, however it went.

The starter (``xenblocks local``) creates a pipe, passes its read end to the miner
(``--lifeline-fd``) and keeps the write end open without ever writing to it. When the starter
exits, for any reason (Ctrl-C, SIGKILL, the OOM killer, a closed terminal), the kernel
closes its end and the miner's read returns end-of-file: the miner stops as on Ctrl-C, and
exits outright if it has not finished stopping ``grace`` seconds later. It works on every
platform, and there is no window in which the starter's death goes unnoticed: a pipe that
closed before the watch began reads end-of-file at once.

The miner's own hashing processes follow it in turn (``miner.backends.cpu`` workers watch
their parent).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading

log = logging.getLogger(__name__)


def watch_lifeline(fd: int, stop: threading.Event, *, grace: float) -> threading.Thread:
    """Set ``stop`` once the pipe ``fd`` closes at the other end; ``os._exit(1)`` after
    ``grace`` more seconds should the process still be running. The watch is a daemon
    thread: a miner that stops by itself is not held up by it."""

    def watch() -> None:
        with contextlib.suppress(OSError):  # a bad descriptor: as good as closed
            while os.read(fd, 64):
                pass  # the starter never writes; anything it might is ignored
        log.warning("the program that started this miner is gone: stopping")
        stop.set()
        threading.Event().wait(grace)
        log.error("still running %gs after the program that started it went: exiting", grace)
        os._exit(1)

    thread = threading.Thread(target=watch, name="lifeline", daemon=True)
    thread.start()
    return thread
