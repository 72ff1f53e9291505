"""The ``cupy`` backend.

Tests marked ``gpu`` run the real kernels (the conftest skips them without an NVIDIA GPU
and CuPy) and must agree bit for bit with argon2-cffi. The others run anywhere: without
CuPy the backend fails with a helpful ``BackendError``, and with a fake CuPy (kernels that
hash with argon2-cffi) the host side is exercised: templates, launches, chunking, the
two alternating streams, pinned-memory copies and batch sizing. The kernels themselves are
checked without a GPU in test_cuda_kernel.py (warp emulation).
"""

from __future__ import annotations

import ctypes
import random
import sys
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy
import pytest

from miner.backends import cupy_backend
from miner.backends.base import MAX_COUNTER, BackendError, KeyRange, new_stem
from miner.backends.cupy_backend import (
    COMPILE_OPTIONS,
    HEADROOM_BYTES,
    MAX_BATCH,
    SALT_LENGTH,
    WARPS_PER_BLOCK,
    CupyBackend,
    batch_size_for,
    describe_devices,
    device_count,
    h0_template,
    kernel_source,
    memory_blocks,
)
from protocol.xenblocks import argon2_raw

gpu = pytest.mark.gpu  # the conftest skips these without an NVIDIA GPU and CuPy

# -- without a GPU ------------------------------------------------------------------------


def test_without_cupy_constructing_raises_a_helpful_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes ``import cupy`` fail
    with pytest.raises(BackendError, match=r"needs CuPy.*pip install"):
        CupyBackend()
    assert device_count() == 0
    assert describe_devices() == []


def test_batch_size_leaves_headroom_and_room_for_a_second_batch() -> None:
    total = 80 << 30
    per_hash = memory_blocks(1727) * 1024 + 128
    expected = (total - (4 << 30)) // 2 // per_hash  # 5% of 80 GiB is more than 512 MiB
    count = batch_size_for(total, total, 1727)
    assert count == expected - expected % WARPS_PER_BLOCK
    assert count % WARPS_PER_BLOCK == 0
    assert batch_size_for(total, total, 8) == MAX_BATCH  # capped at tiny difficulties
    assert batch_size_for(HEADROOM_BYTES, 1 << 30, 8) == 0
    assert batch_size_for(HEADROOM_BYTES + 2 * 8320, 1 << 30, 8) == 1  # 8 KiB + key + hash


def test_the_h0_template_puts_the_stem_and_salt_in_place() -> None:
    stem, salt = "a" * 48, bytes(range(20))
    template = h0_template(salt, 1727, stem)
    assert len(template) == 128
    assert template[8:12] == (1727).to_bytes(4, "little")
    assert template[28:92] == stem.encode() + bytes(16)
    assert template[92:96] == (20).to_bytes(4, "little")
    assert template[96:116] == salt
    assert template[116:] == bytes(12)
    with pytest.raises(ValueError, match="20 bytes"):
        h0_template(bytes(19), 8, stem)


class _DeviceArray(numpy.ndarray):
    """A numpy array with CuPy's ``.data.ptr``."""

    @property
    def data(self) -> Any:
        return SimpleNamespace(ptr=self.ctypes.data)


def _device(array: Any) -> _DeviceArray:
    return numpy.ascontiguousarray(array).view(_DeviceArray)


class _Context:
    def __init__(self, *_: Any, **__: Any) -> None:
        self.ptr = 0

    def __enter__(self) -> _Context:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def synchronize(self) -> None:
        return None


class _Event:
    done = True  # the fake runs everything at launch

    def __init__(self, **_: Any) -> None:
        pass

    def record(self, stream: Any) -> None:
        return None


