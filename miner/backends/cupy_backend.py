"""The ``cupy`` backend: Argon2id on an NVIDIA GPU, one warp per hash.

The kernel is ``kernels/argon2id.cu`` (read its header for the design), compiled with NVRTC
through CuPy once per (device, options) and cached. A batch is three launches on one CUDA
stream: ``argon2id_first_*`` (H0 and the first two blocks, all Blake2b on the GPU),
``argon2id_fill`` (the rest of the memory, the bulk of the work) and ``argon2id_tag`` (the
final 64-byte hash); the raw hashes are then copied asynchronously into pinned host memory
and an event is recorded. ``PendingBatch.result`` waits for that event. Two streams with
their own buffers alternate, so the mining loop keeps two batches in flight: the GPU
computes one while the host checks the other.

The keys of a ``KeyRange`` are derived on the GPU from (stem, start + hash index): the host
uploads only a 128-byte template of Blake2b's first message block (H0's input with the
stem, salt and parameters in place) per batch. The data-independent reference indices of
the first half of memory are computed once per difficulty by a small kernel and shared by
every hash.

CuPy is imported lazily, so this module imports (and ``device_count`` answers 0) on a
machine without it; constructing ``CupyBackend`` there raises ``BackendError``.
"""

from __future__ import annotations

import contextlib
import struct
import threading
import time
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

from miner.backends.base import (
    COUNTER_LENGTH,
    BackendError,
    KeyRange,
    check_difficulty,
    split_hashes,
)
from protocol.xenblocks import ARGON2_VERSION, HASH_LENGTH, KEY_LENGTH, validate_key

SALT_LENGTH = 20  # the mining address's bytes; the kernel's H0 layout assumes it
BLOCK_BYTES = 1024
WARPS_PER_BLOCK = 4  # hashes per CUDA block (one warp each)
THREADS_PER_BLOCK = 32 * WARPS_PER_BLOCK
COMPILE_OPTIONS: tuple[str, ...] = (f"-DARGON2_WARPS_PER_BLOCK={WARPS_PER_BLOCK}",)
KERNEL_NAMES = (
    "argon2id_refs",
    "argon2id_first_range",
    "argon2id_first_keys",
    "argon2id_fill",
    "argon2id_tag",
)
MAX_BATCH = 1 << 18  # caps a batch at the easiest difficulties (16 MiB of hashes)
HEADROOM_BYTES = 512 << 20  # left free for the CUDA context, CuPy and other processes
HEADROOM_FRACTION = 0.05  # ... or this share of the GPU's memory, whichever is more
BATCH_TIMEOUT = 600.0  # seconds: a batch that takes longer is a hung GPU, not a slow one
_POLL_SECONDS = 0.0005

_MODULES: dict[tuple[int, tuple[str, ...]], Any] = {}
_MODULES_LOCK = threading.Lock()


def kernel_source() -> str:
    """The CUDA source of the kernels (package data)."""
    return (
        resources.files("miner.backends")
        .joinpath("kernels", "argon2id.cu")
        .read_text(encoding="utf-8")
    )


