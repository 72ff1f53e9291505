"""Work-normalised telemetry: work = H/s × difficulty, efficiency = work per watt."""

from __future__ import annotations

from functions.logic.work import derived_values, efficiency, sample_of, work
from functions.models.telemetry import TelemetryPoint, worker_series


def test_a_difficulty_change_moves_the_hashrate_not_the_work():
    assert work(2_000.0, 40_000) == work(1_000.0, 80_000) == 80_000_000.0


def test_work_is_unknown_without_a_difficulty():
    assert work(2_000.0, None) is None
    assert work(2_000.0, 0) is None  # a rig that knew none reports 0
    assert efficiency(None, 300.0) is None
    assert efficiency(80_000_000.0, None) is None
    assert efficiency(80_000_000.0, 0.0) is None
    assert efficiency(80_000_000.0, 320.0) == 250_000.0


def _point(values: dict[str, float]) -> TelemetryPoint:
    return TelemetryPoint(series=worker_series("w1"), ts=900, values=values, expires_at=9_000)


def test_a_point_reads_back_as_a_sample_with_its_gpus():
    sample = sample_of(
        _point(
            {
                "hashrate": 3_000.0,
                "active_gpus": 2.0,
                "accepted_blocks": 4.0,
                "difficulty": 40_000.0,
                "gpu1.hashrate": 1_000.0,
                "gpu1.power_w": 250.0,
                "gpu0.hashrate": 2_000.0,
                "gpu0.temperature_c": 64.0,
                "gpu0.fan_pct": 55.0,
                "gpu0.power_w": 320.0,
            }
        )
    )
    assert (sample.ts, sample.hashrate, sample.active_gpus, sample.difficulty) == (
        900,
        3_000.0,
        2,
        40_000,
    )
    assert [g.index for g in sample.gpus] == [0, 1]
    gpu0, gpu1 = sample.gpus
    assert (gpu0.temperature_c, gpu0.fan_pct, gpu1.temperature_c) == (64.0, 55.0, None)
    assert sample.work == 120_000_000.0
    assert sample.gpu_work(gpu1) == 40_000_000.0
    assert sample.gpu_efficiency(gpu0) == 250_000.0  # 80 M KiB/s over 320 W


def test_an_old_point_without_a_difficulty_stays_readable():
    sample = sample_of(_point({"hashrate": 1_500.0, "active_gpus": 1.0, "gpu0.hashrate": 1_500.0}))
    assert sample.difficulty is None
    assert sample.work is None
    assert sample.gpu_work(sample.gpus[0]) is None
    assert derived_values({"hashrate": 1_500.0, "gpu0.hashrate": 1_500.0}) == {}


def test_derived_values_name_work_and_efficiency_like_the_point_names_its_figures():
    values = {
        "hashrate": 3_000.0,
        "difficulty": 40_000.0,
        "gpu0.hashrate": 2_000.0,
        "gpu0.power_w": 320.0,
        "gpu1.hashrate": 1_000.0,
    }
    assert derived_values(values) == {
        "work": 120_000_000.0,
        "gpu0.work": 80_000_000.0,
        "gpu0.efficiency": 250_000.0,
        "gpu1.work": 40_000_000.0,  # no power reading: no efficiency
    }
