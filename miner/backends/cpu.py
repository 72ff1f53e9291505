"""The ``cpu`` backend: argon2-cffi in a pool of worker processes, one per core.

Each batch (a ``KeyRange``) is cut into a few chunks per process, all submitted to the pool
at once; a worker derives its keys from (stem, start, count) itself, so only a few small
arguments cross the process boundary going out and the raw hashes (64 bytes each) coming
back. The mining loop keeps two batches in flight, so the workers always find the next
batch's chunks queued when they finish the current one. Several chunks per process rather
than one: the workers take chunks from one queue, so when a core is slowed (the miner's own
threads, another program) the others take over its share instead of waiting for it at the
end of every batch.

The pool starts lazily on the first batch and stays up until ``close``. Its processes come
from a ``forkserver`` (or ``spawn``) context, never a plain ``fork``: the miner runs threads
(paho-mqtt's network loop, the status line) and forking a threaded process can copy a held
lock into the child. A worker that dies (OOM killer, a stray signal) breaks the pool: every
batch still pending fails with ``BackendError`` and the next ``start`` builds a fresh pool.
A pool whose owner dies, however it dies, dies with it: each worker watches a pipe whose
only write end the owner holds (``_watch_owner``).
Every wait has a deadline, so a stuck pool is an error too, never a hang. Under forkserver
and spawn each worker imports the main module again, so a program using this backend keeps
its work under ``if __name__ == "__main__":`` (console scripts do).

Why processes and not threads (argon2-cffi releases the GIL while it hashes, so threads
would scale too): measured side by side (``bench/miner.py``), N threads and N processes
hash at the same rate within noise; processes keep the miner's own Python work (checking
every hash for a block, MQTT, the status line) off the workers' GIL, and let each worker
tune its allocator (``_keep_heap``), which makes the pool faster than plain argon2-cffi at
high difficulties.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

from argon2.low_level import Type, hash_secret_raw

from miner.backends.base import BackendError, KeyRange, check_difficulty, split_hashes
from protocol.xenblocks import ARGON2_VERSION, HASH_LENGTH, validate_key

if TYPE_CHECKING:
    from multiprocessing.context import ForkServerContext, SpawnContext

SALT_LENGTH = 20  # the mining address's bytes
BATCH_SECONDS = 0.6  # one core's time per process and batch (all cores busy: ~0.8 s)
CHUNKS_PER_PROCESS = 4  # finer than one chunk a process: a slowed core holds up less
MAX_KEYS_PER_PROCESS = 1 << 16  # caps a batch at the easiest difficulties (4 MiB of hashes)
MIN_TIMEOUT = 60.0  # seconds: covers starting the pool (interpreter start-up and imports)
TIMEOUT_FACTOR = 20.0  # a batch fails after this many times its expected duration
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc's mallopt parameters

_Chunk = tuple[ProcessPoolExecutor, Future[bytes]]  # a chunk's future and the pool running it


def mp_context() -> ForkServerContext | SpawnContext:
    """``forkserver`` where the platform has it, else ``spawn``: both safe beside threads."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


def cpu_model() -> str | None:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else None."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "model name" and value.strip():
            return " ".join(value.split())
    return None


def hash_one(key: bytes, salt: bytes, difficulty: int) -> bytes:
    """Argon2id v1.3, t=1, p=1, 64 bytes: the same call as ``protocol.xenblocks.argon2_raw``."""
    return hash_secret_raw(key, salt, 1, difficulty, 1, HASH_LENGTH, Type.ID, ARGON2_VERSION)


# ---- what runs inside a worker process -----------------------------------------------------


def _init_worker(owner: Connection) -> None:
    """Pool initializer: keep Argon2's memory mapped between hashes; exit with the owner."""
    _keep_heap()
    _watch_owner(owner)


def _keep_heap() -> None:
    """Have glibc serve every allocation from the heap and never give it back.

    libargon2 mallocs ``difficulty`` KiB per hash and frees it. Above glibc's mmap threshold
    (at most 32 MiB, so m ≳ 32768) each hash gets fresh pages from the kernel, and faulting
    in and zeroing 100 MiB costs about a quarter of a hash at m=100000 (25,000 page faults
    a hash, measured). Without mmap and without trimming, the freed block is reused as it
    is. A worker keeps one hash's memory, which it needs anyway. Not glibc: nothing to do.
    """
    if sys.platform != "linux":
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    mallopt(_M_MMAP_MAX, 0)


