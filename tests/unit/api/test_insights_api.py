"""``/api/insights/*``, ``/api/recommendations`` and a worker's anomalies and
recommendations: the owner's own, public GPU-model figures, 404 for anyone else's rig."""

from __future__ import annotations

from functions.dal.insights import InsightsRepository
from functions.dal.telemetry import TelemetryRepository
from functions.logic import baseline_codec
from functions.logic.pricing import ModelPrice, PriceIndex
from functions.models.insights import AnomalyFinding, StoredBaseline
from tests.api_client import auth
from tests.factories import NOW, PROVIDER, address, online_worker
from tests.unit.test_recommendations import FIGURES, GPU_WORK, MODEL, baseline, gpu

STRANGER = address(0x5EE)


def rig_under_its_peers(tables):
    worker = online_worker(tables, gpu=MODEL, gpus=2)
    built = baseline(gpu(0, work=0.75 * GPU_WORK), gpu(1, work=0.75 * GPU_WORK))
    repo = InsightsRepository(tables)
    repo.put_baseline(
        StoredBaseline(
            worker_id=worker.worker_id,
            owner=PROVIDER,
            gpu_model=MODEL,
            computed_at=NOW,
            points=built.points,
            baseline_json=baseline_codec.encode(built),
        )
    )
    repo.put_model_figures(FIGURES)
    price = ModelPrice(scope=MODEL, median=2000.0, p25=1500.0, p75=2500.0, listings=3, leases=1)
    TelemetryRepository(tables).put(
        PriceIndex(ts=NOW - 60, models={MODEL: price}).to_point(expires_at=NOW + 3600)
    )
    return worker


def test_gpu_model_figures_are_public(client, tables):
    rig_under_its_peers(tables)
    response = client.get("/api/insights/gpu-models")
    assert response.status_code == 200, response.text
    body = response.json()
    [model] = body["items"]
    assert (model["gpu_model"], model["rigs"], model["gpus"]) == (MODEL, 40, 160)
    assert model["hashrate_median"] == round(GPU_WORK / body["difficulty"], 1)


def test_the_owner_is_told_the_gap_to_its_peers(client, tables):
    worker = rig_under_its_peers(tables)
    response = client.get("/api/recommendations", headers=auth(PROVIDER))
    assert response.status_code == 200, response.text
    # Online and not listed: listing it is worth most; then the gap to its peers.
    idle, advice = response.json()["items"]
    assert (idle["kind"], idle["worker_id"]) == ("list_idle_rig", worker.worker_id)
    assert (advice["kind"], advice["worker_id"]) == ("under_peers", worker.worker_id)
    assert idle["gain_per_day"] == 3 * advice["gain_per_day"]  # 1.5 against 0.5 GPUs' work
    assert "75% of the model's median" in advice["title"]
    assert advice["gain_per_day"] > 0

    mine = client.get(f"/api/workers/{worker.worker_id}/recommendations", headers=auth(PROVIDER))
    assert mine.json()["items"] == response.json()["items"]
    theirs = client.get(f"/api/workers/{worker.worker_id}/recommendations", headers=auth(STRANGER))
    assert theirs.status_code == 404
    assert client.get("/api/recommendations", headers=auth(STRANGER)).json()["items"] == []


def test_findings_are_listed_to_their_owner_only(client, tables):
    worker = rig_under_its_peers(tables)
    finding = AnomalyFinding(
        worker_id=worker.worker_id,
        owner=PROVIDER,
        reason="fan_failure",
        gpu=1,
        opened_at=NOW - 600,
        last_seen=NOW - 30,
        score=7.5,
        message="GPU 1: fan at 5% at 78 °C where its curve gives 68%",
        evidence={"fan_pct": 5.0, "expected_fan_pct": 68.0, "temperature_c": 78.0},
    )
    InsightsRepository(tables).open_finding(finding)

    listed = client.get("/api/insights/anomalies", headers=auth(PROVIDER))
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    assert (item["reason"], item["gpu"], item["open"], item["closed_at"]) == (
        "fan_failure",
        1,
        True,
        None,
    )
    assert "owner" not in item
    one = client.get(f"/api/workers/{worker.worker_id}/anomalies", headers=auth(PROVIDER))
    assert [f["reason"] for f in one.json()] == ["fan_failure"]
    assert client.get("/api/insights/anomalies", headers=auth(STRANGER)).json()["items"] == []
    other = client.get(f"/api/workers/{worker.worker_id}/anomalies", headers=auth(STRANGER))
    assert other.status_code == 404
    # The fan finding explains GPU 1: only GPU 0's gap is left to tell, after the fix.
    kinds = [
        (r["kind"], r["gpu"])
        for r in client.get("/api/recommendations", headers=auth(PROVIDER)).json()["items"]
    ]
    assert kinds == [("list_idle_rig", None), ("fix_anomaly", 1), ("under_peers", 0)]
