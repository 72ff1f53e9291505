"""Workers: enrolled rigs, their inventory and live summary."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from functions.dal import codec
from functions.dal.expressions import Update, used_only
from functions.dal.pagination import Page
from functions.dal.reads import Records, query_index
from functions.dal.specs import WORKERS
from functions.dal.tables import Tables
from functions.dal.transact import ErrorFactory, condition_failure_as
from functions.errors import AlreadyExists, Conflict, NotFound
from functions.models.workers import MiningSettings, Reputation, Worker
from protocol.messages import GpuInfo, GpuTelemetry, ShareMode, WorkerState

# The partition of the sparse liveness index: every online worker is in it.
LIVE_SHARD = "live"

_EXISTS_AND_ACTIVE = "attribute_exists(#worker_id) AND attribute_not_exists(#revoked_at)"


def _unknown(worker_id: str) -> NotFound:
    return NotFound(f"worker {worker_id} is not enrolled or was revoked")


class WorkerRepository(Records[Worker]):
    def __init__(self, tables: Tables) -> None:
        super().__init__(tables, WORKERS, Worker, "worker")
        self._name = tables.name(WORKERS)

    def create(self, worker: Worker) -> Worker:
        with condition_failure_as(lambda: AlreadyExists(f"worker {worker.worker_id} exists")):
            self._tables.client.put_item(
                TableName=self._name,
                Item=codec.to_item(worker.model_dump(mode="json")),
                ConditionExpression="attribute_not_exists(worker_id)",
            )
        return worker

    def list_by_owner(self, owner: str, *, limit: int, cursor: str | None = None) -> Page[Worker]:
        keys, next_cursor = query_index(
            self._tables, WORKERS, "by_owner", owner, limit=limit, cursor=cursor
        )
        return Page(self.get_many([k["worker_id"] for k in keys]), next_cursor)

    def record_registration(
        self,
        worker_id: str,
        *,
        version: str,
        gpus: list[GpuInfo],
        total_memory_gb: int,
        state: WorkerState,
        now: int,
        share_mode: ShareMode | None = None,
        down_seconds: int | None = None,
    ) -> Worker:
        """The rig's ``register``: inventory replaced, online again (``down_seconds``: it
        was offline that long, and is back now)."""
        gpu_model = gpus[0].name if gpus else None
        update = Update().set(
            version=version,
            share_mode=share_mode.value if share_mode is not None else None,
            gpus=[g.model_dump(mode="json") for g in gpus],
            gpu_model=gpu_model,
            total_memory_gb=total_memory_gb,
            state=state,
            **self._online_fields(now),
        )
        if down_seconds is not None:
            update.set(back_online_at=now, down_seconds=down_seconds)
        return self._update(worker_id, update)

    def count_anomalies(self, worker_id: str, change: int) -> None:
        """One finding of the rig opened (+1) or closed (-1)."""
        self._update(worker_id, Update().add(anomalies_open=change))

    def record_heartbeat(
        self,
        worker_id: str,
        *,
        hashrate: float,
        active_gpus: int,
        accepted_blocks: int,
        difficulty: int,
        uptime_sec: int,
        telemetry: list[GpuTelemetry] | None,
        now: int,
        mining: MiningSettings | None = None,
    ) -> Worker:
        """A heartbeat's summary: one write, which never touches an index."""
        update = Update().set(
            hashrate=hashrate,
            active_gpus=active_gpus,
            accepted_blocks=accepted_blocks,
            difficulty=difficulty,
            uptime_sec=uptime_sec,
            **self._online_fields(now),
        )
        if telemetry is not None:
            update.set(telemetry=[t.model_dump(mode="json") for t in telemetry])
        if mining is not None:
            update.set(mining=mining.model_dump(mode="json"))
        return self._update(worker_id, update)

    def add_report_counts(self, worker_id: str, counts: Mapping[str, int]) -> None:
        """Add to the rig's accepted and refused report counters (one write)."""
        increments = {name: n for name, n in counts.items() if n}
        if increments:
            self._update(worker_id, Update().add(**increments))

    def set_state(
        self,
        worker_id: str,
        state: WorkerState,
        *,
        now: int,
        allowed_from: Collection[WorkerState] | None = None,
    ) -> Worker:
        """A protocol state change; ``allowed_from`` guards against illegal transitions."""
        update = Update().set(state=state, last_seen=now)
        extra_values: dict[str, Any] = {}
        condition = _EXISTS_AND_ACTIVE
        if allowed_from is not None:
            placeholders = [f":from{i}" for i in range(len(allowed_from))]
            condition += f" AND #state IN ({', '.join(placeholders)})"
            extra_values = {p[1:]: s for p, s in zip(placeholders, allowed_from, strict=True)}
        return self._update(
            worker_id,
            update,
            condition=condition,
            extra_values=extra_values,
            on_failure=lambda: Conflict(f"worker {worker_id} cannot move to {state}"),
        )

    def online_ids(self, *, limit: int, cursor: str | None = None) -> Page[str]:
        """Ids of every online worker, a page at a time (jobs that visit the live fleet)."""
        keys, next_cursor = query_index(
            self._tables, WORKERS, "by_liveness", LIVE_SHARD, limit=limit, cursor=cursor
        )
        return Page([k["worker_id"] for k in keys], next_cursor)

    def mark_offline(self, worker_id: str, *, silent_since: int, now: int) -> bool:
        """Offline only if still silent since ``silent_since``; False if it spoke meanwhile."""
        update = Update().set(online=False, state=WorkerState.OFFLINE, offline_at=now)
        update.remove("live_shard")
        try:
            self._update(
                worker_id,
                update,
                condition=_EXISTS_AND_ACTIVE + " AND #online = :true AND #last_seen < :cutoff",
                extra_values={"true": True, "cutoff": silent_since},
                extra_names=("online", "last_seen"),
                on_failure=lambda: Conflict("spoke meanwhile"),
            )
        except Conflict:
            return False
        return True

    def set_reputation(self, worker_id: str, reputation: Reputation) -> Worker:
        return self._update(worker_id, Update().set(reputation=reputation.model_dump(mode="json")))

    def suspend_reports(self, worker_id: str, *, until: int) -> Worker:
        return self._update(worker_id, Update().set(reports_suspended_until=until))

    def revoke(self, worker_id: str, *, now: int) -> Worker:
        update = Update().set(revoked_at=now, online=False, state=WorkerState.OFFLINE)
        update.remove("live_shard")
        return self._update(worker_id, update)

    @staticmethod
    def _online_fields(now: int) -> dict[str, Any]:
        """A rig that speaks is online and in the liveness index (a key that, once set,
        keeps its value: rewriting it costs no index write)."""
        return {"online": True, "last_seen": now, "live_shard": LIVE_SHARD}

    def _update(
        self,
        worker_id: str,
        update: Update,
        *,
        condition: str = _EXISTS_AND_ACTIVE,
        extra_values: dict[str, Any] | None = None,
        extra_names: tuple[str, ...] = (),
        on_failure: ErrorFactory | None = None,
    ) -> Worker:
        names, values = used_only(
            update.names(("worker_id", "revoked_at", "state", *extra_names)),
            update.values(extra_values),
            update.expression,
            condition,
        )
        with condition_failure_as(on_failure or (lambda: _unknown(worker_id))):
            response = self._tables.client.update_item(
                TableName=self._name,
                Key=codec.to_item({"worker_id": worker_id}),
                UpdateExpression=update.expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=codec.values(**values),
                ReturnValues="ALL_NEW",
            )
        return Worker.model_validate(codec.from_item(response["Attributes"]))
