"""Fleet intelligence as stored: each rig's baseline, its anomaly findings, and the public
figures of each GPU model (``functions/logic/insights.py`` computes them)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt

from functions.models.base import Record

# How long a closed finding stays listed before DynamoDB's TTL removes it.
FINDING_RETENTION_SECONDS = 30 * 86_400

Figure = Annotated[float, Field(allow_inf_nan=False)]


class StoredBaseline(Record):
    """A rig's usual figures (``functions/logic/anomaly.RigBaseline``) as the baselines job
    wrote them; ``baseline_json`` is ``functions/logic/baseline_codec.py``'s encoding."""

    worker_id: str
    owner: str
    gpu_model: str | None = None
    computed_at: StrictInt
    points: StrictInt
    baseline_json: str


class AnomalyFinding(Record):
    """One persistent anomaly of a rig: open while ``closed_at`` is None."""

    worker_id: str
    owner: str
    reason: str  # functions/logic/anomaly.Reason
    gpu: StrictInt | None = None  # None: the rig as a whole
    basis: str = "own"  # "own": against its own past; "peers": against its GPU model's
    opened_at: StrictInt  # the first point of the persistence window that showed it
    last_seen: StrictInt
    closed_at: StrictInt | None = None
    score: Figure
    message: str
    evidence: dict[str, Figure] = Field(default_factory=dict)
    expires_at: StrictInt | None = None

    @property
    def open(self) -> bool:
        return self.closed_at is None


class GpuModelFigures(Record):
    """What the rigs of one GPU model deliver, per GPU (medians over their baselines):
    public, with the count of rigs behind it."""

    gpu_model: str
    rigs: StrictInt
    gpus: StrictInt
    work_median: Figure  # KiB/s per GPU (H/s × difficulty)
    work_spread: Figure  # 1.4826 × MAD
    efficiency_median: Figure | None = None  # KiB/J per GPU, where power is reported
    power_median_w: Figure | None = None
    temperature_median_c: Figure | None = None
    computed_at: StrictInt
