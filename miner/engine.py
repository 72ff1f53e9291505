"""The mining loop: every device hashes the current job and reports what it finds.

``DeviceMiner`` drives one backend with two batches in flight, so the device computes the
next batch while the host scans the last. ``MiningEngine`` runs one ``DeviceMiner`` per
device: in a thread for the CPU backend (whose pool already spreads over the cores) and in
a worker process per GPU, so each GPU has its own host core for scanning. The job changes
under it at any time (a lease starts, the difficulty moves, a pause); a batch started under
an old job is still scanned against that job, so nothing found is dropped.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from typing import Any, Protocol

from miner.backends.base import HashBackend, KeyRange, PendingBatch
from miner.search import Find, Job, scan

log = logging.getLogger(__name__)

FindCallback = Callable[[Find], None]
ErrorCallback = Callable[[int, str], None]
BackendFactory = Callable[[], HashBackend]

RATE_WINDOW_SECONDS = 20.0


class JobBoard:
    """The job every device works on; ``None`` means stop hashing (idle or paused)."""

    def __init__(self) -> None:
        self._job: Job | None = None
        self._changed = threading.Condition()

    def post(self, job: Job | None) -> None:
        with self._changed:
            self._job = job
            self._changed.notify_all()

    def current(self) -> Job | None:
        with self._changed:
            return self._job

    def wait_for_job(self, stop: threading.Event, timeout: float = 0.5) -> Job | None:
        with self._changed:
            if self._job is None and not stop.is_set():
                self._changed.wait(timeout)
            return self._job


class HashMeter:
    """Hashes done, and the rate over the last ``window`` seconds."""

    def __init__(self, window: float = RATE_WINDOW_SECONDS, now: float | None = None) -> None:
        self._window = window
        self._started = time.monotonic() if now is None else now
        self._samples: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()
        self.total = 0
        self.since_block = 0

    def add(self, hashes: int, at: float | None = None) -> None:
        moment = time.monotonic() if at is None else at
        with self._lock:
            self.total += hashes
            self.since_block += hashes
            self._samples.append((moment, hashes))
            self._forget(moment)

    def block_found(self) -> int:
        """The attempts that led to this block (hashes since the last one); resets them."""
        with self._lock:
            attempts, self.since_block = self.since_block, 0
            return attempts

    def rate(self, now: float | None = None) -> float:
        """Hashes per second over the window (or since the start, when that is shorter)."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            self._forget(moment)
            span = min(self._window, moment - self._started)
            if span <= 0:
                return 0.0
            return sum(count for _, count in self._samples) / span

    def _forget(self, moment: float) -> None:
        while self._samples and self._samples[0][0] < moment - self._window:
            self._samples.popleft()


@dataclass
class _InFlight:
    job: Job
    keys: KeyRange
    batch: PendingBatch


class DeviceMiner:
    """Hashes the board's job on one backend until ``stop`` is set."""

    def __init__(
        self,
        backend: HashBackend,
        board: JobBoard,
        *,
        on_find: FindCallback,
        on_hashes: Callable[[int], None],
        depth: int = 2,
    ) -> None:
        self._backend = backend
        self._board = board
        self._on_find = on_find
        self._on_hashes = on_hashes
        self._depth = depth
        self._next: dict[str, int] = {}  # stem -> next counter

    def run(self, stop: threading.Event) -> None:
        in_flight: deque[_InFlight] = deque()
        while not stop.is_set():
            job = self._board.current() if in_flight else self._board.wait_for_job(stop)
            if job is not None:
                while len(in_flight) < self._depth:
                    in_flight.append(self._launch(job))
            if not in_flight:
                continue
            self._report(in_flight.popleft())
        for leftover in in_flight:  # finish what was started: it may hold a block
            self._report(leftover)

    def _report(self, done: _InFlight) -> None:
        raw = done.batch.result()
        self._on_hashes(done.keys.count)
        for find in scan(done.job, done.keys, raw):
            self._on_find(find)

    def _launch(self, job: Job) -> _InFlight:
        count = self._backend.batch_size(job.difficulty)
        start = self._next.get(job.stem, 0)
        if len(self._next) > 64:  # old jobs' counters are no longer needed
            self._next = {job.stem: start}
        keys = KeyRange(job.stem, start, count)
        self._next[job.stem] = start + count
        return _InFlight(job, keys, self._backend.start(keys, job.salt, job.difficulty))


@dataclass(frozen=True)
class DeviceSpec:
    backend: str  # "cpu" | "cupy" (or "simulated" for fleet demos)
    index: int = 0
    processes: int | None = None  # cpu only


class Engine(Protocol):
    """What a rig needs of its hashing: ``MiningEngine``, or a simulated one."""

    devices: list[DeviceSpec]

    @property
    def job(self) -> Job | None: ...

    def start(self) -> None: ...

    def post(self, job: Job | None) -> None: ...

    def rates(self) -> dict[int, float]: ...

    def hashrate(self) -> float: ...

    def block_attempts(self) -> int: ...

    def stop(self) -> None: ...


EngineFactory = Callable[[FindCallback, ErrorCallback], Engine]


