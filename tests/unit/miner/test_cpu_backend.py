"""The ``cpu`` backend: bit-exact with the reference hash, batches in order, a dead or stuck
pool is an error (never a hang), and the registry that names it."""

from __future__ import annotations

import os
import random
import secrets
import signal
from collections.abc import Iterator

import pytest

from miner.backends import cpu
from miner.backends.base import (
    MAX_COUNTER,
    BackendError,
    HashBackend,
    KeyRange,
    new_stem,
    split_hashes,
)
from miner.backends.cpu import CpuBackend
from miner.backends.registry import BACKENDS, available_devices, make_backend
from protocol.xenblocks import argon2_raw


@pytest.fixture(scope="module")
def backend() -> Iterator[CpuBackend]:
    made = CpuBackend(processes=2)
    yield made
    made.close()


def reference(keys: KeyRange, salt: bytes, difficulty: int) -> list[bytes]:
    return [argon2_raw(key, salt, difficulty) for key in keys.all_keys()]


@pytest.mark.parametrize("difficulty", [8, 64])
def test_ranges_match_the_reference_hash(backend: CpuBackend, difficulty: int) -> None:
    rng = random.Random(difficulty)
    for count in (1, 2, 3, 17):
        start = rng.choice([0, rng.randrange(MAX_COUNTER - count), MAX_COUNTER - count + 1])
        keys = KeyRange(new_stem(), start, count)
        salt = secrets.token_bytes(20)
        raw = backend.start(keys, salt, difficulty).result()
        assert split_hashes(raw) == reference(keys, salt, difficulty)


def test_a_lease_prefix_reaches_the_workers(backend: CpuBackend) -> None:
    keys = KeyRange(new_stem("0123456789abcdef"), 40, 5)
    salt = secrets.token_bytes(20)
    assert split_hashes(backend.start(keys, salt, 8).result()) == reference(keys, salt, 8)


def test_batches_in_flight_come_back_whole_and_in_key_order(backend: CpuBackend) -> None:
    salt = secrets.token_bytes(20)
    keys = KeyRange(new_stem(), 1000, 30)
    ranges = [keys, keys.following(7), keys.following(7).following(41), KeyRange(new_stem(), 0, 1)]
    pending = [backend.start(keys, salt, 8) for keys in ranges]
    # Collected out of order: each batch still has its own keys, in order.
    for keys, batch in reversed(list(zip(ranges, pending, strict=True))):
        assert split_hashes(batch.result()) == reference(keys, salt, 8)
    assert pending[0].result() == pending[0].result()


def test_hash_keys_matches_the_reference(backend: CpuBackend) -> None:
    salt = secrets.token_bytes(20)
    keys = [secrets.token_hex(32) for _ in range(5)]
    assert backend.hash_keys(keys, salt, 64) == [argon2_raw(key, salt, 64) for key in keys]
    assert backend.hash_keys([], salt, 64) == []
    with pytest.raises(ValueError, match="hex"):
        backend.hash_keys(["not a key"], salt, 64)


def test_bad_salt_and_difficulty_are_refused(backend: CpuBackend) -> None:
    keys = KeyRange(new_stem(), 0, 1)
    with pytest.raises(ValueError, match="20 bytes"):
        backend.start(keys, b"short", 8)
    with pytest.raises(ValueError, match="at least 8"):
        backend.start(keys, bytes(20), 7)


def test_batch_size_keeps_every_process_busy_and_grows_as_difficulty_drops(
    backend: CpuBackend,
) -> None:
    sizes = [backend.batch_size(m) for m in (8, 64, 1727, 16_000, 100_000, 1_000_000)]
    assert all(size >= 2 and size % 2 == 0 for size in sizes)
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[0] > sizes[2] > sizes[-1]
    # About 0.6 s of one core's work per process at a network difficulty.
    per_hash = backend.seconds_per_hash(1727)
    assert 0.2 < backend.batch_size(1727) / 2 * per_hash < 1.5


def test_device_names_the_cpu(backend: CpuBackend) -> None:
    assert backend.name == "cpu"
    assert backend.device.startswith("cpu × 2")
    assert CpuBackend().processes == (os.cpu_count() or 1)
    with pytest.raises(ValueError, match="at least 1"):
        CpuBackend(processes=0)


def test_close_twice_then_a_fresh_pool_on_the_next_batch() -> None:
    made = CpuBackend(processes=1)
    made.close()  # before any pool: nothing to do
    salt = bytes(20)
    keys = KeyRange(new_stem(), 0, 2)
    assert split_hashes(made.start(keys, salt, 8).result()) == reference(keys, salt, 8)
    assert len(made.worker_pids()) == 1
    made.close()
    made.close()
    assert made.worker_pids() == []
    assert split_hashes(made.start(keys, salt, 8).result()) == reference(keys, salt, 8)
    interrupted = made.start(KeyRange(new_stem(), 0, 4000), salt, 1024)  # seconds of work
    made.close()
    with pytest.raises(BackendError):
        interrupted.result()
    assert made.worker_pids() == []


def test_a_dead_worker_is_a_backend_error_and_the_pool_restarts() -> None:
    made = CpuBackend(processes=2)
    try:
        salt = bytes(20)
        made.start(KeyRange(new_stem(), 0, 2), salt, 8).result()  # both workers up
        pids = made.worker_pids()
        assert len(pids) == 2
        doomed = made.start(KeyRange(new_stem(), 0, 4000), salt, 1024)  # seconds of work
        os.kill(pids[0], signal.SIGKILL)
        with pytest.raises(BackendError, match="died"):
            doomed.result()
        keys = KeyRange(new_stem(), 0, 3)
        assert split_hashes(made.start(keys, salt, 8).result()) == reference(keys, salt, 8)
        assert set(made.worker_pids()).isdisjoint(pids)
    finally:
        made.close()


def test_a_stuck_pool_times_out_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    made = CpuBackend(processes=1)
    try:
        salt = bytes(20)
        made.start(KeyRange(new_stem(), 0, 1), salt, 8).result()
        monkeypatch.setattr(cpu, "MIN_TIMEOUT", 0.05)
        monkeypatch.setattr(cpu, "TIMEOUT_FACTOR", 0.0)
        slow = made.start(KeyRange(new_stem(), 0, 4000), salt, 1024)
        with pytest.raises(BackendError, match="in time"):
            slow.result()
        assert made.worker_pids() == []  # terminated, not left hashing
    finally:
        made.close()


def test_registry_names_the_backends() -> None:
    assert BACKENDS == ("cpu", "cupy")
    made: HashBackend = make_backend("cpu", processes=1)
    try:
        assert isinstance(made, CpuBackend)
        assert made.device.startswith("cpu × 1")
    finally:
        made.close()
    assert available_devices("cpu") == [0]
    assert all(isinstance(index, int) for index in available_devices("cupy"))
    with pytest.raises(ValueError, match="cpu, cupy"):
        make_backend("opencl")
    with pytest.raises(ValueError, match="cpu, cupy"):
        available_devices("opencl")


@pytest.mark.gpu(device=False)  # skips on a machine with a GPU
def test_cupy_without_a_gpu_is_a_backend_error() -> None:
    if available_devices("cupy"):
        pytest.skip("this machine has a GPU")
    with pytest.raises(BackendError):
        make_backend("cupy", 0).close()
