"""``xenblocks-miner bench``: what it measures and prints; tiny runs at difficulty 8."""

from __future__ import annotations

import argparse
import json

import pytest

from miner import bench
from miner.backends.cpu import CpuBackend
from miner.backends.registry import available_devices
from miner.bench import (
    BenchResult,
    add_bench_arguments,
    measure_plain,
    plain_counts,
    run_bench,
    run_bench_command,
)

REQUIRED = {"backend", "difficulty", "hashes_per_second", "baseline_hashes_per_second", "device"}
EXTRA = {
    "speedup",
    "plain_best_hashes_per_second",
    "plain_best_processes",
    "vs_best_plain",
    "plain_hashes_per_second",
    "hashes",
    "seconds",
    "batch_size",
}


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="xenblocks-miner bench")
    add_bench_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU backend's own batches last most of a second; tests need a few milliseconds."""
    monkeypatch.setattr(CpuBackend, "batch_size", lambda self, difficulty: 64)
    monkeypatch.setattr(bench, "START_TIMEOUT", 30.0)


def test_run_bench_measures_the_backend_against_plain_argon2() -> None:
    progress: list[str] = []
    [result] = run_bench(
        ["cpu"],
        [8],
        seconds=0.04,
        processes=2,
        warmup=0.01,
        batch_size=64,
        rounds=2,
        progress=progress.append,
    )
    assert result.backend == "cpu"
    assert result.difficulty == 8
    assert result.device.startswith("cpu × 2")
    assert result.hashes_per_second > 0
    assert set(result.plain_hashes_per_second) == {1, 2}
    assert result.baseline_hashes_per_second == result.plain_hashes_per_second[1]
    assert result.plain_best_hashes_per_second == max(result.plain_hashes_per_second.values())
    assert result.plain_hashes_per_second[result.plain_best_processes] == (
        result.plain_best_hashes_per_second
    )
    # Two rounds of at least one batch each (warm-up and drain are not counted).
    assert result.hashes >= 2 * 64
    assert result.hashes % 64 == 0
    assert result.seconds >= 0.04
    assert result.batch_size == 64
    assert progress == [
        "argon2-cffi, 1 process(es), m=8: 0.02 s (round 1 of 2)",
        "argon2-cffi, 2 process(es), m=8: 0.02 s (round 1 of 2)",
        f"cpu on {result.device}, m=8: 0.02 s (round 1 of 2)",
        "argon2-cffi, 1 process(es), m=8: 0.02 s (round 2 of 2)",
        "argon2-cffi, 2 process(es), m=8: 0.02 s (round 2 of 2)",
        f"cpu on {result.device}, m=8: 0.02 s (round 2 of 2)",
    ]

    line = result.to_json()
    assert set(line) == REQUIRED | EXTRA
    assert list(line)[:5] == [
        "backend",
        "difficulty",
        "hashes_per_second",
        "baseline_hashes_per_second",
        "device",
    ]
    assert all(line[key] > 0 for key in ("hashes_per_second", "baseline_hashes_per_second"))
    assert line["plain_hashes_per_second"].keys() == {"1", "2"}
    json.dumps(line)


@pytest.mark.usefixtures("small_batches")
def test_json_output_is_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = run_bench_command(
        parse("--json", "--difficulty", "8,9", "--seconds", "0.05", "--processes", "1")
    )
    out, err = capsys.readouterr()
    assert code == 0
    assert err == ""  # no progress chatter in JSON mode
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["difficulty"] for line in lines] == [8, 9]
    for line in lines:
        assert set(line) == REQUIRED | EXTRA
        assert line["backend"] == "cpu"
        assert line["hashes_per_second"] > 0
        assert line["baseline_hashes_per_second"] > 0
        assert line["plain_best_processes"] == 1


@pytest.mark.usefixtures("small_batches")
def test_the_human_table(capsys: pytest.CaptureFixture[str]) -> None:
    code = run_bench_command(
        parse("--backend", "cpu", "--difficulty", "8", "--seconds", "0.05", "--processes", "1")
    )
    out, err = capsys.readouterr()
    assert code == 0
    header, row = out.splitlines()
    assert header.split()[:3] == ["backend", "KiB", "H/s"]
    assert row.split()[:2] == ["cpu", "8"]
    assert "cpu × 1" in row
    assert "measuring argon2-cffi, 1 process(es), m=8" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--difficulty", "7"], "at least 8"),
        (["--difficulty", "1727,abc"], "'abc' is not a whole number"),
        (["--difficulty", ""], "not a whole number"),
        (["--backend", "cpu,opencl"], "unknown backend 'opencl'; choose from cpu, cupy"),
        (["--seconds", "0"], "--seconds must be positive"),
        (["--processes", "0"], "--processes must be at least 1"),
        (["--device", "-1"], "--device"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_bench_command(parse(*argv)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("xenblocks-miner bench: ")
    assert message in err


@pytest.mark.gpu(device=False)  # skips on a machine with a GPU
def test_cupy_without_a_gpu_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    if available_devices("cupy"):
        pytest.skip("this machine has a GPU")
    assert run_bench_command(parse("--backend", "cupy", "--seconds", "0.05")) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("xenblocks-miner bench: ")


def test_run_bench_refuses_bad_input_before_measuring() -> None:
    with pytest.raises(ValueError, match="at least 8"):
        next(run_bench(["cpu"], [4], seconds=1))
    with pytest.raises(ValueError, match="choose from cpu, cupy"):
        next(run_bench(["gpu"], [8], seconds=1))
    with pytest.raises(ValueError, match="positive"):
        next(run_bench(["cpu"], [8], seconds=0))
    with pytest.raises(ValueError, match="rounds"):
        next(run_bench(["cpu"], [8], seconds=1, rounds=0))


def test_plain_threads_share_one_process() -> None:
    assert measure_plain(8, 0.02, 2, threads=True, warmup=0.01) > 0


def test_which_process_counts_are_tried() -> None:
    assert plain_counts(1) == [1]
    assert plain_counts(2) == [1, 2]
    assert plain_counts(4) == [1, 2, 3, 4]
    assert plain_counts(6) == [1, 2, 4, 6]
    assert plain_counts(16) == [1, 2, 4, 8, 16]


def test_ratios_and_the_optional_thread_figures() -> None:
    result = BenchResult(
        backend="cpu",
        difficulty=1727,
        hashes_per_second=1800.0,
        baseline_hashes_per_second=900.0,
        device="cpu × 2",
        plain_best_hashes_per_second=1500.0,
        plain_best_processes=2,
        plain_hashes_per_second={1: 900.0, 2: 1500.0},
        hashes=18_000,
        seconds=10.0,
        batch_size=1200,
        plain_threads_hashes_per_second={1: 880.0, 2: 1400.0},
    )
    assert result.speedup == 2.0
    assert result.vs_best_plain == 1.2
    line = result.to_json()
    assert line["plain_threads_hashes_per_second"] == {"1": 880.0, "2": 1400.0}
    assert line["plain_hashes_per_second"] == {"1": 900.0, "2": 1500.0}
