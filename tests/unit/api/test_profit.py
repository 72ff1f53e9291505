"""``/api/accounts/me/settings``, ``/api/profit`` and ``/api/workers/{id}/profit``: the
owner's electricity price, and power cost, lease revenue and net per rig and UTC day."""

from __future__ import annotations

from typing import Any

import pytest

from functions.dal.accounts import AccountRepository
from functions.dal.leases import LeaseRepository
from functions.dal.listings import ListingRepository
from functions.dal.telemetry import TelemetryRepository
from functions.logic import profit
from functions.models.accounts import Account
from functions.models.market import Lease
from functions.models.telemetry import TelemetryPoint, worker_series
from functions.models.workers import Worker
from tests.api_client import auth
from tests.factories import NOW, PROVIDER, RENTER, address, enrolled_worker, lease_for, listing_of

DAY = 86_400
HOUR = 3600
CADENCE = 300  # the tests' heartbeat_history_seconds
# NOW is 2025-11-21 04:40 UTC.
MIDNIGHT = 1_763_683_200  # 2025-11-21 00:00 UTC
TODAY, YESTERDAY = "2025-11-21", "2025-11-20"


@pytest.fixture(autouse=True)
def funded(tables):
    AccountRepository(tables).deposit(RENTER, 1_000_000_000, entry_id="funds", now=NOW - 90 * DAY)


def put_settings(client, body: dict[str, Any], who: str = PROVIDER):
    return client.put("/api/accounts/me/settings", json=body, headers=auth(who))


def get(client, path: str, who: str = PROVIDER, **params: Any) -> dict[str, Any]:
    response = client.get(path, params=params, headers=auth(who))
    assert response.status_code == 200, response.text
    return response.json()


def history(tables, worker: Worker, start: int, end: int, **values: float) -> None:
    """The rig's history points every cadence in ``[start, end)`` with ``values``."""
    TelemetryRepository(tables).put_many(
        TelemetryPoint(
            series=worker_series(worker.worker_id),
            ts=ts,
            values={"hashrate": 1000.0, **values},
            expires_at=NOW + 30 * DAY,
        )
        for ts in range(start, end, CADENCE)
    )


def paid(tables, worker: Worker, *, at: int, payout: int, fee: int = 50_000) -> Lease:
    """A lease on ``worker`` settled at ``at``: ``payout`` to its owner."""
    listing = ListingRepository(tables).create(listing_of(worker.worker_id, owner=worker.owner))
    lease = LeaseRepository(tables).create(lease_for(listing, now=at - HOUR), listing)
    refund = lease.escrow - payout - fee
    return LeaseRepository(tables).settle(lease, payout=payout, fee=fee, refund=refund, now=at)


# -- settings ---------------------------------------------------------------------------------


def test_settings_start_unset_in_usd(client):
    assert get(client, "/api/accounts/me/settings") == {
        "electricity_price_per_kwh": None,
        "currency": "USD",
        "updated_at": None,
    }


@pytest.mark.parametrize(
    ("given", "stored"),
    [("0.123456", "0.123456"), (0.12, "0.12"), (0, "0"), ("10", "10"), ("0.5000000", "0.5")],
)
def test_an_owner_sets_a_price_per_kwh_as_a_string_or_a_number(client, given, stored):
    response = put_settings(client, {"electricity_price_per_kwh": given, "currency": "EUR"})

    assert response.status_code == 200, response.text
    expected = {"electricity_price_per_kwh": stored, "currency": "EUR", "updated_at": NOW}
    assert response.json() == expected
    assert get(client, "/api/accounts/me/settings") == expected


def test_settings_sit_beside_the_balance_and_leave_it_alone(client, tables):
    AccountRepository(tables).deposit(PROVIDER, 5_000_000, entry_id="p", now=NOW)
    put_settings(client, {"electricity_price_per_kwh": "0.25"})

    account = AccountRepository(tables).get(PROVIDER)
    assert (account.balance, account.deposited) == (5_000_000, 5_000_000)
    assert (account.electricity_micro_per_kwh, account.currency) == (250_000, "USD")
    assert get(client, "/api/accounts/me")["balance"] == 5_000_000
    # null clears the price
    cleared = put_settings(client, {"electricity_price_per_kwh": None}).json()
    assert cleared["electricity_price_per_kwh"] is None
    assert AccountRepository(tables).get(PROVIDER).balance == 5_000_000