def memory_blocks(difficulty: int) -> int:
    """Argon2's block count for ``difficulty`` KiB with p = 1: 4 * floor(m / 4)."""
    return 4 * (check_difficulty(difficulty) // 4)


def h0_template(salt: bytes, difficulty: int, stem: str | None = None) -> bytes:
    """The 128-byte first Blake2b block of H0 with the key left out (zeros).

    H0 hashes LE32 p, T, m, t, version, type, then LE32 |key| and the key (64 ASCII
    characters), LE32 |salt| and the salt, LE32 0 twice (no secret, no associated data):
    124 bytes. With ``stem`` the key's first 48 characters are filled in and the kernel adds
    the counter's 16 hex digits; without, the kernel reads whole keys from an array.
    """
    if len(salt) != SALT_LENGTH:
        raise ValueError(f"salt must be {SALT_LENGTH} bytes, got {len(salt)}")
    key = bytes(KEY_LENGTH) if stem is None else stem.encode("ascii") + bytes(COUNTER_LENGTH)
    if len(key) != KEY_LENGTH:
        raise ValueError("a stem is 48 characters")
    params = struct.pack("<6I", 1, HASH_LENGTH, difficulty, 1, ARGON2_VERSION, 2)
    data = params + struct.pack("<I", KEY_LENGTH) + key + struct.pack("<I", len(salt)) + salt
    data += struct.pack("<2I", 0, 0)
    return data + bytes(128 - len(data))


def batch_size_for(free_bytes: int, total_bytes: int, difficulty: int) -> int:
    """Keys per batch that fit ``free_bytes`` of GPU memory with two batches in flight.

    Each hash needs its Argon2 memory (``difficulty`` KiB, rounded down to whole groups of
    four blocks) plus its key and its output; headroom stays free; the result is capped at
    the easiest difficulties, and a multiple of the hashes per CUDA block when it can be.
    """
    per_hash = memory_blocks(difficulty) * BLOCK_BYTES + KEY_LENGTH + HASH_LENGTH
    usable = free_bytes - max(HEADROOM_BYTES, int(total_bytes * HEADROOM_FRACTION))
    count = min(max(usable, 0) // 2 // per_hash, MAX_BATCH)
    if count >= WARPS_PER_BLOCK:
        count -= count % WARPS_PER_BLOCK
    return count


def _import_cupy() -> Any:
    try:
        import cupy
    except Exception as error:  # ImportError, or CuPy failing to load its CUDA libraries
        raise BackendError(
            "the cupy backend needs CuPy and an NVIDIA GPU with its driver: "
            "pip install 'xenblocks-platform[gpu]' (installs cupy-cuda12x) "
            f"({type(error).__name__}: {error})"
        ) from error
    return cupy


def _cuda_errors(cupy: Any) -> tuple[type[BaseException], ...]:
    """CuPy's CUDA, compiler and memory errors (those that exist in this version)."""
    found: list[type[BaseException]] = []
    for module, name in (
        ("runtime", "CUDARuntimeError"),
        ("driver", "CUDADriverError"),
        ("memory", "OutOfMemoryError"),
        ("compiler", "CompileException"),
    ):
        error = getattr(getattr(cupy.cuda, module, None), name, None)
        if isinstance(error, type) and issubclass(error, BaseException):
            found.append(error)
    return tuple(found)


def device_count() -> int:
    """How many CUDA GPUs CuPy sees; 0 without CuPy, a driver or a GPU."""
    try:
        cupy = _import_cupy()
        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:  # BackendError, or the runtime's "no CUDA-capable device"
        return 0


def describe_devices() -> list[str]:
    """One line per GPU: index, name, memory and compute capability."""
    count = device_count()
    if not count:
        return []
    runtime = _import_cupy().cuda.runtime
    lines = []
    for index in range(count):
        props = runtime.getDeviceProperties(index)
        memory = props["totalGlobalMem"] / 2**30
        lines.append(
            f"#{index} {_text(props['name'])}, {memory:.0f} GiB, "
            f"sm_{props['major']}{props['minor']}"
        )
    return lines


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _module(cupy: Any, device_index: int) -> Any:
    """The compiled kernels for this device: one NVRTC build per (device, options)."""
    key = (device_index, COMPILE_OPTIONS)
    with _MODULES_LOCK:
        module = _MODULES.get(key)
        if module is None:
            module = cupy.RawModule(code=kernel_source(), options=COMPILE_OPTIONS)
            for name in KERNEL_NAMES:  # compiles and loads on the current device
                module.get_function(name)
            _MODULES[key] = module
        return module


@cache
def _numpy() -> Any:
    import numpy

    return numpy


class _Slot:
    """One stream with its own device memory, output buffers and completion event."""

    def __init__(self, cupy: Any) -> None:
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self.event = cupy.cuda.Event(block=True, disable_timing=True)
        self.memory: Any = None  # Argon2 memory, ``hashes`` × blocks KiB
        self.memory_bytes = 0
        self.out: Any = None  # raw hashes on the device
        self.host: Any = None  # numpy view of pinned host memory
        self.host_memory: Any = None  # keeps the pinned allocation alive
        self.out_hashes = 0
        self.inputs: tuple[Any, ...] = ()  # the batch's template and keys, alive till done
        self.pending: _CupyPending | None = None

    def device_bytes(self) -> int:
        return self.memory_bytes + self.out_hashes * HASH_LENGTH

    def reserve(self, cupy: Any, memory_bytes: int, hashes: int) -> None:
        """Grow the buffers to at least this size (the old contents are not kept)."""
        if memory_bytes > self.memory_bytes:
            self.memory = None
            cupy.get_default_memory_pool().free_all_blocks()
            self.memory = cupy.empty(memory_bytes, dtype=cupy.uint8)
            self.memory_bytes = memory_bytes
        if hashes > self.out_hashes:
            size = hashes * HASH_LENGTH
            self.out = cupy.empty(size, dtype=cupy.uint8)
            self.host_memory = cupy.cuda.alloc_pinned_memory(size)
            self.host = _numpy().frombuffer(self.host_memory, dtype=_numpy().uint8, count=size)
            self.out_hashes = hashes

    def release(self) -> None:
        self.memory = self.out = self.host = self.host_memory = None
        self.inputs = ()
        self.memory_bytes = self.out_hashes = 0


class _CupyPending:
    """A launched batch; ``result`` waits for its event and reads the pinned buffer once."""

    def __init__(self, backend: CupyBackend, slot: _Slot, count: int) -> None:
        self._backend = backend
        self._slot = slot
        self._count = count
        self._data: bytes | None = None
        self._error: BackendError | None = None

    def settle(self) -> None:
        """Wait and keep the outcome (hashes or error) for ``result``, freeing the slot."""
        with contextlib.suppress(BackendError):
            self.result()

    def result(self) -> bytes:
        if self._data is None and self._error is None:
            try:
                self._backend._wait(self._slot.event)
                self._data = bytes(self._slot.host[: self._count * HASH_LENGTH])
            except BackendError as error:
                self._error = error
            finally:
                if self._slot.pending is self:
                    self._slot.pending = None
        if self._error is not None:
            raise self._error
        assert self._data is not None
        return self._data


class CupyBackend:
    """Argon2id on one NVIDIA GPU through CuPy (see the module docstring)."""

    name = "cupy"

    def __init__(self, device_index: int = 0) -> None:
        cupy = _import_cupy()
        self._cupy = cupy
        self._errors = _cuda_errors(cupy)
        try:
            count = int(cupy.cuda.runtime.getDeviceCount())
        except Exception as error:  # no driver, or "no CUDA-capable device is detected"
            raise BackendError(f"no usable CUDA GPU: {error}") from error
        if count == 0:
            raise BackendError("no CUDA GPU found (CuPy sees 0 devices)")
        if not 0 <= device_index < count:
            raise BackendError(
                f"there is no GPU #{device_index}: CuPy sees {count} CUDA device(s), "
                f"numbered 0 to {count - 1}"
            )
        self._index = device_index
        self._closed = False
        self._next = 0
        self._refs: dict[int, Any] = {}  # memory blocks -> first-half reference indices
        self._batch: dict[int, int] = {}  # difficulty -> batch size
        try:
            self._gpu = cupy.cuda.Device(device_index)
            with self._gpu:
                props = cupy.cuda.runtime.getDeviceProperties(device_index)
                self._name = _text(props["name"])
                module = _module(cupy, device_index)
                self._kernels = {name: module.get_function(name) for name in KERNEL_NAMES}
                self._slots = [_Slot(cupy), _Slot(cupy)]
        except self._errors as error:
            raise BackendError(f"GPU #{device_index}: {error}") from error

    @property
    def device(self) -> str:
        return f"{self._name} #{self._index}"

    def batch_size(self, difficulty: int) -> int:
        check_difficulty(difficulty)
        cached = self._batch.get(difficulty)
        if cached is not None:
            return cached
        self._check_open()
        try:
            with self._gpu:
                free, total = self._cupy.cuda.runtime.memGetInfo()
                # What this backend already holds can be reused for the new size.
                free += self._cupy.get_default_memory_pool().free_bytes()
                free += sum(slot.device_bytes() for slot in self._slots)
        except self._errors as error:
            raise BackendError(f"{self.device}: {error}") from error
        count = batch_size_for(free, total, difficulty)
        if count < 1:
            raise BackendError(
                f"{self.device}: not enough free GPU memory for one hash at difficulty "
                f"{difficulty} ({free >> 20} MiB free)"
            )
        self._batch[difficulty] = count
        return count

    def start(self, keys: KeyRange, salt: bytes, difficulty: int) -> _CupyPending:
        template = h0_template(salt, check_difficulty(difficulty), keys.stem)
        return self._launch(difficulty, keys.count, template, start=keys.start)

    def hash_keys(self, keys: Sequence[str], salt: bytes, difficulty: int) -> list[bytes]:
        for key in keys:
            validate_key(key)
        if not keys:
            return []
        template = h0_template(salt, check_difficulty(difficulty))
        ascii_keys = "".join(keys).encode("ascii")
        return split_hashes(self._launch(difficulty, len(keys), template, keys=ascii_keys).result())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for slot in self._slots:
            if slot.pending is not None:
                slot.pending.settle()
        try:
            with self._gpu:
                for slot in self._slots:
                    slot.stream.synchronize()
                    slot.release()
                self._refs.clear()
                self._cupy.get_default_memory_pool().free_all_blocks()
                self._cupy.get_default_pinned_memory_pool().free_all_blocks()
        except self._errors:
            pass  # a dead device has nothing left to release

    # -- internals -----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise BackendError(f"{self.device}: the backend is closed")

    def _wait(self, event: Any) -> None:
        deadline = time.monotonic() + BATCH_TIMEOUT
        try:
            while not event.done:
                if time.monotonic() > deadline:
                    raise BackendError(f"{self.device}: a batch took over {BATCH_TIMEOUT:.0f} s")
                time.sleep(_POLL_SECONDS)
        except self._errors as error:
            raise BackendError(f"{self.device}: {error}") from error

    def _first_half_refs(self, difficulty: int) -> Any:
        """The reference index of every block of slices 0 and 1, once per block count."""
        blocks = memory_blocks(difficulty)
        refs = self._refs.get(blocks)
        if refs is None:
            numpy = _numpy()
            refs = self._cupy.zeros(blocks // 2, dtype=self._cupy.uint32)
            warps = 2 * -(-blocks // 4 // 128)  # one per address block of 128 indices
            stream = self._slots[0].stream
            with stream:
                self._kernels["argon2id_refs"](
                    (-(-warps // WARPS_PER_BLOCK),),
                    (THREADS_PER_BLOCK,),
                    (refs, numpy.uint32(difficulty)),
                )
            stream.synchronize()
            self._refs[blocks] = refs
        return refs

    def _launch(
        self,
        difficulty: int,
        count: int,
        template: bytes,
        *,
        start: int = 0,
        keys: bytes | None = None,
    ) -> _CupyPending:
        self._check_open()
        numpy = _numpy()
        cupy = self._cupy
        blocks = memory_blocks(difficulty)
        chunk = min(count, self.batch_size(difficulty))
        slot = self._slots[self._next]
        self._next ^= 1
        if slot.pending is not None:  # a third batch: the oldest must be read out first
            slot.pending.settle()
        try:
            with self._gpu:
                refs = self._first_half_refs(difficulty)
                slot.reserve(cupy, chunk * blocks * BLOCK_BYTES, count)
                with slot.stream:
                    tmpl = cupy.asarray(numpy.frombuffer(template, dtype=numpy.uint64))
                    keys_dev = None
                    if keys is not None:
                        keys_dev = cupy.asarray(numpy.frombuffer(keys, dtype=numpy.uint64))
                    slot.inputs = (tmpl, keys_dev)
                    for offset in range(0, count, chunk):
                        n = min(chunk, count - offset)
                        grid, block = (-(-n // WARPS_PER_BLOCK),), (THREADS_PER_BLOCK,)
                        m, n32 = numpy.uint32(difficulty), numpy.uint32(n)
                        if keys_dev is None:
                            first_args = (slot.memory, tmpl, numpy.uint64(start + offset), n32, m)
                            self._kernels["argon2id_first_range"](grid, block, first_args)
                        else:
                            words = keys_dev[offset * KEY_LENGTH // 8 :]
                            first_args = (slot.memory, tmpl, words, n32, m)
                            self._kernels["argon2id_first_keys"](grid, block, first_args)
                        self._kernels["argon2id_fill"](grid, block, (slot.memory, refs, n32, m))
                        out = slot.out[offset * HASH_LENGTH :]
                        self._kernels["argon2id_tag"](grid, block, (slot.memory, out, n32, m))
                    cupy.cuda.runtime.memcpyAsync(
                        slot.host.ctypes.data,
                        slot.out.data.ptr,
                        count * HASH_LENGTH,
                        cupy.cuda.runtime.memcpyDeviceToHost,
                        slot.stream.ptr,
                    )
                    slot.event.record(slot.stream)
        except self._errors as error:
            raise BackendError(f"{self.device}: {error}") from error
        pending = _CupyPending(self, slot, count)
        slot.pending = pending
        return pending
