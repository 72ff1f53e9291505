"""The cost model: DynamoDB's billing rules, the measured run, the monthly bill, the command."""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import replace
from datetime import date

import pytest

from functions.dal.connections import SHARDS
from functions.dal.specs import LEASES, WORKERS
from tools.cost import command, meter, sample
from tools.cost.bill import Assumptions, bill
from tools.cost.prices import DAYS_PER_MONTH, MONTH_SECONDS, PRICES

S = {"S": "x"}


def test_item_size_follows_dynamodbs_rules() -> None:
    assert meter.item_size(None) == 0
    assert meter.item_size({"ab": {"S": "xyz"}}) == 2 + 3
    assert meter.item_size({"n": {"N": "12345"}}) == 1 + 4  # (5 digits + 1) // 2 + 1
    assert meter.item_size({"b": {"BOOL": True}}) == 1 + 1
    assert meter.item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)
    assert meter.item_size({"l": {"L": [{"N": "1"}, {"N": "2"}]}}) == 1 + 3 + 2 * (1 + 2)


def test_units_round_up_per_kib_and_per_4_kib() -> None:
    assert meter.write_units(0) == 1
    assert meter.write_units(1024) == 1
    assert meter.write_units(1025) == 2
    assert meter.read_units(4096, consistent=True) == 1.0
    assert meter.read_units(4097, consistent=False) == 1.0
    assert meter.read_units(10, consistent=False) == 0.5


def test_index_writes_for_sparse_and_moving_keys() -> None:
    by_liveness = WORKERS.index("by_liveness")  # KEYS_ONLY, sparse
    base = {"worker_id": S, "owner": S, "hashrate": {"N": "1"}}
    online = {**base, "live_shard": {"S": "0"}}
    # Entering the sparse index is a put; leaving it a delete.
    assert meter.index_write_units(WORKERS, by_liveness, base, online) == 1
    assert meter.index_write_units(WORKERS, by_liveness, online, base) == 1
    # A moving index key is a delete and a put; the same value again is nothing.
    moved = {**online, "live_shard": {"S": "1"}}
    assert meter.index_write_units(WORKERS, by_liveness, online, moved) == 2
    assert meter.index_write_units(WORKERS, by_liveness, online, {**online}) == 0
    # A non-key attribute changing does not touch a KEYS_ONLY index.
    busier = {**online, "hashrate": {"N": "2"}}
    assert meter.index_write_units(WORKERS, by_liveness, online, busier) == 0
    # Not in the index before or after: nothing.
    assert meter.index_write_units(LEASES, LEASES.index("due"), base, base) == 0


@pytest.fixture(scope="module")
def measurement() -> sample.Measurement:
    return sample.measure(sample.Schedule.deployed(), sample_workers=3, minutes=6)


def test_the_run_goes_through_every_path(measurement: sample.Measurement) -> None:
    usage = measurement.usage
    assert usage["register"].invocations == 3
    assert usage["block"].invocations == 3
    assert usage["verdict"].invocations == 3  # the node's answer, relayed after each block
    # About 2 heartbeats a minute per rig, in batches of a window's worth.
    heartbeat = usage["heartbeat"]
    assert 25 <= heartbeat.records <= 40
    assert heartbeat.invocations < heartbeat.records
    for job in sample.JOB_EVERY_MINUTES:
        assert usage[f"job:{job}"].invocations >= 1
    # A register answers with register_ack on the rig's task topic.
    assert usage["register"].publishes == 3
    assert usage["heartbeat"].publishes == 0


def test_heartbeats_cost_less_than_one_write(measurement: sample.Measurement) -> None:
    heartbeat = measurement.usage["heartbeat"]
    # The heartbeat schedule: never a read first, well under one write unit on average.
    assert 0.02 < heartbeat.per_record(heartbeat.write_units) < 0.5
    assert set(heartbeat.requests) <= {"UpdateItem", "PutItem", "Query"}
    # A batch's only reads: who is connected, one query per connection shard.
    assert heartbeat.requests["Query"] == SHARDS * heartbeat.invocations
    assert heartbeat.per_invocation(heartbeat.read_units) == SHARDS * 0.5
    # Each batch prints one line of embedded metrics (the function logs warnings only).
    assert heartbeat.log_events == heartbeat.invocations
    assert heartbeat.per_invocation(heartbeat.log_bytes) > 50
    assert heartbeat.cpu_seconds > 0