def test_an_account_item_from_before_settings_still_loads():
    old = Account.model_validate({"address": PROVIDER, "balance": 7, "updated_at": NOW})
    assert (old.electricity_micro_per_kwh, old.currency, old.settings_updated_at) == (
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    "body",
    [
        {"electricity_price_per_kwh": "-0.01"},
        {"electricity_price_per_kwh": "10.000001"},
        {"electricity_price_per_kwh": 11},
        {"electricity_price_per_kwh": "0.1234567"},
        {"electricity_price_per_kwh": "NaN"},
        {"electricity_price_per_kwh": "Infinity"},
        {"electricity_price_per_kwh": "twelve cents"},
        {"electricity_price_per_kwh": True},
        {"electricity_price_per_kwh": "0.1", "currency": "usd"},
        {"electricity_price_per_kwh": "0.1", "currency": "DOLLARS"},
        {"electricity_price_per_kwh": "0.1", "colour": "blue"},
        {},
    ],
)
def test_a_bad_price_is_an_invalid_input(client, body):
    response = put_settings(client, body)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_input"
    assert get(client, "/api/accounts/me/settings")["electricity_price_per_kwh"] is None


def test_settings_and_profit_need_a_signed_in_caller(client, tables):
    worker = enrolled_worker(tables)
    for method, path in (
        ("GET", "/api/accounts/me/settings"),
        ("PUT", "/api/accounts/me/settings"),
        ("GET", "/api/profit"),
        ("GET", f"/api/workers/{worker.worker_id}/profit"),
    ):
        response = client.request(method, path, json={"electricity_price_per_kwh": "0.1"})
        assert response.status_code == 401, (method, path)


# -- profit -----------------------------------------------------------------------------------


@pytest.fixture
def fleet(client, tables) -> dict[str, Worker]:
    """Rig ``gpu``: 200 W (two GPUs) from 23:00 to 01:00 across midnight; rig ``cpu``: no
    power reading, heard 02:00-03:00 today; a lease on ``gpu`` paid 3 credits today and one on
    ``cpu`` 1 credit yesterday; the price is 0.25 a kWh."""
    gpu = enrolled_worker(tables)
    cpu = enrolled_worker(tables)
    power = {"gpu0.power_w": 120.0, "gpu1.power_w": 80.0}
    history(tables, gpu, MIDNIGHT - HOUR, MIDNIGHT + HOUR, **power)
    history(tables, cpu, MIDNIGHT + 2 * HOUR, MIDNIGHT + 3 * HOUR, **{"gpu0.temperature_c": 50.0})
    paid(tables, gpu, at=NOW - HOUR, payout=3_000_000)
    paid(tables, cpu, at=NOW - DAY, payout=1_000_000)
    assert put_settings(client, {"electricity_price_per_kwh": "0.25"}).status_code == 200
    return {"gpu": gpu, "cpu": cpu}


def by_day(days: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["day"]: d for d in days}


def test_a_rigs_profit_per_day(client, fleet):
    gpu = fleet["gpu"]

    result = get(client, f"/api/workers/{gpu.worker_id}/profit", days=2)

    assert (result["since"], result["until"]) == (MIDNIGHT - DAY, NOW)
    assert result["price"] == {"electricity_price_per_kwh": "0.25", "currency": "USD"}
    assert result["complete"] is True
    rig = result["rig"]
    days = by_day(rig["days"])
    assert list(days) == [YESTERDAY, TODAY]
    # 200 W for an hour each side of midnight: 0.2 kWh × 250,000 micro-units = 50,000.
    assert days[YESTERDAY] == {
        "day": YESTERDAY,
        "energy_kwh": 0.2,
        "power_cost": 50_000,
        "revenue": 0,
        "leases": 0,
        "net": -50_000,
        "metered_seconds": HOUR,
        "reported_seconds": HOUR,
        "power_complete": True,
    }
    assert days[TODAY]["power_cost"] == 50_000
    assert (days[TODAY]["revenue"], days[TODAY]["leases"]) == (3_000_000, 1)
    assert days[TODAY]["net"] == 2_950_000
    assert rig["totals"]["energy_kwh"] == 0.4
    assert (rig["totals"]["power_cost"], rig["totals"]["net"]) == (100_000, 2_900_000)


