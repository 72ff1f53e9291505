"""GPU inventory and telemetry through NVML, and the host facts a CPU-only rig registers.

NVML (``pynvml`` from nvidia-ml-py) is optional: without the package, the driver or a GPU,
``Telemetry.open()`` still succeeds and reports no GPUs (``available`` is False). Each
reading is taken on its own: a field NVML cannot read for a GPU (fanless datacenter GPUs
have no fan speed, some report no power) is None, and the other fields still come through.
Telemetry never stops the miner.

GPU indexes are NVML's, which follow PCI bus order; CUDA numbers devices the same way when
``CUDA_DEVICE_ORDER=PCI_BUS_ID`` is set, so hashrates keyed by CUDA device line up.
"""

from __future__ import annotations

import logging
import math
import os
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from miner.closing import Closing
from protocol.uplink import GpuInfo, GpuTelemetry

log = logging.getLogger(__name__)

GIB = 1024**3
MAX_NAME_LENGTH = 128  # protocol ShortText
MAX_TEMPERATURE_C = 200.0  # anything hotter is a bad reading, not a GPU


@dataclass(frozen=True)
class _Gpu:
    info: GpuInfo
    handle: Any


class Telemetry(Closing):
    """The GPUs NVML sees, read at ``open``; ``sample`` reads their sensors."""

    def __init__(self, nvml: Any | None = None, gpus: list[_Gpu] | None = None) -> None:
        """Use ``Telemetry.open()``; this constructor with no arguments has no GPUs."""
        self._nvml = nvml
        self._gpus = list(gpus or [])
        self._unreadable: set[tuple[int, str]] = set()

    @classmethod
    def open(cls, nvml: ModuleType | Any | None = None) -> Telemetry:
        """Initialise NVML (``pynvml`` unless a module is given) and list the GPUs.

        Never raises: without NVML, a driver or GPUs the result reports no GPUs.
        """
        if nvml is None:
            try:
                import pynvml
            except ImportError:
                log.info("NVML (nvidia-ml-py) is not installed: no GPU telemetry")
                return cls()
            nvml = pynvml
        try:
            nvml.nvmlInit()
        except Exception as error:
            log.info("NVML unavailable (%s): no GPU telemetry", error)
            return cls()
        try:
            count = int(nvml.nvmlDeviceGetCount())
        except Exception as error:
            log.warning("NVML cannot count GPUs (%s): no GPU telemetry", error)
            _shutdown(nvml)
            return cls()
        gpus: list[_Gpu] = []
        for index in range(count):
            try:
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                info = _inventory(nvml, index, handle)
            except Exception as error:
                # A GPU that fell off the bus: skip it rather than lose the others.
                log.warning("NVML cannot read GPU %d (%s): left out", index, error)
                continue
            gpus.append(_Gpu(info, handle))
        return cls(nvml, gpus)

    @property
    def available(self) -> bool:
        """Whether NVML is initialised (it may still see no GPUs)."""
        return self._nvml is not None

    def gpus(self) -> list[GpuInfo]:
        """The GPUs NVML listed at ``open``, in index order."""
        return [gpu.info for gpu in self._gpus]

    def sample(self, hashrates: Mapping[int, float]) -> list[GpuTelemetry]:
        """Per GPU: its hashrate from ``hashrates`` (0 when absent) and what NVML can read."""
        nvml = self._nvml
        if nvml is None:
            return []
        samples: list[GpuTelemetry] = []
        for gpu in self._gpus:
            index = gpu.info.index
            temperature = self._read(
                index,
                "temperature",
                lambda h: nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU),
                gpu.handle,
            )
            fan = self._read(index, "fan", nvml.nvmlDeviceGetFanSpeed, gpu.handle)
            power_mw = self._read(index, "power", nvml.nvmlDeviceGetPowerUsage, gpu.handle)
            samples.append(
                GpuTelemetry(
                    index=index,
                    hashrate=_hashrate(hashrates.get(index, 0.0)),
                    temperature_c=_within(temperature, -50.0, MAX_TEMPERATURE_C),
                    # NVML may report a fan above 100% of its nominal speed: clamp.
                    fan_pct=_clamped(fan, 0.0, 100.0),
                    power_w=None if power_mw is None or power_mw < 0 else power_mw / 1000.0,
                )
            )
        return samples

    def _read(self, index: int, field: str, read: Any, handle: Any) -> float | None:
        """One NVML reading as a finite float, or None (logged once per GPU and field)."""
        try:
            value = float(read(handle))
        except Exception as error:
            if (index, field) not in self._unreadable:
                self._unreadable.add((index, field))
                log.info("GPU %d: %s not readable through NVML (%s)", index, field, error)
            return None
        return value if math.isfinite(value) else None

    def close(self) -> None:
        """Shut NVML down; afterwards ``sample`` returns nothing. Idempotent."""
        nvml, self._nvml = self._nvml, None
        if nvml is not None:
            _shutdown(nvml)


def _inventory(nvml: Any, index: int, handle: Any) -> GpuInfo:
    name = nvml.nvmlDeviceGetName(handle)
    if isinstance(name, bytes):  # older nvidia-ml-py returns bytes
        name = name.decode("utf-8", "replace")
    name = " ".join(str(name).split())[:MAX_NAME_LENGTH] or f"GPU {index}"
    try:
        memory_gb = round(int(nvml.nvmlDeviceGetMemoryInfo(handle).total) / GIB)
    except Exception as error:
        log.info("GPU %d: memory size not readable through NVML (%s)", index, error)
        memory_gb = 0
    try:
        bus_id = int(nvml.nvmlDeviceGetPciInfo(handle).bus)
    except Exception as error:
        log.info("GPU %d: PCI bus not readable through NVML (%s)", index, error)
        bus_id = 0
    return GpuInfo(index=index, name=name, memory_gb=max(0, memory_gb), bus_id=max(0, bus_id))


def _shutdown(nvml: Any) -> None:
    try:
        nvml.nvmlShutdown()
    except Exception as error:
        log.debug("NVML shutdown failed: %s", error)


def _hashrate(value: object) -> float:
    try:
        rate = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return rate if math.isfinite(rate) and rate >= 0 else 0.0


def _within(value: float | None, low: float, high: float) -> float | None:
    return value if value is not None and low <= value <= high else None


def _clamped(value: float | None, low: float, high: float) -> float | None:
    return None if value is None else min(high, max(low, value))


# -- the host, for a CPU-only rig ----------------------------------------------------------


def cpu_description(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU model and thread count, e.g. ``"AMD EPYC 7763 64-Core Processor (16 threads)"``."""
    model = ""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware", "cpu model") and value.strip():
            model = value.strip()
            break
    model = " ".join((model or platform.processor() or platform.machine() or "CPU").split())
    threads = _usable_cpus()
    suffix = f" ({threads} thread{'s' if threads != 1 else ''})" if threads else ""
    return model[: MAX_NAME_LENGTH - len(suffix)] + suffix


def _usable_cpus() -> int | None:
    """The CPUs this process may run on (a container's share), else the host's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


_MEMTOTAL = re.compile(r"^MemTotal:\s+(\d+)\s*kB", re.MULTILINE)


def total_memory_gb(meminfo: Path = Path("/proc/meminfo")) -> int:
    """The host's memory in GiB (rounded), 0 when it cannot be read."""
    try:
        match = _MEMTOTAL.search(meminfo.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        match = None
    if match:
        return round(int(match.group(1)) * 1024 / GIB)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return 0
    return max(0, round(total / GIB))
