"""``infra.sizing`` is what the stack deploys, and ``xenblocks cost`` prices the same figures."""

from __future__ import annotations

import re
from typing import Any

from functions.dal.specs import ALL_TABLES
from infra.sizing import (
    BATCH_HANDLER,
    BATCH_SIZE,
    FUNCTIONS,
    JOBS,
    LIVE,
    STREAM_BATCH_WINDOW_SECONDS,
    alarm_count,
    stage_functions,
)
from tests.infra.assembly import Assembly
from tools.cost import sample
from tools.cost.bill import bill
from tools.cost.meter import Usage


def _sizes(assembly: Assembly) -> list[tuple[str, int, str]]:
    return sorted(
        (
            function["Properties"]["Handler"],
            function["Properties"]["MemorySize"],
            function["Properties"]["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"],
        )
        for function in assembly.functions().values()
    )


def _mapping(assembly: Assembly, handler: str) -> list[dict[str, Any]]:
    function_id = assembly.function_by_handler(handler)
    return [
        m["Properties"]
        for m in assembly.of_type("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": function_id}
    ]


def test_every_function_is_deployed_as_sized(assembly: Assembly) -> None:
    # The synthesized stage has on-chain deposits and withdrawals (tests/infra/conftest.py):
    # the watcher and the payouts job too.
    functions = stage_functions(deposits=True, withdrawals=True)
    assert _sizes(assembly) == sorted((f.handler, f.memory_mb, f.log_level) for f in functions)
    assert len(functions) == len(FUNCTIONS) + 2


def test_the_alarms_are_counted_as_deployed(assembly: Assembly) -> None:
    deployed = len(assembly.of_type("AWS::CloudWatch::Alarm"))
    assert deployed == alarm_count(tables=len(ALL_TABLES), deposits=True, withdrawals=True)


def test_the_stream_consumers_batch_as_sized(assembly: Assembly) -> None:
    (heartbeats,) = _mapping(assembly, BATCH_HANDLER)
    assert heartbeats["BatchSize"] == BATCH_SIZE
    tables = _mapping(assembly, LIVE["stream"].handler)
    assert tables
    for mapping in tables:
        assert mapping["MaximumBatchingWindowInSeconds"] == STREAM_BATCH_WINDOW_SECONDS


def test_the_cost_model_reads_the_deployed_stage(assembly: Assembly) -> None:
    # The synthesized stage is cdk.json's (tests/infra/conftest.py overrides none of these).
    schedule = sample.Schedule.deployed()
    (heartbeats,) = _mapping(assembly, BATCH_HANDLER)
    assert heartbeats["MaximumBatchingWindowInSeconds"] == schedule.batch_seconds
    (stream,) = assembly.of_type("AWS::Kinesis::Stream").values()
    assert stream["Properties"]["ShardCount"] == schedule.shards
    retention = {
        props["RetentionInDays"]
        for props in (r["Properties"] for r in assembly.of_type("AWS::Logs::LogGroup").values())
        if "RetentionInDays" in props
    }
    assert retention == {schedule.log_retention_days}
    env = assembly.env(assembly.function_by_handler(BATCH_HANDLER))
    assert int(env["XENBLOCKS_HEARTBEAT_SECONDS"]) == schedule.heartbeat_seconds
    assert int(env["XENBLOCKS_HEARTBEAT_WRITE_SECONDS"]) == schedule.write_seconds
    assert int(env["XENBLOCKS_HEARTBEAT_HISTORY_SECONDS"]) == schedule.history_seconds
    assert {job.key: job.every_minutes for job in JOBS} == sample.JOB_EVERY_MINUTES


def test_the_bill_counts_the_deployed_alarms(assembly: Assembly) -> None:
    kinds = ["register", "block", "verdict", "heartbeat", *(f"job:{j.key}" for j in JOBS)]
    empty = sample.Measurement(
        schedule=sample.Schedule.deployed(),
        sample_workers=1,
        minutes=60,
        usage={kind: Usage() for kind in kinds},
        empty_jobs={f"job:{job.key}": Usage() for job in JOBS},
        wall_seconds=0.0,
        storage_bytes_per_worker={},
    )
    (fixed,) = [line for line in bill(empty, 1000) if line.service == "Fixed"]
    found = re.search(r"(\d+) alarms", fixed.basis)
    assert found is not None
    # The bill prices cdk.json's stage, without on-chain deposits or withdrawals; the
    # synthesized one has the deposit watcher's and the payouts job's alarms too (three per
    # function, and the payouts job's six on its own metrics).
    on_chain = alarm_count(len(ALL_TABLES), deposits=True, withdrawals=True) - alarm_count(
        len(ALL_TABLES)
    )
    assert on_chain == 3 + 3 + 6
    assert int(found.group(1)) == len(assembly.of_type("AWS::CloudWatch::Alarm")) - on_chain
