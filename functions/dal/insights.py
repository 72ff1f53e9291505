"""The ``insights`` table: baselines, anomaly findings and GPU-model figures.

Items (partition ``pk``, sort ``sk``):
- ``worker#<id>`` / ``BASELINE``: the rig's ``StoredBaseline``, rewritten by the baselines
  job about once a day;
- ``worker#<id>`` / ``FINDING#<opened, 12 digits>#<reason>#<gpu or rig>``: an
  ``AnomalyFinding``; ``finding_owner``/``finding_sk`` put it in the sparse
  ``findings_by_owner`` index; TTL once closed. Ingest reads a rig's whole partition (its
  baseline and its findings) with one Query, and writes only when a finding opens or
  closes;
- ``gpu_models`` / ``<model>``: a model's ``GpuModelFigures``, all read with one Query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from functions.dal import codec
from functions.dal.pagination import Page
from functions.dal.reads import batch_get, query_page
from functions.dal.specs import INSIGHTS
from functions.dal.tables import Tables
from functions.dal.transact import condition_failure_as
from functions.errors import AlreadyExists, Conflict
from functions.models.insights import (
    FINDING_RETENTION_SECONDS,
    AnomalyFinding,
    GpuModelFigures,
    StoredBaseline,
)

BASELINE_SK = "BASELINE"
FINDING_PREFIX = "FINDING#"
MODELS_PK = "gpu_models"
_PAGE = 100


def worker_pk(worker_id: str) -> str:
    return f"worker#{worker_id}"


def finding_sk(finding: AnomalyFinding) -> str:
    where = "rig" if finding.gpu is None else f"gpu{finding.gpu}"
    return f"{FINDING_PREFIX}{finding.opened_at:012d}#{finding.reason}#{where}"


@dataclass(frozen=True)
class RigInsights:
    """A rig's partition: its baseline (None before the job's first) and its findings."""

    baseline: StoredBaseline | None = None
    findings: list[AnomalyFinding] = field(default_factory=list)

    @property
    def open_findings(self) -> list[AnomalyFinding]:
        return [f for f in self.findings if f.open]


class InsightsRepository:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables
        self._name = tables.name(INSIGHTS)

    # -- baselines -------------------------------------------------------------------------

    def put_baseline(self, baseline: StoredBaseline) -> None:
        item = {
            **baseline.model_dump(mode="json"),
            "pk": worker_pk(baseline.worker_id),
            "sk": BASELINE_SK,
        }
        self._tables.client.put_item(TableName=self._name, Item=codec.to_item(item))

    def baselines(self, worker_ids: Sequence[str]) -> dict[str, StoredBaseline]:
        """The stored baselines of ``worker_ids`` (BatchGetItem, 100 a call)."""
        keys = [{"pk": worker_pk(w), "sk": BASELINE_SK} for w in dict.fromkeys(worker_ids)]
        found = (StoredBaseline.model_validate(i) for i in batch_get(self._tables, INSIGHTS, keys))
        return {b.worker_id: b for b in found}

    def rig(self, worker_id: str) -> RigInsights:
        """The rig's baseline and findings (one Query, paged only past 1 MB)."""
        baseline: StoredBaseline | None = None
        findings: list[AnomalyFinding] = []
        for item in self._partition(worker_pk(worker_id)):
            if item["sk"] == BASELINE_SK:
                baseline = StoredBaseline.model_validate(item)
            elif str(item["sk"]).startswith(FINDING_PREFIX):
                findings.append(AnomalyFinding.model_validate(item))
        return RigInsights(baseline, findings)

    # -- findings --------------------------------------------------------------------------

    def open_finding(self, finding: AnomalyFinding) -> None:
        """Store a new finding; AlreadyExists when that very opening is stored."""
        sk = finding_sk(finding)
        item = {
            **finding.model_dump(mode="json"),
            "pk": worker_pk(finding.worker_id),
            "sk": sk,
            "finding_owner": finding.owner,
            "finding_sk": f"{sk}#{finding.worker_id}",
        }
        with condition_failure_as(lambda: AlreadyExists("the finding is stored")):
            self._tables.client.put_item(
                TableName=self._name,
                Item=codec.to_item(item),
                ConditionExpression="attribute_not_exists(pk)",
            )

    def close_finding(self, finding: AnomalyFinding, *, now: int) -> AnomalyFinding:
        """Mark ``finding`` closed (kept listed for ``FINDING_RETENTION_SECONDS``); Conflict
        when it is closed already (another process did)."""
        closed = finding.model_copy(
            update={"closed_at": now, "expires_at": now + FINDING_RETENTION_SECONDS}
        )
        with condition_failure_as(lambda: Conflict("the finding is closed already")):
            self._tables.client.update_item(
                TableName=self._name,
                Key=codec.to_item({"pk": worker_pk(finding.worker_id), "sk": finding_sk(finding)}),
                UpdateExpression=(
                    "SET closed_at = :closed, expires_at = :expires, last_seen = :seen"
                ),
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(closed_at)",
                ExpressionAttributeValues=codec.values(
                    closed=now, expires=closed.expires_at, seen=finding.last_seen
                ),
            )
        return closed

    def findings_of_owner(
        self, owner: str, *, limit: int, cursor: str | None = None
    ) -> Page[AnomalyFinding]:
        """The owner's findings, open and recently closed, newest first."""
        items, next_cursor = query_page(
            self._tables,
            INSIGHTS,
            index="findings_by_owner",
            key_condition="finding_owner = :owner",
            values={"owner": owner},
            partition=owner,
            limit=limit,
            cursor=cursor,
            newest_first=True,
        )
        return Page([AnomalyFinding.model_validate(i) for i in items], next_cursor)

    def open_findings_of_owner(self, owner: str, *, limit: int = 1000) -> list[AnomalyFinding]:
        """The owner's open findings (at most ``limit`` of the newest listed)."""
        found: list[AnomalyFinding] = []
        cursor: str | None = None
        seen = 0
        while seen < limit:
            page = self.findings_of_owner(owner, limit=_PAGE, cursor=cursor)
            seen += len(page.items)
            found += [f for f in page.items if f.open]
            cursor = page.cursor
            if cursor is None:
                break
        return found

    # -- GPU models ------------------------------------------------------------------------

    def put_model_figures(self, figures: GpuModelFigures) -> None:
        item = {**figures.model_dump(mode="json"), "pk": MODELS_PK, "sk": figures.gpu_model}
        self._tables.client.put_item(TableName=self._name, Item=codec.to_item(item))

    def model_figures(self) -> dict[str, GpuModelFigures]:
        return {
            item["sk"]: GpuModelFigures.model_validate(item) for item in self._partition(MODELS_PK)
        }

    def _partition(self, pk: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page, cursor = query_page(
                self._tables,
                INSIGHTS,
                key_condition="pk = :pk",
                values={"pk": pk},
                partition=pk,
                limit=_PAGE,
                cursor=cursor,
            )
            items += page
            if cursor is None:
                return items
