"""Fleet intelligence in the platform: the baselines job stores each rig's baseline and the
GPU models' figures; ingest's watch scores every heartbeat against them, opens a finding
when a fault persists, closes it when it is over, and writes nothing for a healthy rig."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from functions.dal.insights import InsightsRepository
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.logic import baseline_codec
from functions.logic.anomaly import build_baseline
from functions.logic.anomaly_watch import WATCH_POLICY, AnomalyWatch
from functions.logic.insights import InsightsJob, current_slice, model_figures, slice_of
from functions.logic.work import RigSample
from functions.models.insights import AnomalyFinding, StoredBaseline
from functions.models.telemetry import TelemetryPoint, worker_series
from tests.factories import PROVIDER, online_worker
from tests.unit.test_anomaly import DAY, GPU_WORK, NOW, history, rig_reading

HEARTBEAT = 30
MODEL = "RTX 3090"


def values_of(sample: RigSample) -> dict[str, float]:
    values = {"hashrate": sample.hashrate, "active_gpus": float(sample.active_gpus or 0)}
    if sample.difficulty:
        values["difficulty"] = float(sample.difficulty)
    for gpu in sample.gpus:
        for name in ("hashrate", "temperature_c", "fan_pct", "power_w"):
            value = getattr(gpu, name)
            if value is not None:
                values[f"gpu{gpu.index}.{name}"] = value
    return values


def write_history(tables, worker_id: str, seed: int = 1) -> None:
    TelemetryRepository(tables).put_many(
        TelemetryPoint(
            series=worker_series(worker_id), ts=s.ts, values=values_of(s), expires_at=NOW + DAY
        )
        for s in history(seed)
    )


@pytest.fixture
def insights_settings(settings):
    return settings.model_copy(update={"insights_slices": 1})


def test_a_baseline_survives_its_encoding():
    built = build_baseline(history(), now=NOW, gpu_model=MODEL)
    assert built is not None
    assert baseline_codec.decode(baseline_codec.encode(built)) == built
    with pytest.raises(ValueError, match="version"):
        baseline_codec.decode('{"v": 99}')
    with pytest.raises(ValueError, match="malformed"):
        baseline_codec.decode('{"v": 1, "points": 3}')


def test_slices_spread_the_fleet_over_the_day():
    assert {slice_of(f"w{i}", 24) for i in range(500)} == set(range(24))
    assert slice_of("w1", 24) == slice_of("w1", 24)  # stable across processes
    assert current_slice(0, 24) == 0
    assert current_slice(3600 * 25, 24) == 1


def test_the_job_stores_baselines_and_the_gpu_models_figures(tables, insights_settings):
    workers = [online_worker(tables, gpu=MODEL, gpus=2, now=NOW) for _ in range(5)]
    for i, worker in enumerate(workers):
        write_history(tables, worker.worker_id, seed=i + 1)
    newcomer = online_worker(tables, gpu=MODEL, now=NOW)  # no history yet: no baseline

    run = InsightsJob(insights_settings, tables).run(NOW)

    assert (run.baselines, run.too_little_history, run.failures) == (5, 1, 0)
    repo = InsightsRepository(tables)
    stored = repo.rig(workers[0].worker_id).baseline
    assert stored is not None
    assert (stored.owner, stored.gpu_model, stored.computed_at) == (PROVIDER, MODEL, NOW)
    assert sorted(baseline_codec.decode(stored.baseline_json).gpus) == [0, 1]
    assert repo.rig(newcomer.worker_id).baseline is None
    # Five rigs of one model: enough peers for a public figure.
    assert run.models == 1
    [figures] = repo.model_figures().values()
    assert (figures.gpu_model, figures.rigs, figures.gpus) == (MODEL, 5, 10)
    assert figures.work_median == pytest.approx(GPU_WORK, rel=0.02)
    assert figures.power_median_w == pytest.approx(300, rel=0.02)
    assert figures.efficiency_median == pytest.approx(GPU_WORK / 300, rel=0.03)


def test_a_model_needs_enough_rigs_for_its_figures():
    baselines = [build_baseline(history(seed), now=NOW, gpu_model=MODEL) for seed in range(4)]
    assert model_figures([b for b in baselines if b], now=NOW) == []


# -- the watch --------------------------------------------------------------------------------


class CountingInsights(InsightsRepository):
    def __init__(self, tables) -> None:
        super().__init__(tables)
        self.reads = 0
        self.writes = 0

    def rig(self, worker_id: str):
        self.reads += 1
        return super().rig(worker_id)

    def open_finding(self, finding: AnomalyFinding) -> None:
        self.writes += 1
        super().open_finding(finding)

    def close_finding(self, finding: AnomalyFinding, *, now: int) -> AnomalyFinding:
        self.writes += 1
        return super().close_finding(finding, now=now)


@pytest.fixture
def watched(tables):
    """A rig with a stored baseline, and a watch over the table."""
    worker = online_worker(tables, gpu=MODEL, gpus=2, now=NOW)
    built = build_baseline(history(), now=NOW, gpu_model=MODEL)
    assert built is not None
    repo = CountingInsights(tables)
    repo.put_baseline(
        StoredBaseline(
            worker_id=worker.worker_id,
            owner=worker.owner,
            gpu_model=MODEL,
            computed_at=NOW,
            points=built.points,
            baseline_json=baseline_codec.encode(built),
        )
    )
    return worker.worker_id, repo, AnomalyWatch(repo, WorkerRepository(tables), cache_seconds=3600)


RNG = random.Random(3)


def beats(start: int, count: int, **fault: float) -> list[RigSample]:
    return [replace(rig_reading(0, RNG, **fault), ts=start + i * HEARTBEAT) for i in range(count)]


def feed(watch: AnomalyWatch, worker_id: str, samples: list[RigSample]):
    opened, closed = [], []
    for sample in samples:
        result = watch.observe(worker_id, sample, sample.ts)
        opened += result.opened
        closed += result.closed
    return opened, closed


def test_a_healthy_rig_costs_one_read_and_no_write(watched):
    worker_id, repo, watch = watched
    opened, closed = feed(watch, worker_id, beats(NOW, 60))
    assert (opened, closed) == ([], [])
    assert (repo.reads, repo.writes) == (1, 0)


def test_a_persistent_fault_opens_one_finding_then_closes_it(watched):
    worker_id, repo, watch = watched
    feed(watch, worker_id, beats(NOW, 10))
    fault_at = NOW + 10 * HEARTBEAT
    opened, _ = feed(watch, worker_id, beats(fault_at, 20, temperature=78.0, fan=5.0))

    [finding] = opened
    assert (finding.reason, finding.gpu, finding.owner) == ("fan_failure", 1, PROVIDER)
    assert finding.opened_at == fault_at
    # Persistence: 7 scores of 10 over at least 4 minutes, never sooner.
    assert finding.last_seen == fault_at + 8 * HEARTBEAT
    assert finding.message.startswith("GPU 1: fan at 5%")
    assert {"fan_pct", "expected_fan_pct"} <= set(finding.evidence)
    [stored] = repo.rig(worker_id).open_findings
    assert stored == finding
    assert [f.reason for f in repo.findings_of_owner(PROVIDER, limit=10).items] == ["fan_failure"]

    # Mended: once a whole window is clean, the finding closes (one write), and stays listed.
    back = NOW + 30 * HEARTBEAT
    _, closed = feed(watch, worker_id, beats(back, WATCH_POLICY.window))
    [over] = closed
    assert over.closed_at == back + (WATCH_POLICY.window - 1) * HEARTBEAT
    assert repo.rig(worker_id).open_findings == []
    assert repo.writes == 2
    [listed] = repo.findings_of_owner(PROVIDER, limit=10).items
    assert listed.closed_at == over.closed_at
    assert listed.expires_at is not None


def test_a_glitch_shorter_than_the_span_opens_nothing(watched):
    worker_id, repo, watch = watched
    samples = beats(NOW, 10) + beats(NOW + 300, 6, work=0.0) + beats(NOW + 480, 10)
    assert feed(watch, worker_id, samples) == ([], [])
    assert repo.writes == 0


def test_a_new_process_finds_the_open_finding_and_opens_no_second(watched, tables):
    worker_id, repo, watch = watched
    feed(watch, worker_id, beats(NOW, 20, work=0.0))
    cold = AnomalyWatch(repo, WorkerRepository(tables), cache_seconds=3600)
    opened, _ = feed(cold, worker_id, beats(NOW + 600, 20, work=0.0))
    assert opened == []
    assert len(repo.rig(worker_id).open_findings) == 1


def test_a_rig_without_a_baseline_is_not_scored(tables):
    repo = CountingInsights(tables)
    watch = AnomalyWatch(repo, WorkerRepository(tables), cache_seconds=3600)
    assert feed(watch, "w-new", beats(NOW, 30, work=0.0)) == ([], [])
    assert (repo.reads, repo.writes) == (1, 0)  # looked up once, then again an hour later


def heartbeat_event(worker_id: str, sample: RigSample) -> dict:
    from tests.unit.ingest.test_ingest import event

    payload = {
        "worker_id": worker_id,
        "hashrate": sample.hashrate,
        "active_gpus": sample.active_gpus,
        "accepted_blocks": 0,
        "difficulty": sample.difficulty,
        "uptime_sec": 600,
        "timestamp": sample.ts,
        "gpus": [
            {
                "index": g.index,
                "hashrate": g.hashrate,
                "temperature_c": g.temperature_c,
                "fan_pct": g.fan_pct,
                "power_w": g.power_w,
            }
            for g in sample.gpus
        ],
    }
    return event("heartbeat", worker_id, payload, sample.ts)


def test_ingest_scores_every_heartbeat_even_those_it_does_not_store(watched, settings, tables):
    from functions.handlers.ingest import build_service, process
    from functions.ports.devices import RecordingPublisher

    worker_id, repo, _ = watched
    service = build_service(settings, tables, RecordingPublisher())
    outcomes = [
        process(heartbeat_event(worker_id, s), service).reason
        for s in beats(NOW, 20, work=0.0, power=20.0, fan=30.0)
    ]
    assert "sampled_out" in outcomes  # most heartbeats are not written…
    [finding] = repo.rig(worker_id).open_findings  # …and every one was scored
    assert (finding.reason, finding.gpu) == ("gpu_lost", 1)


def test_a_heartbeat_just_after_a_difficulty_step_has_unknown_work():
    from functions.logic.anomaly_watch import StepGuard

    guard = StepGuard()
    first = guard.apply(replace(rig_reading(0, RNG), ts=NOW))
    assert first.difficulty == 40_000  # the first difficulty heard is no step
    after = [
        guard.apply(replace(rig_reading(0, RNG, difficulty=23_000), ts=NOW + t))
        for t in (30, 60, 90, 120)
    ]
    # The rig's minute-average mixes both difficulties for a minute and a half: not work.
    assert [a.difficulty for a in after] == [None, None, None, 23_000]
    assert all(a.hashrate > 0 for a in after)  # its other figures are still judged