class FakeGpu:
    """Just enough of CuPy for the backend, with kernels that hash with argon2-cffi."""

    def __init__(self, devices: int = 2, free: int = 12 << 30, total: int = 16 << 30) -> None:
        self.devices, self.free, self.total = devices, free, total
        self.launches: list[tuple[str, int]] = []  # kernel name, hashes
        runtime = SimpleNamespace(
            getDeviceCount=lambda: self.devices,
            getDeviceProperties=lambda index: {
                "name": b"Fake GPU",
                "totalGlobalMem": self.total,
                "major": 9,
                "minor": 0,
            },
            memGetInfo=lambda: (self.free, self.total),
            memcpyAsync=lambda dst, src, size, kind, stream: ctypes.memmove(dst, src, size),
            memcpyDeviceToHost=2,
            CUDARuntimeError=type("CUDARuntimeError", (RuntimeError,), {}),
        )
        pool = SimpleNamespace(free_bytes=lambda: 0, free_all_blocks=lambda: None)
        self.module = SimpleNamespace(
            cuda=SimpleNamespace(
                runtime=runtime,
                Device=_Context,
                Stream=_Context,
                Event=_Event,
                alloc_pinned_memory=bytearray,
            ),
            get_default_memory_pool=lambda: pool,
            get_default_pinned_memory_pool=lambda: pool,
            RawModule=self._module,
            empty=lambda size, dtype: _device(numpy.empty(size, dtype)),
            zeros=lambda size, dtype: _device(numpy.zeros(size, dtype)),
            asarray=_device,
            uint8=numpy.uint8,
            uint32=numpy.uint32,
        )

    def _module(self, code: str, options: tuple[str, ...]) -> Any:
        assert code == kernel_source()
        assert options == COMPILE_OPTIONS
        kernels = {
            "argon2id_refs": self._refs,
            "argon2id_first_range": self._first_range,
            "argon2id_first_keys": self._first_keys,
            "argon2id_fill": self._fill,
            "argon2id_tag": self._tag,
        }
        return SimpleNamespace(get_function=kernels.__getitem__)

    def _launched(self, name: str, grid: tuple[int], block: tuple[int], count: int) -> None:
        assert block == (32 * WARPS_PER_BLOCK,)
        assert grid == (-(-count // WARPS_PER_BLOCK),)
        self.launches.append((name, count))

    def _refs(self, grid: tuple[int], block: tuple[int], args: tuple[Any, ...]) -> None:
        refs, m = args
        assert refs.dtype == numpy.uint32
        assert len(refs) == memory_blocks(int(m)) // 2

    def _store(self, memory: Any, index: int, m: int, digest: bytes) -> None:
        offset = index * memory_blocks(m) * 1024  # the hash's own Argon2 memory
        memory[offset : offset + 64] = numpy.frombuffer(digest, numpy.uint8)

    def _first_range(self, grid: tuple[int], block: tuple[int], args: tuple[Any, ...]) -> None:
        memory, template, start, count, m = args
        self._launched("first_range", grid, block, int(count))
        raw = template.tobytes()
        assert int.from_bytes(raw[8:12], "little") == m
        stem, salt = raw[28:76].decode(), raw[96:116]
        for index in range(int(count)):
            key = f"{stem}{int(start) + index:016x}"
            self._store(memory, index, int(m), argon2_raw(key, salt, int(m)))

    def _first_keys(self, grid: tuple[int], block: tuple[int], args: tuple[Any, ...]) -> None:
        memory, template, keys, count, m = args
        self._launched("first_keys", grid, block, int(count))
        salt, ascii_keys = template.tobytes()[96:116], keys.tobytes()
        for index in range(int(count)):
            key = ascii_keys[64 * index : 64 * index + 64].decode()
            self._store(memory, index, int(m), argon2_raw(key, salt, int(m)))

    def _fill(self, grid: tuple[int], block: tuple[int], args: tuple[Any, ...]) -> None:
        memory, _refs, count, m = args
        self._launched("fill", grid, block, int(count))
        assert len(memory) >= int(count) * memory_blocks(int(m)) * 1024

    def _tag(self, grid: tuple[int], block: tuple[int], args: tuple[Any, ...]) -> None:
        memory, out, count, m = args
        self._launched("tag", grid, block, int(count))
        for index in range(int(count)):
            offset = index * memory_blocks(int(m)) * 1024
            out[64 * index : 64 * index + 64] = memory[offset : offset + 64]


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch) -> FakeGpu:
    fake = FakeGpu()
    monkeypatch.setitem(sys.modules, "cupy", fake.module)
    monkeypatch.setattr(cupy_backend, "_MODULES", {})  # never cache fake kernels
    return fake


def test_a_missing_device_index_names_the_device_count(fake_gpu: FakeGpu) -> None:
    with pytest.raises(BackendError, match=r"no GPU #2: CuPy sees 2 CUDA device\(s\)"):
        CupyBackend(2)
    fake_gpu.devices = 0
    with pytest.raises(BackendError, match="no CUDA GPU"):
        CupyBackend(0)


def test_devices_are_counted_and_described(fake_gpu: FakeGpu) -> None:
    assert device_count() == 2
    assert describe_devices() == ["#0 Fake GPU, 16 GiB, sm_90", "#1 Fake GPU, 16 GiB, sm_90"]


def test_the_host_side_with_a_fake_gpu(fake_gpu: FakeGpu) -> None:
    backend = CupyBackend(1)
    assert backend.name == "cupy"
    assert backend.device == "Fake GPU #1"
    salt = bytes(range(SALT_LENGTH))
    first = KeyRange(new_stem(), MAX_COUNTER - 6, 7)
    second = KeyRange(new_stem(), 0, 3)
    pending = [backend.start(first, salt, 8), backend.start(second, salt, 9)]
    third = backend.start(KeyRange(first.stem, 5, 2), salt, 8)  # reuses the first's stream
    assert [batch.result() for batch in pending] == [
        b"".join(argon2_raw(key, salt, 8) for key in first.all_keys()),
        b"".join(argon2_raw(key, salt, 9) for key in second.all_keys()),
    ]
    assert third.result() == b"".join(argon2_raw(f"{first.stem}{n:016x}", salt, 8) for n in (5, 6))
    keys = ["0" * 64, "f" * 64]
    assert backend.hash_keys(keys, salt, 12) == [argon2_raw(key, salt, 12) for key in keys]
    assert backend.batch_size(8) > 0
    backend.close()
    backend.close()
    with pytest.raises(BackendError, match="closed"):
        backend.start(second, salt, 8)


def test_a_batch_bigger_than_memory_runs_in_chunks(fake_gpu: FakeGpu) -> None:
    per_hash = 8 * 1024 + 128
    fake_gpu.free, fake_gpu.total = HEADROOM_BYTES + 2 * 4 * per_hash, 1 << 30
    backend = CupyBackend(0)
    assert backend.batch_size(8) == 4
    salt = bytes(SALT_LENGTH)
    keys = KeyRange(new_stem(), 100, 10)
    raw = backend.start(keys, salt, 8).result()
    assert raw == b"".join(argon2_raw(key, salt, 8) for key in keys.all_keys())
    first = [(name, count) for name, count in fake_gpu.launches if name == "first_range"]
    assert first == [("first_range", 4), ("first_range", 4), ("first_range", 2)]
    backend.close()


# -- on a GPU -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backend() -> Iterator[CupyBackend]:
    gpu_backend = CupyBackend(0)
    yield gpu_backend
    gpu_backend.close()


def _random_range(rng: random.Random, count: int) -> KeyRange:
    start = MAX_COUNTER - count + 1 if rng.random() < 0.5 else rng.randrange(MAX_COUNTER - count)
    return KeyRange(f"{rng.getrandbits(192):048x}", start, count)


@gpu
@pytest.mark.parametrize(("difficulty", "count"), [(8, 999), (1727, 130), (16000, 13)])
def test_hashes_match_argon2_cffi(backend: CupyBackend, difficulty: int, count: int) -> None:
    rng = random.Random(difficulty)
    for _ in range(2):
        keys, salt = _random_range(rng, count), rng.randbytes(SALT_LENGTH)
        raw = backend.start(keys, salt, difficulty).result()
        assert raw == b"".join(argon2_raw(key, salt, difficulty) for key in keys.all_keys())


@gpu
def test_two_batches_in_flight(backend: CupyBackend) -> None:
    rng = random.Random(2)
    batches = [(_random_range(rng, 257), rng.randbytes(SALT_LENGTH)) for _ in range(3)]
    pending = [backend.start(keys, salt, 1727) for keys, salt in batches[:2]]
    pending.append(backend.start(*batches[2], 1727))  # a third: the oldest is read out first
    for (keys, salt), batch in zip(batches, pending, strict=True):
        raw = batch.result()
        assert raw == b"".join(argon2_raw(key, salt, 1727) for key in keys.all_keys())


@gpu
def test_a_full_batch(backend: CupyBackend) -> None:
    rng = random.Random(3)
    count = backend.batch_size(1727)
    assert count > 0
    keys, salt = _random_range(rng, count), rng.randbytes(SALT_LENGTH)
    hashes = backend.start(keys, salt, 1727).result()
    assert len(hashes) == 64 * count
    for index in [0, 1, count // 2, count - 2, count - 1, *rng.sample(range(count), 16)]:
        expected = argon2_raw(keys.key(index), salt, 1727)
        assert hashes[64 * index : 64 * index + 64] == expected


@gpu
@pytest.mark.parametrize("difficulty", [8, 1727, 16000])
def test_hash_keys(backend: CupyBackend, difficulty: int) -> None:
    rng = random.Random(difficulty + 1)
    keys = [f"{rng.getrandbits(256):064x}" for _ in range(9)]
    salt = rng.randbytes(SALT_LENGTH)
    assert backend.hash_keys(keys, salt, difficulty) == [
        argon2_raw(key, salt, difficulty) for key in keys
    ]


@gpu
def test_batch_sizes_and_device(backend: CupyBackend) -> None:
    assert 0 < backend.batch_size(8) <= MAX_BATCH
    assert 0 < backend.batch_size(16000) <= backend.batch_size(1727) <= backend.batch_size(8)
    assert backend.device.endswith(" #0")


@gpu
def test_a_bad_device_index() -> None:
    count = device_count()
    with pytest.raises(BackendError, match=rf"sees {count} CUDA device"):
        CupyBackend(count)
