"""The CUDA Argon2id kernel, checked on a machine without a GPU.

nvcc (when installed) compiles ``miner/backends/kernels/argon2id.cu`` for sm_90 with the
backend's options. g++ (when installed) compiles the same file, unchanged, against
``tests/cuda/warp_emulation.hpp``, which runs each warp's 32 lanes as coroutines, and the
emulated kernels must agree bit for bit with argon2-cffi, for derived keys (stem + counter)
and for arbitrary keys.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from miner.backends.base import MAX_COUNTER, KeyRange
from miner.backends.cupy_backend import (
    COMPILE_OPTIONS,
    KERNEL_NAMES,
    SALT_LENGTH,
    h0_template,
    kernel_source,
)
from protocol.xenblocks import argon2_raw

ROOT = Path(__file__).resolve().parents[3]
KERNEL = ROOT / "miner" / "backends" / "kernels" / "argon2id.cu"
EMULATION = ROOT / "tests" / "cuda"
TIMEOUT = 300  # seconds for any one compiler or emulator run


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(  # noqa: S603 (our own argument lists, no shell)
        command, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def test_the_backend_reads_the_kernel_it_ships() -> None:
    assert kernel_source() == KERNEL.read_text(encoding="utf-8")


@pytest.mark.gpu(device=False)  # needs nvcc, not a GPU: CI has neither
def test_ptx_compiles_for_sm_90(tmp_path: Path) -> None:
    nvcc = _tool("nvcc")
    ptx = tmp_path / "argon2id.ptx"
    _run([nvcc, "-arch=sm_90", "--ptx", *COMPILE_OPTIONS, "-x", "cu", str(KERNEL), "-o", str(ptx)])
    entries = set(re.findall(r"\.entry\s+(\w+)", ptx.read_text()))
    assert entries == set(KERNEL_NAMES)


@pytest.mark.gpu(device=False)  # needs nvcc, not a GPU: CI has neither
def test_no_kernel_spills_and_the_fill_loop_stays_small(tmp_path: Path) -> None:
    """ptxas -v for sm_90: no local memory anywhere; the memory-bound fill loop needs at
    most 64 registers (32+ warps per SM), the Blake2b kernels are capped at 64."""
    nvcc = _tool("nvcc")
    command = [nvcc, "-arch=sm_90", "-cubin", "-Xptxas", "-v", *COMPILE_OPTIONS, "-x", "cu"]
    report = _run([*command, str(KERNEL), "-o", str(tmp_path / "argon2id.cubin")]).stderr
    sections = report.split("Compiling entry function '")[1:]
    registers = {}
    for section in sections:
        name = section.split("'")[0]
        assert "0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads" in section, name
        used = re.search(r"Used (\d+) registers", section)
        assert used is not None
        registers[name] = int(used.group(1))
    assert set(registers) == set(KERNEL_NAMES)
    assert max(registers.values()) <= 64, registers


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The kernels and tests/cuda/emulate_main.cpp built with g++, once per module."""
    gxx = _tool("g++")
    binary = tmp_path_factory.mktemp("emulator") / "emulate"
    _run(
        [
            gxx,
            "-std=c++20",
            "-O2",
            "-Wall",
            "-Wno-unknown-pragmas",
            *COMPILE_OPTIONS,
            "-include",
            str(EMULATION / "warp_emulation.hpp"),
            "-x",
            "c++",
            str(KERNEL),
            str(EMULATION / "emulate_main.cpp"),
            "-o",
            str(binary),
        ]
    )
    return binary


def _emulate_range(emulator: Path, keys: KeyRange, salt: bytes, difficulty: int) -> list[bytes]:
    template = h0_template(salt, difficulty, keys.stem).hex()
    args = [template, str(keys.start), str(keys.count), str(difficulty)]
    output = _run([str(emulator), "range", *args]).stdout.split()
    return [bytes.fromhex(line) for line in output]


def _emulate_keys(emulator: Path, keys: list[str], salt: bytes, difficulty: int) -> list[bytes]:
    template = h0_template(salt, difficulty).hex()
    output = _run([str(emulator), "keys", template, str(difficulty), *keys]).stdout.split()
    return [bytes.fromhex(line) for line in output]


def _random_range(rng: random.Random, count: int, *, top: bool = False) -> KeyRange:
    stem = f"{rng.getrandbits(192):048x}"
    start = MAX_COUNTER - count + 1 if top else rng.getrandbits(64) % (MAX_COUNTER - count)
    return KeyRange(stem, start, count)


# Difficulty, how many keys, whether the counters run up to 0xffff...ff. Five keys need two
# CUDA blocks of four warps, so warps without a hash are exercised too.
CASES = [(8, 5, False), (8, 2, True), (9, 3, True), (64, 3, False), (1727, 3, True)]


@pytest.mark.parametrize(("difficulty", "count", "top"), CASES)
def test_derived_keys_match_argon2_cffi(
    emulator: Path, difficulty: int, count: int, top: bool
) -> None:
    rng = random.Random(difficulty * 1000 + count)
    keys = _random_range(rng, count, top=top)
    salt = rng.randbytes(SALT_LENGTH)
    got = _emulate_range(emulator, keys, salt, difficulty)
    assert got == [argon2_raw(key, salt, difficulty) for key in keys.all_keys()]


@pytest.mark.parametrize("difficulty", [8, 9, 64, 1727])
def test_arbitrary_keys_match_argon2_cffi(emulator: Path, difficulty: int) -> None:
    rng = random.Random(difficulty)
    keys = [f"{rng.getrandbits(256):064x}" for _ in range(2)] + ["f" * 64]
    salt = rng.randbytes(SALT_LENGTH)
    got = _emulate_keys(emulator, keys, salt, difficulty)
    assert got == [argon2_raw(key, salt, difficulty) for key in keys]


def test_a_large_difficulty(emulator: Path) -> None:
    """16000 KiB: 16 MB of memory, 32 address blocks per data-independent slice."""
    rng = random.Random(16000)
    keys = _random_range(rng, 1)
    salt = rng.randbytes(SALT_LENGTH)
    assert _emulate_range(emulator, keys, salt, 16000) == [argon2_raw(keys.key(0), salt, 16000)]
