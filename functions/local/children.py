"""The processes ``xenblocks local`` starts die with it, however it dies.

On the way out (Ctrl-C, SIGTERM) the stack stops its children in order: the miners flush
their outboxes, the broker saves its sessions. When it dies without a way out (SIGKILL, the
OOM killer, a crash), nobody is left to stop them, so each child is tied to the stack when
it starts:

* on Linux, by the kernel: ``die_with_parent()`` is a ``preexec_fn`` that asks for SIGTERM
  when the parent goes (``prctl(PR_SET_PDEATHSIG)``, kept across ``exec``), for every child,
  mosquitto included;
* everywhere, by a lifeline pipe (``lifeline()``), for children of ours that watch it
  (``xenblocks-miner fleet --lifeline-fd``, see ``miner.lifeline``): they stop when it
  closes, and exit outright when stopping takes too long.

The kernel's signal comes when the *thread* that started the child ends, not only the
process: start children from the thread that lives as long as they should (the stack's).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable, Iterator

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(signum: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` for ``subprocess.Popen``: the child gets ``signum`` when this process
    (the thread calling Popen) dies. None where the kernel has no such signal (not Linux)."""
    if sys.platform != "linux":
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here, not in the child
    parent = os.getpid()

    def preexec() -> None:
        if prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signum), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # the parent died before the signal was asked for
            raise ChildProcessError("the process starting this one is already gone")

    return preexec


@contextlib.contextmanager
def lifeline() -> Iterator[int]:
    """A pipe's read end to pass to a child (``pass_fds``); this process holds the write end
    until the ``with`` ends, and the child reads end-of-file then, or as soon as we die.

    Nothing is ever written. The write end is not inheritable, so no other child of ours
    keeps the pipe open after we die."""
    read_end, write_end = os.pipe()
    try:
        yield read_end
    finally:
        os.close(read_end)
        os.close(write_end)
