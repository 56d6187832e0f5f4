"""The logs sensor on a real Dagster instance: one run per event hour of a batch, and never a
second run of a run key, whether a tick is replayed, the daemon restarts, or two daemons race."""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path

import dagster as dg

from loginsight.bus.sqlite import SQLiteBus
from loginsight.settings import TOPIC_LOGS_TO_ANALYZE, Settings
from loginsight_dagster.definitions import build_definitions
from loginsight_dagster.partitions import EVENT_HOURS
from tests.hour_records import (
    H1,
    H2,
    database_incident,
    disk_incident,
    publish,
    record,
    store_published,
    totals,
)
from tests.support import launch, make_settings, tick

SENSOR = "logs_to_analyze_sensor"


def _setup(tmp_path: Path) -> tuple[Settings, dg.Definitions, dg.DagsterInstance]:
    settings = make_settings(
        tmp_path / "data", sensor={"max_batch_records": 1000, "max_batch_age_s": 0}
    )
    return settings, build_definitions(settings), dg.DagsterInstance.ephemeral()


def _runs_of(instance: dg.DagsterInstance, run_key: str) -> int:
    return len(instance.get_runs(filters=dg.RunsFilter(tags={"dagster/run_key": run_key})))


def test_a_batch_spanning_two_hours_asks_for_one_run_per_hour(tmp_path: Path) -> None:
    settings, defs, instance = _setup(tmp_path)
    publish(settings, database_incident(H1) + disk_incident(H2))

    requests, _, _ = tick(defs, instance, SENSOR, None)
    by_partition = {r.partition_key: r for r in requests}
    assert set(by_partition) == {H1, H2}
    for hour, request in by_partition.items():
        config = request.run_config["ops"]["error_events"]["config"]
        assert request.run_key == f"logs.to.analyze@p0:0-17#hour={hour}"
        assert config["batch_key"] == request.run_key
        assert config["hours"] == [hour]
        assert (config["start"], config["end"]) == ({"0": 0}, {"0": 17})

    results = {hour: launch(defs, instance, "analyze_logs", r) for hour, r in by_partition.items()}
    events = {hour: len(r.output_for_node("error_events").records) for hour, r in results.items()}
    assert events == {H1: 10, H2: 7}  # each run keeps its own hour's records of the range


def test_a_replayed_tick_asks_only_for_the_runs_not_launched_yet(tmp_path: Path) -> None:
    settings, defs, instance = _setup(tmp_path)
    publish(settings, database_incident(H1) + disk_incident(H2))
    requests, cursor, _ = tick(defs, instance, SENSOR, None)
    first, second = sorted(requests, key=lambda r: r.partition_key or "")

    # The daemon launched the first run, then crashed before saving the cursor.
    assert launch(defs, instance, "analyze_logs", first).success
    replayed, replayed_cursor, _ = tick(defs, instance, SENSOR, None)
    assert [r.run_key for r in replayed] == [second.run_key]
    assert replayed_cursor == cursor

    assert launch(defs, instance, "analyze_logs", second).success
    again, _, skip = tick(defs, instance, SENSOR, None)
    assert again == [] and skip and "exists" in skip
    assert _runs_of(instance, first.run_key or "") == _runs_of(instance, second.run_key or "") == 1


def test_a_restarted_daemon_continues_from_the_saved_cursor(tmp_path: Path) -> None:
    settings, defs, instance = _setup(tmp_path)
    publish(settings, database_incident(H1))
    requests, cursor, _ = tick(defs, instance, SENSOR, None)
    [request] = requests
    assert launch(defs, instance, "analyze_logs", request).success

    # A restart: new definitions (a new code server), the same instance and the saved cursor.
    restarted = build_definitions(settings)
    idle, cursor, skip = tick(restarted, instance, SENSOR, cursor)
    assert idle == [] and skip and "no new messages" in skip

    publish(settings, disk_incident(H1))
    [later], _, _ = tick(restarted, instance, SENSOR, cursor)
    assert later.run_key == f"logs.to.analyze@p0:10-17#hour={H1}"
    assert later.run_key != request.run_key
    assert launch(restarted, instance, "analyze_logs", later).success
    store_published(restarted, instance, None)
    assert {template: n for template, (n, _) in totals(settings).items()} == {
        "too many connections (max <*>)": 10,
        "disk full on <*> write failed": 7,
    }


def test_two_racing_ticks_ask_for_the_same_runs_and_store_them_once(tmp_path: Path) -> None:
    settings, defs, instance = _setup(tmp_path)
    publish(settings, database_incident(H1) + disk_incident(H2))

    # Two daemons evaluate the sensor from the same cursor before either launches anything.
    ours, our_cursor, _ = tick(defs, instance, SENSOR, None)
    theirs, their_cursor, _ = tick(build_definitions(settings), instance, SENSOR, None)
    assert [(r.run_key, r.partition_key, r.run_config) for r in ours] == [
        (r.run_key, r.partition_key, r.run_config) for r in theirs
    ]
    assert our_cursor == their_cursor

    for request in ours:
        assert launch(defs, instance, "analyze_logs", request).success
    # The slower daemon evaluates again: every run key exists, nothing more is asked for.
    late, _, skip = tick(defs, instance, SENSOR, None)
    assert late == [] and skip and "exists" in skip

    # Even if the other daemon's runs were launched anyway, nothing is stored twice: the
    # insights are keyed by the same batches.
    for request in theirs:
        assert launch(defs, instance, "analyze_logs", request).success
    store_published(defs, instance, None)
    assert totals(settings) == {
        "too many connections (max <*>)": (10, 1),
        "disk full on <*> write failed": (7, 1),
    }


def test_events_older_than_the_first_partition_are_analyzed_in_it(tmp_path: Path) -> None:
    settings, defs, instance = _setup(tmp_path)
    first = EVENT_HOURS.get_first_partition_key()
    old = EVENT_HOURS.start - timedelta(days=30) + timedelta(minutes=5)
    publish(settings, [record(old + timedelta(seconds=n), "auth", f"panic {n}") for n in range(3)])

    [request] = tick(defs, instance, SENSOR, None)[0]
    assert request.partition_key == first
    old_hour = old.astimezone(UTC).strftime("%Y-%m-%dT%H")
    assert request.run_config["ops"]["error_events"]["config"]["hours"] == [old_hour]
    result = launch(defs, instance, "analyze_logs", request)
    assert len(result.output_for_node("error_events").records) == 3


def test_a_batch_of_unreadable_messages_is_passed_over(tmp_path: Path) -> None:
    settings, defs, instance = _setup(tmp_path)
    with SQLiteBus(settings.bus_db_path) as bus:
        bus.publish(TOPIC_LOGS_TO_ANALYZE, [("x", b"not json"), ("x", b'{"v": 999}')])
    requests, cursor, skip = tick(defs, instance, SENSOR, None)
    assert requests == [] and skip and "no readable message" in skip
    assert cursor is not None and '"0":2' in cursor.replace(" ", "")
