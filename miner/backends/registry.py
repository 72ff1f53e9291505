"""Backends by name: what ``--backend`` accepts and which devices each one can use."""

from __future__ import annotations

from miner.backends.base import BackendError, HashBackend

BACKENDS = ("cpu", "cupy")


def make_backend(name: str, device: int = 0, *, processes: int | None = None) -> HashBackend:
    """The backend called ``name``; ``device`` picks the GPU (cupy), ``processes`` the CPU
    worker count (cpu). A missing CuPy or GPU is a ``BackendError``."""
    if name == "cpu":
        from miner.backends.cpu import CpuBackend

        return CpuBackend(processes)
    if name == "cupy":
        try:
            from miner.backends.cupy_backend import CupyBackend
        except ImportError as error:  # CuPy (or its CUDA libraries) not installed
            raise BackendError(f"the cupy backend is unavailable: {error}") from error
        return CupyBackend(device)
    raise ValueError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")


def available_devices(name: str) -> list[int]:
    """The device indices ``name`` can hash on here: the CPU is one device; each GPU is one."""
    if name == "cpu":
        return [0]
    if name == "cupy":
        try:
            from miner.backends.cupy_backend import device_count
        except ImportError:
            return []
        try:
            return list(range(device_count()))
        except RuntimeError:  # BackendError, or a CUDA driver error: no usable GPU
            return []
    raise ValueError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
