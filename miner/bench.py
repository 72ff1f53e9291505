"""``xenblocks-miner bench``: each backend's hashrate against plain argon2-cffi, same run.

For every difficulty the run first measures plain argon2-cffi: a bare ``hash_secret_raw``
loop in 1 process (the baseline every result is compared with), then in 2, 4, … up to N
processes side by side (N = ``--processes``, default one per core); the best of those is
what a rig owner gets from the stock library with no miner at all, and what the ``cpu``
backend has to match. Then each backend hashes for ``seconds`` the way the mining loop
drives it: batches of ``batch_size(difficulty)`` keys, two in flight, counted over a window
that starts and ends at batch completions with the pipeline full. Every measurement runs
after a short warm-up (pool start, GPU kernels compiled, clocks up) that is not counted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import secrets
import statistics
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from miner.backends.base import (
    BackendError,
    HashBackend,
    KeyRange,
    PendingBatch,
    check_difficulty,
    new_stem,
)
from miner.backends.cpu import SALT_LENGTH, hash_one, mp_context
from miner.backends.registry import BACKENDS, available_devices, make_backend
from protocol.xenblocks import HASH_LENGTH, MIN_DIFFICULTY

PROG = "xenblocks-miner bench"
START_TIMEOUT = 120.0  # seconds for plain workers to start up and reach the barrier

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BenchResult:
    """One backend at one difficulty, with the plain argon2-cffi rates of the same run."""

    backend: str
    difficulty: int
    hashes_per_second: float
    baseline_hashes_per_second: float  # plain argon2-cffi, 1 process
    device: str
    plain_best_hashes_per_second: float  # the best plain argon2-cffi setup measured
    plain_best_processes: int
    plain_hashes_per_second: dict[int, float]  # process count → rate
    hashes: int  # hashed by the backend in the measured window
    seconds: float  # the measured window
    batch_size: int
    plain_threads_hashes_per_second: dict[int, float] | None = None  # thread count → rate

    @property
    def speedup(self) -> float:
        """Times the 1-process baseline."""
        return self.hashes_per_second / self.baseline_hashes_per_second

    @property
    def vs_best_plain(self) -> float:
        """Times the best plain argon2-cffi setup (≥ 1.0: the backend is at least as fast)."""
        return self.hashes_per_second / self.plain_best_hashes_per_second

    def to_json(self) -> dict[str, Any]:
        line: dict[str, Any] = {
            "backend": self.backend,
            "difficulty": self.difficulty,
            "hashes_per_second": round(self.hashes_per_second, 2),
            "baseline_hashes_per_second": round(self.baseline_hashes_per_second, 2),
            "device": self.device,
            "speedup": round(self.speedup, 3),
            "plain_best_hashes_per_second": round(self.plain_best_hashes_per_second, 2),
            "plain_best_processes": self.plain_best_processes,
            "vs_best_plain": round(self.vs_best_plain, 3),
            "plain_hashes_per_second": _by_count(self.plain_hashes_per_second),
            "hashes": self.hashes,
            "seconds": round(self.seconds, 3),
            "batch_size": self.batch_size,
        }
        if self.plain_threads_hashes_per_second is not None:
            line["plain_threads_hashes_per_second"] = _by_count(
                self.plain_threads_hashes_per_second
            )
        return line


def _by_count(rates: dict[int, float]) -> dict[str, float]:
    return {str(count): round(rate, 2) for count, rate in sorted(rates.items())}


# ---- plain argon2-cffi ------------------------------------------------------------------


class _Barrier(Protocol):
    def wait(self, timeout: float | None = None) -> int: ...


class _Sink(Protocol):
    def put(self, item: Any, /) -> None: ...


def _plain_loop(difficulty: int, seconds: float, warmup: float, barrier: _Barrier) -> float:
    """Hash in a bare loop: warm up, wait for the others, then count for ``seconds``."""
    salt = secrets.token_bytes(SALT_LENGTH)
    stem = new_stem()
    counter = 0
    begin = time.perf_counter()
    while True:
        hash_one(f"{stem}{counter:016x}".encode("ascii"), salt, difficulty)
        counter += 1
        if time.perf_counter() - begin >= warmup:
            break
    barrier.wait(timeout=START_TIMEOUT)
    hashes = 0
    begin = time.perf_counter()
    while True:
        hash_one(f"{stem}{counter + hashes:016x}".encode("ascii"), salt, difficulty)
        hashes += 1
        elapsed = time.perf_counter() - begin
        if elapsed >= seconds:
            return hashes / elapsed


def _plain_worker(
    difficulty: int, seconds: float, warmup: float, barrier: _Barrier, results: _Sink
) -> None:
    try:
        results.put((_plain_loop(difficulty, seconds, warmup, barrier), None))
    except Exception as error:
        results.put((0.0, repr(error)))


def measure_plain(
    difficulty: int, seconds: float, workers: int, *, threads: bool = False, warmup: float = 1.0
) -> float:
    """H/s of ``workers`` bare argon2-cffi loops running together (processes, or threads of
    this process: argon2-cffi releases the GIL while it hashes)."""
    check_difficulty(difficulty)
    deadline = time.monotonic() + START_TIMEOUT + warmup + seconds + 60.0
    args = (difficulty, seconds, warmup)
    if threads:
        sink: queue.Queue[tuple[float, str | None]] = queue.Queue()
        thread_barrier = threading.Barrier(workers)
        runners = [
            threading.Thread(target=_plain_worker, args=(*args, thread_barrier, sink), daemon=True)
            for _ in range(workers)
        ]
        for runner in runners:
            runner.start()
        try:
            return _collect(sink, workers, deadline, lambda: None)
        finally:
            for runner in runners:
                runner.join(timeout=max(0.0, deadline - time.monotonic()))
    context = mp_context()
    results = context.Queue()
    process_barrier = context.Barrier(workers)
    processes = [
        context.Process(target=_plain_worker, args=(*args, process_barrier, results), daemon=True)
        for _ in range(workers)
    ]
    for process in processes:
        process.start()

    def check_alive() -> None:
        if any(process.exitcode not in (None, 0) for process in processes):
            raise BackendError("a plain argon2-cffi benchmark process died")

    try:
        return _collect(results, workers, deadline, check_alive)
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
        results.close()


def _collect(source: Any, workers: int, deadline: float, check: Callable[[], None]) -> float:
    total = 0.0
    for _ in range(workers):
        while True:
            check()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BackendError("the plain argon2-cffi benchmark did not finish in time")
            try:
                rate, error = source.get(timeout=min(1.0, remaining))
                break
            except queue.Empty:
                continue
        if error is not None:
            raise BackendError(f"plain argon2-cffi benchmark failed: {error}")
        total += rate
    return float(total)


def plain_counts(processes: int) -> list[int]:
    """Which process counts to try: all up to 4, else the powers of two and N itself."""
    if processes <= 4:
        return list(range(1, processes + 1))
    counts = {processes}
    count = 1
    while count < processes:
        counts.add(count)
        count *= 2
    return sorted(counts)


# ---- a backend, driven like the mining loop ---------------------------------------------


def measure_backend(
    backend: HashBackend,
    difficulty: int,
    seconds: float,
    *,
    warmup: float = 1.0,
    batch_size: int | None = None,
) -> tuple[int, float, int]:
    """(hashes, seconds, batch size) of ``backend`` kept busy with two batches in flight,
    each of ``batch_size`` keys (default: what the backend asks for).

    The pipeline never drains inside the window: it opens when a batch completes (after at
    least one batch and ``warmup`` seconds) and closes when the first batch to complete
    after ``seconds`` does, counting the batches completed in between. That is how a miner
    runs, for hours: the last batch's stragglers, waiting for it with nothing else queued,
    are no part of it.
    """
    size = batch_size or backend.batch_size(difficulty)
    salt = secrets.token_bytes(SALT_LENGTH)
    keys = KeyRange(new_stem(), 0, size)
    in_flight: deque[PendingBatch] = deque()

    def launch() -> None:
        nonlocal keys
        in_flight.append(backend.start(keys, salt, difficulty))
        keys = keys.following(size)

    def finish() -> int:
        if len(in_flight.popleft().result()) != size * HASH_LENGTH:
            raise BackendError(f"{backend.name} returned the wrong number of hashes")
        return size

    launch()
    launch()
    begin = time.perf_counter()
    while True:  # warm-up: the pool or kernels start, the clocks rise
        finish()
        launch()
        if time.perf_counter() - begin >= warmup:
            break
    hashes = 0
    begin = time.perf_counter()
    while True:
        hashes += finish()
        launch()
        elapsed = time.perf_counter() - begin
        if elapsed >= seconds:
            break
    while in_flight:  # untimed
        finish()
    return hashes, elapsed, size


# ---- the whole run ----------------------------------------------------------------------


def run_bench(
    backends: Sequence[str],
    difficulties: Sequence[int],
    *,
    seconds: float,
    devices: Sequence[int] | None = None,
    processes: int | None = None,
    compare_threads: bool = False,
    warmup: float | None = None,
    batch_size: int | None = None,
    rounds: int = 1,
    progress: Progress | None = None,
) -> Generator[BenchResult, None, None]:
    """Measure each backend (each of ``devices`` for a GPU backend; default every GPU) at
    each difficulty, against plain argon2-cffi in 1..``processes`` processes (and threads
    too with ``compare_threads``), each for ``seconds``.

    With ``rounds`` > 1 every measurement is cut into that many slices, taken in turn
    (plain 1, plain 2, …, backend, then again), so a machine whose background load changes
    during the run weighs on every figure alike. ``batch_size`` overrides the backends' own
    (tests). A backend that cannot start raises ``BackendError`` before anything is
    measured."""
    for difficulty in difficulties:
        check_difficulty(difficulty)
    for name in backends:
        if name not in BACKENDS:
            raise ValueError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    workers = processes if processes is not None else (os.cpu_count() or 1)
    if workers < 1:
        raise ValueError("processes must be at least 1")
    warm = warmup if warmup is not None else min(2.0, max(0.1, seconds / rounds / 5))
    say = progress or (lambda _: None)

    opened: list[tuple[str, HashBackend]] = []
    try:
        for name in backends:
            indices = [0] if name == "cpu" else list(devices or available_devices(name) or [0])
            for index in indices:
                opened.append((name, make_backend(name, index, processes=workers)))
        for difficulty in difficulties:
            yield from _one_difficulty(
                opened,
                difficulty,
                seconds / rounds,
                rounds=rounds,
                workers=workers,
                compare_threads=compare_threads,
                warmup=warm,
                batch_size=batch_size,
                say=say,
            )
    finally:
        for _, backend in opened:
            backend.close()


def _one_difficulty(
    opened: Sequence[tuple[str, HashBackend]],
    difficulty: int,
    seconds: float,
    *,
    rounds: int,
    workers: int,
    compare_threads: bool,
    warmup: float,
    batch_size: int | None,
    say: Progress,
) -> Iterator[BenchResult]:
    """Every setup at ``difficulty``: ``rounds`` slices of ``seconds`` each, interleaved."""
    counts = plain_counts(workers)
    plain: dict[int, list[float]] = {count: [] for count in counts}
    threads: dict[int, list[float]] = {count: [] for count in counts}
    done = [(0, 0.0, 0) for _ in opened]  # hashes, seconds, batch size per backend
    for round_ in range(rounds):
        of = f" (round {round_ + 1} of {rounds})" if rounds > 1 else ""
        for count in counts:
            say(f"argon2-cffi, {count} process(es), m={difficulty}: {seconds:g} s{of}")
            plain[count].append(measure_plain(difficulty, seconds, count, warmup=warmup))
        for count in counts if compare_threads else []:
            say(f"argon2-cffi, {count} thread(s), m={difficulty}: {seconds:g} s{of}")
            threads[count].append(
                measure_plain(difficulty, seconds, count, threads=True, warmup=warmup)
            )
        for index, (name, backend) in enumerate(opened):
            say(f"{name} on {backend.device}, m={difficulty}: {seconds:g} s{of}")
            hashes, elapsed, size = measure_backend(
                backend,
                difficulty,
                seconds,
                warmup=warmup if round_ == 0 else 0.0,  # warm after round 1: one batch will do
                batch_size=batch_size,
            )
            done[index] = (done[index][0] + hashes, done[index][1] + elapsed, size)
    plain_rate = {count: statistics.fmean(rates) for count, rates in plain.items()}
    thread_rate = {count: statistics.fmean(rates) for count, rates in threads.items() if rates}
    best = max(plain_rate, key=lambda count: (plain_rate[count], -count))
    for (name, backend), (hashes, elapsed, size) in zip(opened, done, strict=True):
        yield BenchResult(
            backend=name,
            difficulty=difficulty,
            hashes_per_second=hashes / elapsed,
            baseline_hashes_per_second=plain_rate[1],
            device=backend.device,
            plain_best_hashes_per_second=plain_rate[best],
            plain_best_processes=best,
            plain_hashes_per_second=plain_rate,
            hashes=hashes,
            seconds=elapsed,
            batch_size=size,
            plain_threads_hashes_per_second=thread_rate if compare_threads else None,
        )


# ---- the command ------------------------------------------------------------------------


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        action="append",
        metavar="NAME",
        help=f"{' or '.join(BACKENDS)}; repeat or comma-separate for several (default: cpu)",
    )
    parser.add_argument(
        "--difficulty",
        default="1727",
        metavar="KIB[,KIB…]",
        help="comma-separated Argon2 memory costs in KiB (default: 1727)",
    )
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="how long each measurement runs (default 10)"
    )
    parser.add_argument(
        "--processes",
        type=int,
        help="CPU worker processes, and the most plain argon2-cffi processes tried "
        "(default: one per core)",
    )
    parser.add_argument(
        "--device", type=int, metavar="INDEX", help="the GPU to measure (default: every GPU)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per result line")


def run_bench_command(args: argparse.Namespace) -> int:
    try:
        backends = _backend_names(args.backend)
        difficulties = _difficulties(args.difficulty)
        if not args.seconds > 0:
            raise ValueError("--seconds must be positive")
        if args.processes is not None and args.processes < 1:
            raise ValueError("--processes must be at least 1")
        if args.device is not None and args.device < 0:
            raise ValueError("--device is a GPU index, 0 or more")
    except ValueError as error:
        return _fail(str(error))
    devices = None if args.device is None else [args.device]
    progress = None if args.json else _to_stderr
    results = run_bench(
        backends,
        difficulties,
        seconds=args.seconds,
        devices=devices,
        processes=args.processes,
        progress=progress,
    )
    try:
        with contextlib.closing(results):
            first = True
            for result in results:
                if args.json:
                    print(json.dumps(result.to_json()), flush=True)
                    continue
                if first:
                    print(_TABLE_HEADER)
                    first = False
                print(_table_row(result), flush=True)
    except BackendError as error:
        return _fail(str(error))
    return 0


def _backend_names(values: Sequence[str] | None) -> list[str]:
    names: list[str] = []
    for value in values or ["cpu"]:
        for name in (part.strip() for part in value.split(",")):
            if not name:
                continue
            if name not in BACKENDS:
                raise ValueError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
            if name not in names:
                names.append(name)
    if not names:
        raise ValueError("no backend named")
    return names


def _difficulties(text: str) -> list[int]:
    values: list[int] = []
    for part in (part.strip() for part in text.split(",")):
        try:
            value = int(part)
        except ValueError:
            raise ValueError(f"difficulty {part!r} is not a whole number of KiB") from None
        if value < MIN_DIFFICULTY:
            raise ValueError(f"difficulty must be at least {MIN_DIFFICULTY} KiB, not {value}")
        values.append(value)
    return values


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 2


def _to_stderr(message: str) -> None:
    print(f"  measuring {message}", file=sys.stderr, flush=True)


_TABLE_HEADER = (
    f"{'backend':<8} {'KiB':>7} {'H/s':>12} {'argon2 ×1':>11} {'speedup':>8} "
    f"{'best argon2 (procs)':>21} {'vs best':>8}  device"
)


def _table_row(result: BenchResult) -> str:
    best = f"{result.plain_best_hashes_per_second:,.1f} ({result.plain_best_processes})"
    return (
        f"{result.backend:<8} {result.difficulty:>7} {result.hashes_per_second:>12,.1f} "
        f"{result.baseline_hashes_per_second:>11,.1f} {result.speedup:>7.2f}× "
        f"{best:>21} {result.vs_best_plain:>7.2f}×  {result.device}"
    )
