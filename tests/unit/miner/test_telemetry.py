"""GPU telemetry through a fake NVML module; the host facts of a CPU-only rig."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from miner.telemetry import Telemetry, cpu_description, total_memory_gb
from protocol.uplink import GpuInfo, GpuTelemetry, Heartbeat, Register

GIB = 1024**3


class NVMLError(Exception):
    pass


class NVMLError_NotSupported(NVMLError):  # noqa: N801 - pynvml's names
    pass


class NVMLError_LibraryNotFound(NVMLError):  # noqa: N801 - pynvml's names
    pass


class NVMLError_GpuIsLost(NVMLError):  # noqa: N801 - pynvml's names
    pass


@dataclass
class FakeGpu:
    name: str | bytes
    memory: int  # bytes
    bus: int
    temperature: int | Exception = 60
    fan: int | Exception = 40
    power_mw: int | Exception = 250_000
    handle_error: Exception | None = None


@dataclass
class FakeNvml:
    """The slice of pynvml's API the telemetry uses."""

    gpus: list[FakeGpu]
    init_error: Exception | None = None
    count_error: Exception | None = None
    calls: list[str] = field(default_factory=list)

    NVMLError = NVMLError
    NVML_TEMPERATURE_GPU = 0

    def nvmlInit(self) -> None:
        self.calls.append("init")
        if self.init_error:
            raise self.init_error

    def nvmlShutdown(self) -> None:
        self.calls.append("shutdown")

    def nvmlDeviceGetCount(self) -> int:
        if self.count_error:
            raise self.count_error
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        gpu = self.gpus[index]
        if gpu.handle_error:
            raise gpu.handle_error
        return gpu

    def nvmlDeviceGetName(self, handle: FakeGpu) -> str | bytes:
        return handle.name

    def nvmlDeviceGetMemoryInfo(self, handle: FakeGpu) -> Any:
        return SimpleNamespace(total=handle.memory, free=handle.memory // 2, used=0)

    def nvmlDeviceGetPciInfo(self, handle: FakeGpu) -> Any:
        return SimpleNamespace(bus=handle.bus, domain=0, device=0)

    def nvmlDeviceGetTemperature(self, handle: FakeGpu, sensor: int) -> int:
        assert sensor == self.NVML_TEMPERATURE_GPU
        return _value(handle.temperature)

    def nvmlDeviceGetFanSpeed(self, handle: FakeGpu) -> int:
        return _value(handle.fan)

    def nvmlDeviceGetPowerUsage(self, handle: FakeGpu) -> int:
        return _value(handle.power_mw)


def _value(value: int | Exception) -> int:
    if isinstance(value, Exception):
        raise value
    return value


def two_gpus() -> FakeNvml:
    return FakeNvml(
        [
            FakeGpu("NVIDIA GeForce RTX 4090", int(23.99 * GIB), bus=1, fan=38, power_mw=312_456),
            # A datacenter GPU: no fan, and this one reports no power either.
            FakeGpu(
                b"NVIDIA H100 80GB HBM3",
                81_559 * 1024**2,
                bus=0x41,
                temperature=35,
                fan=NVMLError_NotSupported("Not Supported"),
                power_mw=NVMLError_NotSupported("Not Supported"),
            ),
        ]
    )


def test_two_gpus_inventory() -> None:
    telemetry = Telemetry.open(two_gpus())

    assert telemetry.available
    assert telemetry.gpus() == [
        GpuInfo(index=0, name="NVIDIA GeForce RTX 4090", memory_gb=24, bus_id=1),
        GpuInfo(index=1, name="NVIDIA H100 80GB HBM3", memory_gb=80, bus_id=0x41),
    ]


def test_sample_reads_what_each_gpu_supports() -> None:
    telemetry = Telemetry.open(two_gpus())

    samples = telemetry.sample({0: 5123.5, 1: 9000.0, 7: 1.0})

    assert samples == [
        GpuTelemetry(index=0, hashrate=5123.5, temperature_c=60.0, fan_pct=38.0, power_w=312.456),
        GpuTelemetry(index=1, hashrate=9000.0, temperature_c=35.0, fan_pct=None, power_w=None),
    ]
    for sample in samples:
        for value in (sample.temperature_c, sample.fan_pct, sample.power_w):
            assert value is None or type(value) is float


def test_samples_fit_the_heartbeat_and_register_models() -> None:
    telemetry = Telemetry.open(two_gpus())
    samples = telemetry.sample({0: 1.0})
    gpus = telemetry.gpus()

    heartbeat = Heartbeat(
        worker_id="rig-1",
        hashrate=1.0,
        active_gpus=2,
        accepted_blocks=0,
        difficulty=1727,
        uptime_sec=1,
        timestamp=1,
        gpus=samples,
    )
    register = Register(
        worker_id="rig-1",
        eth_address="0x5B38Da6a701c568545dCfcB03FcB875f56beddC4",
        gpu_count=len(gpus),
        total_memory_gb=sum(gpu.memory_gb for gpu in gpus),
        gpus=gpus,
        version="0.1.0",
        timestamp=1,
    )
    # Round-trips through the wire form the cloud validates.
    assert Heartbeat.model_validate_json(heartbeat.model_dump_json()) == heartbeat
    assert Register.model_validate_json(register.model_dump_json()) == register


def test_missing_hashrate_is_zero_and_bad_ones_are_sanitised() -> None:
    telemetry = Telemetry.open(two_gpus())

    rates = [s.hashrate for s in telemetry.sample({1: float("nan")})]
    assert rates == [0.0, 0.0]
    assert [s.hashrate for s in telemetry.sample({0: -5.0, 1: 3})] == [0.0, 3.0]


def test_out_of_range_readings_become_valid_values() -> None:
    nvml = FakeNvml(
        [
            FakeGpu("A", GIB, bus=2, temperature=4_000_000, fan=120, power_mw=-1),
            FakeGpu("B", GIB, bus=3, temperature=-300, fan=-3, power_mw=0),
        ]
    )

    first, second = Telemetry.open(nvml).sample({})

    assert (first.temperature_c, first.fan_pct, first.power_w) == (None, 100.0, None)
    assert (second.temperature_c, second.fan_pct, second.power_w) == (None, 0.0, 0.0)


def test_unreadable_fields_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    telemetry = Telemetry.open(two_gpus())

    with caplog.at_level(logging.INFO, logger="miner.telemetry"):
        telemetry.sample({})
        telemetry.sample({})

    messages = [r.getMessage() for r in caplog.records]
    assert sum("GPU 1: fan not readable" in m for m in messages) == 1
    assert sum("GPU 1: power not readable" in m for m in messages) == 1


def test_a_lost_gpu_at_sample_time_gives_none_not_an_error() -> None:
    nvml = two_gpus()
    telemetry = Telemetry.open(nvml)
    nvml.gpus[0].temperature = NVMLError_GpuIsLost("GPU is lost")
    nvml.gpus[0].fan = NVMLError_GpuIsLost("GPU is lost")
    nvml.gpus[0].power_mw = NVMLError_GpuIsLost("GPU is lost")

    first, _ = telemetry.sample({0: 10.0})

    assert first == GpuTelemetry(index=0, hashrate=10.0)


def test_a_gpu_that_cannot_be_opened_is_left_out() -> None:
    nvml = two_gpus()
    nvml.gpus[0].handle_error = NVMLError_GpuIsLost("GPU is lost")

    telemetry = Telemetry.open(nvml)

    assert [gpu.index for gpu in telemetry.gpus()] == [1]
    assert [s.index for s in telemetry.sample({})] == [1]


def test_no_pynvml_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` an ImportError

    telemetry = Telemetry.open()

    assert not telemetry.available
    assert telemetry.gpus() == []
    assert telemetry.sample({0: 100.0}) == []
    telemetry.close()


def test_nvml_init_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = FakeNvml([], init_error=NVMLError_LibraryNotFound("NVML Shared Library Not Found"))
    module = ModuleType("pynvml")
    for name in dir(nvml):
        if name.startswith(("nvml", "NVML")):
            setattr(module, name, getattr(nvml, name))
    monkeypatch.setitem(sys.modules, "pynvml", module)

    telemetry = Telemetry.open()

    assert nvml.calls == ["init"]
    assert not telemetry.available
    assert telemetry.gpus() == []
    assert telemetry.sample({}) == []


def test_init_may_fail_with_any_error() -> None:
    telemetry = Telemetry.open(FakeNvml([], init_error=OSError("libnvidia-ml.so.1: no such file")))

    assert not telemetry.available


def test_count_failure_shuts_nvml_down() -> None:
    nvml = FakeNvml([], count_error=NVMLError("Unknown Error"))

    telemetry = Telemetry.open(nvml)

    assert not telemetry.available
    assert nvml.calls == ["init", "shutdown"]


def test_the_real_pynvml_without_a_driver_never_raises() -> None:
    # Whatever this machine has (no package, no driver, or real GPUs), open() succeeds.
    with Telemetry.open() as telemetry:
        for info in telemetry.gpus():
            assert isinstance(info, GpuInfo)
        assert len(telemetry.sample({})) == len(telemetry.gpus())


def test_close_shuts_down_once() -> None:
    nvml = two_gpus()
    telemetry = Telemetry.open(nvml)

    telemetry.close()
    telemetry.close()

    assert nvml.calls == ["init", "shutdown"]
    assert not telemetry.available
    assert telemetry.sample({0: 1.0}) == []


def test_long_or_odd_names_are_made_valid() -> None:
    nvml = FakeNvml([FakeGpu("  NVIDIA\tA100 " + "x" * 300, GIB, bus=0), FakeGpu(b"", GIB, bus=1)])

    first, second = Telemetry.open(nvml).gpus()

    assert first.name.startswith("NVIDIA A100 x")
    assert len(first.name) == 128
    assert second.name == "GPU 1"


# -- the host -----------------------------------------------------------------------------


def test_cpu_description_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nvendor_id\t: AuthenticAMD\n"
        "model name\t: AMD EPYC 7763 64-Core Processor\nflags\t: fpu\n\n"
        "processor\t: 1\nmodel name\t: AMD EPYC 7763 64-Core Processor\n"
    )

    description = cpu_description(cpuinfo)

    assert description.startswith("AMD EPYC 7763 64-Core Processor (")
    assert description.endswith((" threads)", " thread)"))
    assert len(description) <= 128


def test_cpu_description_without_cpuinfo(tmp_path: Path) -> None:
    description = cpu_description(tmp_path / "missing")

    assert description
    assert len(description) <= 128


def test_cpu_description_of_this_machine() -> None:
    assert 0 < len(cpu_description()) <= 128


def test_total_memory_from_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       131891060 kB\nMemFree:         1000 kB\n")

    assert total_memory_gb(meminfo) == 126


def test_total_memory_falls_back_to_sysconf(tmp_path: Path) -> None:
    assert total_memory_gb(tmp_path / "missing") >= 0
    assert total_memory_gb() >= 0
