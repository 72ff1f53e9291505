"""Each rule kind fires just past its threshold and stays quiet just short of it."""

from __future__ import annotations

import pytest

from functions.models.alerts import AlertKind, DeliveryStatus
from tests.factories import NOW, PROVIDER, address

# Test settings: offline after 90 s of silence plus a 60 s heartbeat write slot.
ALLOWANCE = 180


def fired(job, rule, now=NOW):
    return job.evaluate(rule, now)


# -- offline ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("online", "silent", "minutes", "fires"),
    [
        (False, 600, 10, True),  # down exactly N minutes
        (False, 599, 10, False),  # one second short
        (False, 61, 1, True),
        (True, ALLOWANCE + 1, 1, True),  # still flagged online, but silent too long
        (True, ALLOWANCE, 1, False),  # within the heartbeat write slots: up
        (True, 30, 1, False),
    ],
)
def test_offline_fires_after_n_minutes_down(job, rig, rule, online, silent, minutes, fires):
    worker = rig(online=online, last_seen=NOW - silent)
    events = fired(job, rule(AlertKind.OFFLINE, minutes, worker=worker))
    assert len(events) == (1 if fires else 0)
    if fires:
        assert events[0].worker_id == worker.worker_id
        assert events[0].value == pytest.approx(silent / 60, abs=0.05)
        assert events[0].threshold == minutes


def test_a_rig_never_heard_from_is_not_offline(job, rig, rule):
    worker = rig(online=False, last_seen=None)
    assert fired(job, rule(AlertKind.OFFLINE, 1, worker=worker)) == []


# -- hashrate drop --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "fires"),
    [(800.0, False), (799.0, True), (1000.0, False), (0.0, True)],
)
def test_hashrate_drop_fires_past_x_percent_below_the_hour_median(
    job, rig, rule, history, current, fires
):
    worker = rig(hashrate=current)
    # Median of the hour is 1000; the 5000 outlier does not move a median.
    history(worker, [(3000, 1000.0), (2400, 900.0), (1800, 1000.0), (1200, 5000.0), (600, 1100.0)])
    events = fired(job, rule(AlertKind.HASHRATE_DROP, 20, worker=worker))
    assert len(events) == (1 if fires else 0)
    if fires:
        assert events[0].value == pytest.approx((1000 - current) / 10)
        assert "1-hour median 1000" in events[0].message


def test_with_sparse_history_the_median_is_of_the_last_three_slots(
    settings, tables, alerts, sender, rig, rule, history
):
    """History every 1800 s (deployed): an hour holds two points, so the rule reads 5400 s."""
    from functions.dal.telemetry import TelemetryRepository
    from functions.dal.workers import WorkerRepository
    from functions.logic.alerts import AlertJob

    sparse = settings.model_copy(update={"heartbeat_history_seconds": 1800})
    job = AlertJob(sparse, alerts, WorkerRepository(tables), TelemetryRepository(tables), sender)
    worker = rig(hashrate=500.0)
    history(worker, [(5000, 1000.0), (3200, 1000.0), (1400, 1000.0)])
    [event] = fired(job, rule(AlertKind.HASHRATE_DROP, 20, worker=worker))
    assert "1.5-hour median 1000" in event.message


def test_hashrate_drop_needs_three_points_of_the_last_hour(job, rig, rule, history):
    worker = rig(hashrate=100.0)
    # Two points inside the hour; the older ones are outside it.
    history(worker, [(3601, 1000.0), (4000, 1000.0), (1200, 1000.0), (600, 1000.0)])
    drop = rule(AlertKind.HASHRATE_DROP, 20, worker=worker)
    assert fired(job, drop) == []
    history(worker, [(300, 1000.0)])
    assert len(fired(job, drop)) == 1


def test_hashrate_drop_ignores_a_rig_that_is_down(job, rig, rule, history):
    worker = rig(online=False, last_seen=NOW - 400, hashrate=0.0)
    history(worker, [(3000, 1000.0), (2000, 1000.0), (1000, 1000.0)])
    assert fired(job, rule(AlertKind.HASHRATE_DROP, 20, worker=worker)) == []


# -- temperature ------------------------------------------------------------------------------


@pytest.mark.parametrize(("hottest", "fires"), [(85.0, False), (85.5, True)])
def test_temperature_fires_above_t_on_the_hottest_gpu(job, rig, rule, hottest, fires):
    worker = rig(temperatures=(70.0, None, hottest))
    events = fired(job, rule(AlertKind.TEMPERATURE, 85, worker=worker))
    assert len(events) == (1 if fires else 0)
    if fires:
        assert events[0].value == hottest
        assert "GPU 2" in events[0].message


def test_temperature_of_a_rig_that_is_down_is_stale(job, rig, rule):
    worker = rig(online=False, last_seen=NOW - 1000, temperatures=(99.0,))
    assert fired(job, rule(AlertKind.TEMPERATURE, 85, worker=worker)) == []


def test_a_rig_without_temperature_readings_never_fires(job, rig, rule):
    worker = rig(temperatures=(None,))
    assert fired(job, rule(AlertKind.TEMPERATURE, 30, worker=worker)) == []


# -- which workers -------------------------------------------------------------------------------


def test_a_rule_without_a_worker_watches_every_worker_of_its_owner_only(job, rig, rule, alerts):
    hot = [rig(temperatures=(90.0,)) for _ in range(2)]
    rig(temperatures=(60.0,))
    rig(temperatures=(95.0,), revoked=True)
    rig(owner=address(77), temperatures=(99.0,))
    events = fired(job, rule(AlertKind.TEMPERATURE, 80))
    assert sorted(e.worker_id for e in events) == sorted(w.worker_id for w in hot)
    assert {e.owner for e in events} == {PROVIDER}
    assert alerts.list_events(address(77), limit=10).items == []


def test_a_fired_event_is_stored_pending_delivery(job, rig, rule, alerts):
    worker = rig(temperatures=(90.0,))
    with_hook = rule(AlertKind.TEMPERATURE, 80, worker=worker)
    without = rule(AlertKind.TEMPERATURE, 70, worker=worker, webhook_url=None)
    (event,) = fired(job, with_hook)
    (quiet,) = fired(job, without)
    assert event.delivery is DeliveryStatus.PENDING
    assert quiet.delivery is DeliveryStatus.NONE
    stored = {e.event_id: e for e in alerts.list_events(PROVIDER, limit=10).items}
    assert stored == {event.event_id: event, quiet.event_id: quiet}
    assert event.expires_at > NOW
