"""The marketplace's read cost per auto-match, and the settlement job's throughput, on moto.

    .venv/bin/python bench/market.py [--sizes 1000,100000] [--matches 50] [--leases 500]

Auto-match: the market is filled with N open listings (random prices and hashrates, four
GPU models), every worker online, then ``--matches`` renters each rent with criteria
(one GPU model, a minimum hashrate) through ``LeaseService.rent_matching``: the real code
path. Read capacity units are counted from the requests it makes, as DynamoDB bills them:
a Query or GetItem costs 1 unit per started 4 KiB of the items it returns (0.5 when
eventually consistent); BatchGetItem rounds each item up separately. The figure must not
grow with N: the matcher reads a bounded number of pages off a price-ordered index.

Settlement: ``--leases`` leases that have ended, with shares, are settled by one
``SettlementService.settle_due`` run; leases/s is the job's CPU cost plus moto's.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from moto import mock_aws

from functions.dal import codec
from functions.dal.accounts import AccountRepository
from functions.dal.leases import LeaseRepository
from functions.dal.listings import ListingRepository, listing_item
from functions.dal.specs import LISTINGS, WORKERS
from functions.dal.tables import Tables, create_tables
from functions.dal.workers import LIVE_SHARD, WorkerRepository
from functions.logic.leasing import LeaseService
from functions.logic.matcher import Criteria
from functions.logic.settlement import SettlementService
from functions.models.market import Listing, new_lease
from functions.models.workers import Worker
from functions.ports.devices import DeviceCommands, RecordingPublisher
from functions.settings import Settings
from protocol.addresses import to_checksum

NOW = 1_763_700_000
MODELS = ("RTX 4090", "RTX 3090", "H100", "A100")


def _size(value: dict[str, Any]) -> int:
    """An attribute value's size by DynamoDB's rules (close enough for billing units)."""
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        return len(raw.lstrip("-").replace(".", "")) // 2 + 2
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _size(v) for k, v in raw.items())
    if kind == "L":
        return 3 + sum(_size(v) + 1 for v in raw)
    return len(str(raw))


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + _size(value) for name, value in item.items())


class ReadMeter:
    """Read units of every read request a client makes (hooked on botocore events)."""

    def __init__(self, client: Any) -> None:
        self.units = 0.0
        self.requests: Counter[str] = Counter()
        self._consistent: dict[str, bool] = {}
        client.meta.events.register("provide-client-params.dynamodb.*", self._params)
        client.meta.events.register("after-call.dynamodb.*", self._after)

    def _params(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self._consistent[model.name] = bool(params.get("ConsistentRead"))

    def _after(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        name = model.name
        factor = 1.0 if self._consistent.get(name) else 0.5
        if name == "Query":
            total = sum(item_size(i) for i in parsed.get("Items", []))
            self.units += max(1, math.ceil(total / 4096)) * factor
        elif name == "GetItem":
            item = parsed.get("Item")
            self.units += max(1, math.ceil(item_size(item) / 4096) if item else 1) * factor
        elif name == "BatchGetItem":
            for items in parsed.get("Responses", {}).values():
                self.units += sum(math.ceil(item_size(i) / 4096) for i in items) * factor
        else:
            return
        self.requests[name] += 1


def fill_market(tables: Tables, size: int, rng: random.Random) -> None:
    """``size`` online workers, each with an open listing, written in batches."""
    client = tables.client
    workers, listings = [], []
    for n in range(size):
        model = MODELS[n % len(MODELS)]
        owner = to_checksum(f"0x{(n % 5000) + 1:040x}")
        worker_id = f"rig-{n:016x}"
        hashrate = rng.uniform(200, 20_000)
        worker = Worker(
            worker_id=worker_id,
            owner=owner,
            created_at=NOW,
            gpu_model=model,
            online=True,
            last_seen=NOW,
            hashrate=hashrate,
            listing_id=f"lst-{n:016x}",
        )
        workers.append({**worker.model_dump(mode="json"), "live_shard": LIVE_SHARD})
        listing = Listing(
            listing_id=f"lst-{n:016x}",
            worker_id=worker_id,
            provider=owner,
            gpu_model=model,
            price_per_hour=int(hashrate * rng.uniform(500, 5000)),
            advertised_hashrate=hashrate,
            created_at=NOW,
            updated_at=NOW,
        )
        listings.append(listing_item(listing))
    for spec, items in ((WORKERS, workers), (LISTINGS, listings)):
        name = tables.name(spec)
        for start in range(0, len(items), 25):
            batch = [{"PutRequest": {"Item": codec.to_item(i)}} for i in items[start : start + 25]]
            client.batch_write_item(RequestItems={name: batch})


def bench_matching(size: int, matches: int, settings: Settings) -> dict[str, Any]:
    rng = random.Random(size)
    with mock_aws():
        tables = Tables(settings)
        create_tables(tables)
        started = time.perf_counter()
        fill_market(tables, size, rng)
        filled = time.perf_counter() - started
        accounts = AccountRepository(tables)
        service = LeaseService(
            settings=settings,
            leases=LeaseRepository(tables),
            listings=ListingRepository(tables),
            workers=WorkerRepository(tables),
            commands=DeviceCommands(RecordingPublisher()),
        )
        renters = [to_checksum(f"0x{0xFEED0000 + n:040x}") for n in range(matches)]
        for renter in renters:
            accounts.deposit(renter, 10**15, entry_id=f"fund-{renter}", now=NOW)
        meter = ReadMeter(tables.client)
        started = time.perf_counter()
        for n, renter in enumerate(renters):
            criteria = Criteria(duration_sec=3600, gpu_model=MODELS[n % 4], min_hashrate=1000.0)
            service.rent_matching(renter, criteria, now=NOW)
        elapsed = time.perf_counter() - started
    return {
        "listings": size,
        "fill_seconds": round(filled, 1),
        "rcu_per_match": round(meter.units / matches, 2),
        "read_requests_per_match": {k: round(v / matches, 2) for k, v in meter.requests.items()},
        "matches_per_second": round(matches / elapsed, 1),
    }


def bench_settlement(count: int, settings: Settings) -> dict[str, Any]:
    with mock_aws():
        tables = Tables(settings)
        create_tables(tables)
        fill_market(tables, count, random.Random(7))
        leases = LeaseRepository(tables)
        accounts = AccountRepository(tables)
        listings = ListingRepository(tables)
        renter = to_checksum("0x" + "ab" * 20)
        accounts.deposit(renter, 10**15, entry_id="fund", now=NOW)
        for n in range(count):
            listing = listings.require(f"lst-{n:016x}")
            lease = new_lease(
                listing,
                lease_id=f"lse-{n:016x}",
                renter=renter,
                share_pattern="Xe",
                fee_bp=500,
                duration_sec=3600,
                now=NOW,
            )
            leases.create(lease, listing)
        service = SettlementService(leases, DeviceCommands(RecordingPublisher()), threshold_bp=9000)
        meter = ReadMeter(tables.client)
        started = time.perf_counter()
        run = service.settle_due(NOW + 3600 + 60)
        elapsed = time.perf_counter() - started
    return {
        "leases": count,
        "settled": run.settled,
        "leases_per_second": round(run.settled / elapsed, 1),
        "rcu_per_lease": round(meter.units / max(run.settled, 1), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--matches", type=int, default=50)
    parser.add_argument("--leases", type=int, default=500)
    args = parser.parse_args()
    settings = Settings(stage="bench")
    for size in (int(s) for s in args.sizes.split(",")):
        print("auto-match", bench_matching(size, args.matches, settings), flush=True)
    print("settlement", bench_settlement(args.leases, settings), flush=True)


if __name__ == "__main__":
    main()