def test_the_measured_minutes_are_a_steady_state(measurement: sample.Measurement) -> None:
    # The warm-up wrote each rig's first reputation; it is billed as the daily rewrite.
    first = measurement.usage["warmup:reputation"]
    assert first.write_units >= 3
    jobs = next(line for line in bill(measurement, 1000) if line.item == "writes: jobs")
    without = replace(
        measurement,
        usage={k: v for k, v in measurement.usage.items() if k != "warmup:reputation"},
    )
    jobs_without = next(line for line in bill(without, 1000) if line.item == "writes: jobs")
    daily = first.write_units / 3 * 1000 * DAYS_PER_MONTH * PRICES.dynamodb_write_unit
    assert jobs.monthly - jobs_without.monthly == pytest.approx(daily)
    # Rigs online a day already: only the block each found moves its reputation again.
    assert measurement.usage["job:reputation"].write_units <= first.write_units


def test_blocks_are_stored_with_their_indexes(measurement: sample.Measurement) -> None:
    block = measurement.usage["block"]
    # A self-mined block: the item and its three ALL-projected indexes (recent, by_worker,
    # by_account) in one conditional PutItem (a lease's block adds the lease in a
    # transaction, which bills twice).
    assert block.per_invocation(block.write_units) == 4
    assert block.requests["PutItem"] == block.invocations
    assert block.stream_records >= 3


def test_a_verdict_is_one_read_and_one_small_write(measurement: sample.Measurement) -> None:
    verdict = measurement.usage["verdict"]
    # The block it answers for (GetItem), then the verdict item: no index, no stream.
    assert verdict.per_invocation(verdict.write_units) == 1
    assert verdict.per_invocation(verdict.read_units) == 1
    assert verdict.stream_records == 0


def test_pushes_follow_rises_and_leases(measurement: sample.Measurement) -> None:
    def pushes(**assumed: float) -> float:
        lines = bill(measurement, 1000, assumptions=replace(Assumptions(), **assumed))
        return next(line.monthly for line in lines if "pushes" in line.item)

    assert pushes(leased_share=0.0) == 0
    assert pushes(difficulty_rises_per_day=0.0) == 0
    assert pushes(difficulty_rises_per_day=24.0) == pytest.approx(2 * pushes())


def test_bill_lines_add_up_and_scale(measurement: sample.Measurement) -> None:
    small = bill(measurement, 100)
    large = bill(measurement, 10_000)
    services = {line.service for line in small}
    assert {"IoT Core", "Lambda", "DynamoDB", "API Gateway", "CloudFront"} <= services
    assert all(line.monthly >= 0 for line in small)
    per_worker_small = sum(line.monthly for line in small) / 100
    per_worker_large = sum(line.monthly for line in large) / 10_000
    # Fixed costs spread over more workers.
    assert per_worker_large < per_worker_small
    rules = next(line for line in large if line.item == "rules and actions")
    heartbeats = 10_000 * MONTH_SECONDS / 30
    assert rules.monthly >= heartbeats * 0.30 / 1e6


def test_prices_are_dated_and_positive() -> None:
    assert date.fromisoformat(PRICES.as_of) <= date.today()
    for name, value in vars(PRICES).items():
        if isinstance(value, float):
            assert value > 0, name


def test_command(
    measurement: sample.Measurement,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(command, "measure", lambda *args, **kwargs: measurement)
    parser = argparse.ArgumentParser()
    command.add_cost_arguments(parser)
    assert command.run_cost(parser.parse_args(["--workers", "1000"])) == 0
    text = capsys.readouterr().out
    assert re.search(r"total\s+[\d,.]+\s+0\.\d{5}", text)
    assert PRICES.as_of in text
    assert command.run_cost(parser.parse_args(["--workers", "1000", "--json"])) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["workers"] == 1000
    assert report["per_worker_month"] == pytest.approx(
        sum(line["fleet_month"] for line in report["lines"]) / 1000, rel=1e-3
    )


def test_command_refuses_bad_arguments() -> None:
    parser = argparse.ArgumentParser()
    command.add_cost_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--workers", "0"])
    with pytest.raises(SystemExit):
        parser.parse_args(["--workers", "10", "--sample-minutes", "2"])