def test_a_rig_without_power_readings_has_unknown_energy(client, fleet):
    cpu = fleet["cpu"]

    days = by_day(get(client, f"/api/workers/{cpu.worker_id}/profit", days=2)["rig"]["days"])

    # Yesterday it was not heard: nothing used. Today it was, without a reading: unknown.
    assert (days[YESTERDAY]["energy_kwh"], days[YESTERDAY]["power_cost"]) == (0.0, 0)
    assert days[YESTERDAY]["net"] == 1_000_000
    assert days[TODAY]["energy_kwh"] is None
    assert (days[TODAY]["power_cost"], days[TODAY]["net"]) == (None, None)
    assert (days[TODAY]["metered_seconds"], days[TODAY]["reported_seconds"]) == (0, HOUR)


def test_the_fleet_per_day_adds_its_rigs(client, fleet, tables):
    enrolled_worker(tables, owner=address(5))  # someone else's rig

    result = get(client, "/api/profit", days=2)

    assert sorted(r["worker_id"] for r in result["rigs"]) == sorted(
        w.worker_id for w in fleet.values()
    )
    days = by_day(result["days"])
    assert days[YESTERDAY]["revenue"] == 1_000_000
    assert days[YESTERDAY]["net"] == 1_000_000 - 50_000
    assert days[YESTERDAY]["power_complete"] is True
    assert days[TODAY]["revenue"] == 3_000_000
    assert days[TODAY]["energy_kwh"] == 0.2
    assert days[TODAY]["power_cost"] == 50_000  # the CPU rig's hour is unknown, not billed
    assert days[TODAY]["power_complete"] is False
    assert days[TODAY]["reported_seconds"] == 2 * HOUR
    assert result["totals"]["revenue"] == 4_000_000
    assert result["totals"]["power_cost"] == 100_000
    assert result["totals"]["net"] == 3_900_000
    assert (result["more_rigs"], result["complete"]) == (False, True)


def test_without_a_price_there_is_energy_but_no_cost(client, fleet):
    put_settings(client, {"electricity_price_per_kwh": None})

    result = get(client, "/api/profit", days=1)

    today = result["days"][0]
    assert result["price"]["electricity_price_per_kwh"] is None
    assert (today["energy_kwh"], today["power_cost"], today["net"]) == (0.2, None, None)
    assert today["revenue"] == 3_000_000


def test_an_empty_fleet_has_every_day_at_zero(client):
    result = get(client, "/api/profit", days=3)

    assert [d["day"] for d in result["days"]] == ["2025-11-19", YESTERDAY, TODAY]
    assert all(d["revenue"] == 0 and d["energy_kwh"] == 0.0 for d in result["days"])
    assert result["rigs"] == []


def test_a_fleet_beyond_one_requests_reads_says_so(client, fleet, monkeypatch):
    monkeypatch.setattr(profit, "MAX_PROFIT_RIGS", 1)
    monkeypatch.setattr(profit, "MAX_PROFIT_POINTS", 5)

    result = get(client, "/api/profit", days=2)

    assert len(result["rigs"]) == 1
    assert (result["more_rigs"], result["complete"]) == (True, False)
    assert result["rigs"][0]["complete"] is False  # 5 of its 12 or 24 points were read
    # Revenue comes from the ledger, every rig's: it is whole.
    assert result["totals"]["revenue"] == 4_000_000


def test_another_owners_rig_is_not_found(client, fleet):
    gpu = fleet["gpu"]

    response = client.get(f"/api/workers/{gpu.worker_id}/profit", headers=auth(address(5)))
    missing = client.get("/api/workers/rig-nothere/profit", headers=auth(PROVIDER))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert missing.status_code == 404


@pytest.mark.parametrize("days", [0, 32, -1, "week"])
def test_the_window_is_one_to_31_days(client, tables, days):
    worker = enrolled_worker(tables)
    for path in ("/api/profit", f"/api/workers/{worker.worker_id}/profit"):
        response = client.get(path, params={"days": days}, headers=auth(PROVIDER))
        assert response.status_code == 422, (path, response.text)