class MiningEngine:
    """One ``DeviceMiner`` per device, fed the same job; finds and rates come back here."""

    def __init__(
        self,
        devices: list[DeviceSpec],
        *,
        on_find: FindCallback,
        on_error: ErrorCallback | None = None,
        make_backend: Callable[[DeviceSpec], HashBackend] | None = None,
    ) -> None:
        if not devices:
            raise ValueError("no devices to mine on")
        self.devices = devices
        self._on_find = on_find
        self._on_error = on_error or (lambda index, message: None)
        self._make_backend = make_backend or _default_backend
        self.meters = {spec.index: HashMeter() for spec in devices}
        self._runners: list[_Runner] = []
        self._job: Job | None = None

    @property
    def job(self) -> Job | None:
        return self._job

    def start(self) -> None:
        for spec in self.devices:
            meter = self.meters[spec.index]
            runner: _Runner
            if spec.backend == "cpu" or len(self.devices) == 1:
                runner = _ThreadRunner(
                    spec, meter, self._on_find, self._on_error, self._make_backend
                )
            else:
                runner = _ProcessRunner(spec, meter, self._on_find, self._on_error)
            runner.start()
            self._runners.append(runner)

    def post(self, job: Job | None) -> None:
        self._job = job
        for runner in self._runners:
            runner.post(job)

    def rates(self) -> dict[int, float]:
        return {index: meter.rate() for index, meter in self.meters.items()}

    def hashrate(self) -> float:
        return sum(self.rates().values())

    def block_attempts(self) -> int:
        return sum(meter.block_found() for meter in self.meters.values())

    def stop(self) -> None:
        for runner in self._runners:
            runner.stop()
        self._runners.clear()


def _default_backend(spec: DeviceSpec) -> HashBackend:
    from miner.backends.registry import make_backend

    return make_backend(spec.backend, spec.index, processes=spec.processes)


class _Runner:
    def start(self) -> None:
        raise NotImplementedError

    def post(self, job: Job | None) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class _ThreadRunner(_Runner):
    def __init__(
        self,
        spec: DeviceSpec,
        meter: HashMeter,
        on_find: FindCallback,
        on_error: ErrorCallback,
        make_backend: Callable[[DeviceSpec], HashBackend],
    ) -> None:
        self._spec, self._meter = spec, meter
        self._on_find, self._on_error = on_find, on_error
        self._make_backend = make_backend
        self._board = JobBoard()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"mine-{spec.backend}-{spec.index}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def post(self, job: Job | None) -> None:
        self._board.post(job)

    def _run(self) -> None:
        backend = None
        try:
            backend = self._make_backend(self._spec)
            miner = DeviceMiner(
                backend, self._board, on_find=self._on_find, on_hashes=self._meter.add
            )
            miner.run(self._stop)
        except Exception as error:
            log.exception("device %s #%d stopped", self._spec.backend, self._spec.index)
            self._on_error(self._spec.index, str(error))
        finally:
            if backend is not None:
                backend.close()

    def stop(self) -> None:
        self._stop.set()
        self._board.post(None)
        self._thread.join(timeout=60)


class _ProcessRunner(_Runner):
    """A GPU's ``DeviceMiner`` in its own process; jobs go in, finds and counts come out."""

    def __init__(
        self,
        spec: DeviceSpec,
        meter: HashMeter,
        on_find: FindCallback,
        on_error: ErrorCallback,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._spec, self._meter = spec, meter
        self._on_find, self._on_error = on_find, on_error
        self._jobs: Any = context.Queue()
        self._events: Any = context.Queue()
        self._stop_event = context.Event()
        self._process: SpawnProcess = context.Process(
            target=_device_process,
            args=(spec, self._jobs, self._events, self._stop_event),
            name=f"mine-{spec.backend}-{spec.index}",
            daemon=True,
        )
        self._reader = threading.Thread(target=self._read, name="mine-events", daemon=True)
        self._done = threading.Event()

    def start(self) -> None:
        self._process.start()
        self._reader.start()

    def post(self, job: Job | None) -> None:
        self._jobs.put(job)

    def _read(self) -> None:
        while not self._done.is_set():
            try:
                kind, value = self._events.get(timeout=0.5)
            except queue.Empty:
                if not self._process.is_alive():
                    self._on_error(self._spec.index, "the device process exited")
                    return
                continue
            if kind == "hashes":
                self._meter.add(value)
            elif kind == "find":
                self._on_find(value)
            elif kind == "error":
                self._on_error(self._spec.index, value)
            elif kind == "stopped":
                return

    def stop(self) -> None:
        self._stop_event.set()
        self._jobs.put(None)
        self._process.join(timeout=60)
        self._done.set()
        self._reader.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()


def _device_process(spec: DeviceSpec, jobs: Any, events: Any, stop_event: Any) -> None:
    """The body of a GPU's worker process."""
    board = JobBoard()
    stop = threading.Event()

    def feed() -> None:
        while not stop_event.is_set():
            with contextlib.suppress(queue.Empty):
                board.post(jobs.get(timeout=0.5))
        stop.set()
        board.post(None)

    threading.Thread(target=feed, daemon=True).start()
    backend = None
    try:
        backend = _default_backend(spec)
        miner = DeviceMiner(
            backend,
            board,
            on_find=lambda find: events.put(("find", find)),
            on_hashes=lambda count: events.put(("hashes", count)),
        )
        miner.run(stop)
    except Exception as error:
        events.put(("error", f"{type(error).__name__}: {error}"))
    finally:
        if backend is not None:
            backend.close()
        events.put(("stopped", None))