def _watch_owner(owner: Connection) -> None:
    """Exit as soon as the process that owns the pool is gone, however it went.

    ``owner`` is the read end of a pipe whose only write end the owner holds, so it reads
    end-of-file when the owner dies (SIGKILL, OOM) or closes the pool. The parent pid would
    not tell: under forkserver the parent is the fork server, which the workers themselves
    keep alive (each holds its liveness pipe), as they keep their task queue open; without
    this they would wait on it, or finish their chunk at full CPU, for ever.
    """

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            while True:
                owner.recv_bytes()  # nothing is ever sent
        os._exit(1)

    threading.Thread(target=watch, name="watch-owner", daemon=True).start()


def _hash_range(stem: str, start: int, count: int, salt: bytes, difficulty: int) -> bytes:
    """The raw hashes of keys ``stem + counter`` for ``count`` counters from ``start``."""
    return b"".join(
        hash_one(f"{stem}{counter:016x}".encode("ascii"), salt, difficulty)
        for counter in range(start, start + count)
    )


def _hash_list(keys: Sequence[str], salt: bytes, difficulty: int) -> bytes:
    return b"".join(hash_one(key.encode("ascii"), salt, difficulty) for key in keys)


# ---- the parent side --------------------------------------------------------------------


def _split(count: int, parts: int) -> list[tuple[int, int]]:
    """``count`` items as at most ``parts`` contiguous (offset, size) chunks, sizes ±1."""
    parts = max(1, min(parts, count))
    base, extra = divmod(count, parts)
    chunks: list[tuple[int, int]] = []
    offset = 0
    for index in range(parts):
        size = base + (1 if index < extra else 0)
        chunks.append((offset, size))
        offset += size
    return chunks


class _CpuBatch:
    """A batch in flight: one future per chunk, joined in key order by ``result``."""

    def __init__(self, backend: CpuBackend, chunks: list[_Chunk], count: int, timeout: float):
        self._backend = backend
        self._chunks = chunks
        self._count = count
        self._timeout = timeout
        self._raw: bytes | None = None

    def result(self) -> bytes:
        if self._raw is None:
            deadline = time.monotonic() + self._timeout
            parts = [
                self._backend.wait(chunk, deadline - time.monotonic()) for chunk in self._chunks
            ]
            raw = b"".join(parts)
            if len(raw) != self._count * HASH_LENGTH:
                raise BackendError("a CPU worker returned the wrong number of hashes")
            self._raw = raw
        return self._raw


