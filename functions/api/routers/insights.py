"""Fleet intelligence: anomaly findings, recommendations and the GPU models' public figures.

- ``GET /api/insights/anomalies``: the caller's rigs' findings, open and recently closed;
- ``GET /api/workers/{worker_id}/anomalies``: one rig's (its owner only);
- ``GET /api/recommendations``: what the caller could do, ranked by the expected gain;
- ``GET /api/workers/{worker_id}/recommendations``: the same for one rig;
- ``GET /api/insights/gpu-models``: public: each GPU model's median work, efficiency, power
  and temperature per GPU, from how many rigs, and the H/s that work is at today's
  difficulty.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from functions.api.auth import Context, CurrentPrincipal
from functions.api.schemas import Cursor, Limit, PageOut, WorkerId
from functions.dal.pagination import clamp_limit
from functions.errors import NotFound
from functions.logic.recommendations import Recommendation, RecommendationKind
from functions.models.insights import AnomalyFinding, GpuModelFigures
from functions.models.workers import Worker

router = APIRouter(tags=["insights"])


class FindingOut(BaseModel):
    worker_id: str
    reason: str = Field(
        description="gpu_lost, fan_failure, thermal_throttling, power_limit_lowered or "
        "under_delivery"
    )
    gpu: int | None = Field(description="The GPU's index; null: the rig as a whole")
    basis: str = Field(description="own: against its own past; peers: against its GPU model's")
    message: str
    score: float = Field(description="How many robust spreads from normal")
    evidence: dict[str, float] = Field(description="The figures that show it")
    opened_at: int
    last_seen: int
    closed_at: int | None = Field(description="null while it lasts")
    open: bool

    @classmethod
    def of(cls, finding: AnomalyFinding) -> FindingOut:
        return cls(**finding.model_dump(exclude={"owner", "expires_at"}), open=finding.open)


class RecommendationOut(BaseModel):
    kind: RecommendationKind
    worker_id: str
    gpu: int | None
    title: str
    detail: str
    gain_per_day: int | None = Field(
        description="Expected gain in micro-credits a day at the market's prices and "
        "utilisation; null where the market cannot value it"
    )
    evidence: dict[str, float]

    @classmethod
    def of(cls, recommendation: Recommendation) -> RecommendationOut:
        return cls(
            kind=recommendation.kind,
            worker_id=recommendation.worker_id,
            gpu=recommendation.gpu,
            title=recommendation.title,
            detail=recommendation.detail,
            gain_per_day=recommendation.gain_per_day,
            evidence=recommendation.evidence,
        )


class Recommendations(BaseModel):
    items: list[RecommendationOut]
    difficulty: int = Field(description="The network difficulty the gains are valued at")


class GpuModelOut(BaseModel):
    gpu_model: str
    rigs: int
    gpus: int
    work_median: float = Field(description="KiB/s per GPU (H/s × difficulty): the median")
    hashrate_median: float = Field(description="That work in H/s at today's difficulty")
    efficiency_median: float | None = Field(description="KiB/J per GPU (work per watt)")
    power_median_w: float | None
    temperature_median_c: float | None
    computed_at: int

    @classmethod
    def of(cls, figures: GpuModelFigures, difficulty: int) -> GpuModelOut:
        return cls(
            **figures.model_dump(exclude={"work_spread"}),
            hashrate_median=round(figures.work_median / difficulty, 1),
        )


class GpuModels(BaseModel):
    items: list[GpuModelOut]
    difficulty: int


def _owned(worker_id: str, principal_address: str, is_admin: bool, context: Context) -> Worker:
    worker = context.workers.get(worker_id)
    if worker is None or worker.revoked or (worker.owner != principal_address and not is_admin):
        raise NotFound(f"worker {worker_id} not found")
    return worker


@router.get("/api/insights/anomalies")
def list_anomalies(
    principal: CurrentPrincipal, context: Context, limit: Limit = None, cursor: Cursor = None
) -> PageOut[FindingOut]:
    """The caller's rigs' anomaly findings, newest first (closed ones stay 30 days)."""
    page = context.insights.findings_of_owner(
        principal.address, limit=clamp_limit(limit), cursor=cursor
    )
    return PageOut[FindingOut].of(page, FindingOut.of)


@router.get("/api/workers/{worker_id}/anomalies")
def worker_anomalies(
    worker_id: WorkerId, principal: CurrentPrincipal, context: Context
) -> list[FindingOut]:
    """One rig's findings, newest first."""
    _owned(worker_id, principal.address, principal.is_admin, context)
    findings = context.insights.rig(worker_id).findings
    return [FindingOut.of(f) for f in sorted(findings, key=lambda f: -f.opened_at)]


@router.get("/api/recommendations")
def fleet_recommendations(principal: CurrentPrincipal, context: Context) -> Recommendations:
    """What the caller could do across their fleet, the largest expected gain first."""
    service = context.recommendations
    found = service.for_owner(principal.address, context.clock())
    return Recommendations(
        items=[RecommendationOut.of(r) for r in found], difficulty=context.network.difficulty()
    )


@router.get("/api/workers/{worker_id}/recommendations")
def worker_recommendations(
    worker_id: WorkerId, principal: CurrentPrincipal, context: Context
) -> Recommendations:
    worker = _owned(worker_id, principal.address, principal.is_admin, context)
    found = context.recommendations.for_worker(worker, context.clock())
    return Recommendations(
        items=[RecommendationOut.of(r) for r in found], difficulty=context.network.difficulty()
    )


@router.get("/api/insights/gpu-models")
def gpu_models(context: Context) -> GpuModels:
    """Public: what each GPU model delivers per GPU on this platform (models run by at
    least five rigs)."""
    difficulty = context.network.difficulty()
    figures = sorted(context.insights.model_figures().values(), key=lambda f: -f.work_median)
    return GpuModels(items=[GpuModelOut.of(f, difficulty) for f in figures], difficulty=difficulty)