class CpuBackend:
    """Argon2id on the CPU: argon2-cffi in ``processes`` worker processes (default: one per
    core)."""

    name = "cpu"

    def __init__(self, processes: int | None = None, *, batch_seconds: float = BATCH_SECONDS):
        count = (os.cpu_count() or 1) if processes is None else processes
        if count < 1:
            raise ValueError("processes must be at least 1")
        if batch_seconds <= 0:
            raise ValueError("batch_seconds must be positive")
        self._processes = count
        model = cpu_model()
        self._device = f"cpu × {count}" + (f" ({model})" if model else "")
        self._batch_seconds = batch_seconds
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._lifelines: dict[ProcessPoolExecutor, tuple[Connection, Connection]] = {}
        self._cost: tuple[float, float] | None = None  # seconds per hash: (fixed, per KiB)

    @property
    def processes(self) -> int:
        return self._processes

    @property
    def device(self) -> str:
        return self._device

    # ---- sizing ----

    def seconds_per_hash(self, difficulty: int) -> float:
        """Estimated time of one hash on one core at ``difficulty``.

        Argon2 with t=1 fills and mixes ``difficulty`` 1-KiB blocks once, so a hash costs a
        fixed part plus a part linear in the memory; both are measured once, in this
        process, from a few dozen milliseconds of hashing at 8 and 1024 KiB.
        """
        if self._cost is None:
            self._cost = _calibrate()
        fixed, per_kib = self._cost
        return fixed + per_kib * difficulty

    def batch_size(self, difficulty: int) -> int:
        check_difficulty(difficulty)
        per_process = int(self._batch_seconds / self.seconds_per_hash(difficulty))
        return max(1, min(MAX_KEYS_PER_PROCESS, per_process)) * self._processes

    # ---- hashing ----

    def start(self, keys: KeyRange, salt: bytes, difficulty: int) -> _CpuBatch:
        _check(salt, difficulty)
        chunks = [
            self._submit(_hash_range, keys.stem, keys.start + offset, size, salt, difficulty)
            for offset, size in _split(keys.count, self._processes * CHUNKS_PER_PROCESS)
        ]
        return _CpuBatch(self, chunks, keys.count, self._timeout(keys.count, difficulty))

    def hash_keys(self, keys: Sequence[str], salt: bytes, difficulty: int) -> list[bytes]:
        _check(salt, difficulty)
        keys = [validate_key(key) for key in keys]
        if not keys:
            return []
        chunks = [
            self._submit(_hash_list, keys[offset : offset + size], salt, difficulty)
            for offset, size in _split(len(keys), self._processes * CHUNKS_PER_PROCESS)
        ]
        batch = _CpuBatch(self, chunks, len(keys), self._timeout(len(keys), difficulty))
        return split_hashes(batch.result())

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            self._stop_pool(executor)

    def worker_pids(self) -> list[int]:
        """The pool's live worker processes (diagnostics and tests); empty before a batch."""
        with self._lock:
            executor = self._executor
        if executor is None:
            return []
        return [pid for pid, process in list(executor._processes.items()) if process.is_alive()]

    # ---- the pool ----

    def wait(self, chunk: _Chunk, timeout: float) -> bytes:
        """One chunk's hashes; a dead, stuck or closed pool is a ``BackendError``."""
        executor, future = chunk
        try:
            return future.result(timeout=max(0.0, timeout))
        except BrokenProcessPool as error:
            self._discard(executor)
            raise BackendError("a CPU worker process died; the pool will restart") from error
        except FutureTimeout as error:
            self._discard(executor)
            raise BackendError("CPU workers did not answer in time; pool terminated") from error
        except CancelledError as error:
            raise BackendError("the CPU backend was closed while hashing") from error
        except Exception as error:  # argon2's own errors, pickling failures
            raise BackendError(f"CPU hashing failed: {error}") from error

    def _submit(self, fn: Callable[..., bytes], *args: object) -> _Chunk:
        for attempt in (1, 2):
            executor = self._pool()
            try:
                return executor, executor.submit(fn, *args)
            except (BrokenProcessPool, RuntimeError) as error:
                # Broken by a dead worker (or shut down by a concurrent close): start over once.
                self._discard(executor)
                if attempt == 2:
                    raise BackendError(f"cannot start CPU workers: {error}") from error
        raise AssertionError("unreachable")

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                context = mp_context()
                # The workers get the read end; the write end never leaves this process.
                reader, writer = context.Pipe(duplex=False)
                self._executor = ProcessPoolExecutor(
                    max_workers=self._processes,
                    mp_context=context,
                    initializer=_init_worker,
                    initargs=(reader,),
                )
                self._lifelines[self._executor] = (reader, writer)
            return self._executor

    def _discard(self, executor: ProcessPoolExecutor) -> None:
        """Kill ``executor``; if it is the current pool, the next batch starts a fresh one."""
        with self._lock:
            if self._executor is executor:
                self._executor = None
        self._stop_pool(executor)

    def _stop_pool(self, executor: ProcessPoolExecutor) -> None:
        _terminate(executor)
        with self._lock:
            lifeline = self._lifelines.pop(executor, ())
        for end in lifeline:
            end.close()

    def _timeout(self, count: int, difficulty: int) -> float:
        expected = count * self.seconds_per_hash(difficulty) / self._processes
        return max(MIN_TIMEOUT, TIMEOUT_FACTOR * expected)


def _check(salt: bytes, difficulty: int) -> None:
    check_difficulty(difficulty)
    if len(salt) != SALT_LENGTH:
        raise ValueError(f"salt must be {SALT_LENGTH} bytes")


def _terminate(executor: ProcessPoolExecutor) -> None:
    """Stop ``executor`` now: kill its workers rather than wait for their chunks."""
    processes = list((executor._processes or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join(timeout=5)
    # The manager thread sees the workers gone, fails what was pending and exits.
    executor.shutdown(wait=True)


def _calibrate() -> tuple[float, float]:
    """(fixed seconds, seconds per KiB) of one hash on this machine, from a short run."""
    salt = bytes(SALT_LENGTH)

    def timed(difficulty: int, budget: float) -> float:
        hashes = 0
        begin = time.perf_counter()
        while True:
            hash_one(b"%064x" % hashes, salt, difficulty)
            hashes += 1
            elapsed = time.perf_counter() - begin
            if elapsed >= budget and hashes >= 3:
                return elapsed / hashes

    small, large = 8, 1024
    at_small, at_large = timed(small, 0.02), timed(large, 0.04)
    per_kib = max((at_large - at_small) / (large - small), 1e-9)
    fixed = max(at_small - per_kib * small, 1e-6)
    return fixed, per_kib
