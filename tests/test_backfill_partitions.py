"""Hourly partitions and backfills: a backfill re-analyzes an hour from the gateway's Parquet
archive and replaces that hour's insights; sensor-driven and backfilled runs of the same events
produce the same insights."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import httpx

from assets import error_events, incidents, log_templates, rca_insights
from ingest_gateway.sinks.archive import ArchiveWriter
from loginsight.batch_keys import replaced_hour
from loginsight.store import build_store
from loginsight_dagster.definitions import build_definitions
from tests.hour_records import (
    H1,
    H2,
    backfill,
    database_incident,
    disk_incident,
    publish,
    published,
    store_published,
    totals,
    without_batch,
)
from tests.support import launch, make_settings, running_gateway, tick

DB_TEMPLATE = "too many connections (max <*>)"
DISK_TEMPLATE = "disk full on <*> write failed"


def _settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    return make_settings(
        tmp_path / "data", sensor={"max_batch_records": 1000, "max_batch_age_s": 0}
    )


def test_sensor_runs_and_a_backfill_agree_on_events_from_a_real_gateway(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "data",
        sensor={"max_batch_records": 1000, "max_batch_age_s": 0},
        archive={"roll_after_s": 0.2},
    )
    lines = [
        {
            "ts": r.event_time.isoformat(),
            "service": r.service,
            "level": r.level.value,
            "message": r.message,
        }
        for r in database_incident(H1) + disk_incident(H2)
    ]
    with running_gateway(settings) as gateway:
        reply = httpx.post(
            f"{gateway.url}/v1/ingest",
            content="\n".join(json.dumps(line) for line in lines),
            headers={"content-type": "application/x-ndjson"},
        )
        assert reply.json() == {"accepted": 20, "matched": 17}, reply.text
    # The gateway rolled its archive segments into Parquet files by the time it stopped.
    assert sorted(p.parent.name for p in settings.archive_dir.glob("*/*.parquet")) == [
        f"hour={H1}",
        f"hour={H2}",
    ]

    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()

    # The sensor splits its batch by event hour: one run per hourly partition.
    requests, _, _ = tick(defs, instance, "logs_to_analyze_sensor", None)
    assert sorted(r.partition_key or "" for r in requests) == [H1, H2]
    range_key = "logs.to.analyze@p0:0-17"
    assert sorted(r.run_key or "" for r in requests) == [
        f"{range_key}#hour={H1}",
        f"{range_key}#hour={H2}",
    ]
    by_hour = {}
    for request in requests:
        result = launch(defs, instance, "analyze_logs", request)
        assert result.success
        by_hour[request.partition_key] = published(result)
    cursor = store_published(defs, instance, None)
    after_sensor = totals(settings)
    assert after_sensor == {DB_TEMPLATE: (10, 1), DISK_TEMPLATE: (7, 1)}

    # A backfill of both hours reads the archive and finds exactly the same insights.
    for hour in (H1, H2):
        result = backfill(defs, instance, hour)
        assert without_batch(published(result)) == without_batch(by_hour[hour])
        events = result.get_asset_materialization_events()[0].materialization.metadata
        assert events["source"].value == "archive"
    store_published(defs, instance, cursor)

    # ... and replaces the sensor's contributions of those hours instead of adding to them.
    assert totals(settings) == after_sensor
    with build_store(settings) as store:
        for insight in store.list_insights():
            assert [replaced_hour(k) for k in store.batch_keys(insight.fingerprint)] in (
                [H1],
                [H2],
            )


def test_backfill_of_two_partitions_and_its_replay_replace_not_add(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    writer = ArchiveWriter(settings.archive_dir)
    writer.append(database_incident(H1) + disk_incident(H2))
    writer.close()
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()

    cursor = None
    for attempt in range(2):  # the second backfill is a replay of the first
        for hour in (H1, H2):
            backfill(defs, instance, hour)
        cursor = store_published(defs, instance, cursor)
        assert totals(settings) == {DB_TEMPLATE: (10, 1), DISK_TEMPLATE: (7, 1)}, attempt

    # Both partitions are materialized in the instance, as the UI's partition view shows them.
    materialized = instance.get_materialized_partitions(dg.AssetKey("rca_insights"))
    assert materialized == {H1, H2}


def test_backfill_after_a_partial_sensor_run_gives_the_archive_totals(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    hour1, hour2 = database_incident(H1), disk_incident(H2)
    writer = ArchiveWriter(settings.archive_dir)
    writer.append(hour1 + hour2)
    writer.close()
    # The sensor saw only part of hour 1 (say the bus was trimmed), and all of hour 2.
    publish(settings, hour1[:5] + hour2)
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    requests, _, _ = tick(defs, instance, "logs_to_analyze_sensor", None)
    for request in requests:
        assert launch(defs, instance, "analyze_logs", request).success
    cursor = store_published(defs, instance, None)
    partial = totals(settings)
    assert partial[DISK_TEMPLATE] == (7, 1)
    assert sum(count for count, _ in partial.values()) == 12  # 5 of hour 1, 7 of hour 2

    backfill(defs, instance, H1)
    store_published(defs, instance, cursor)
    # Hour 1 is now what the archive says; hour 2 keeps its sensor-driven insight.
    assert totals(settings) == {DB_TEMPLATE: (10, 1), DISK_TEMPLATE: (7, 1)}


def test_materialize_a_partition_from_the_archive(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    writer = ArchiveWriter(settings.archive_dir)
    writer.append(database_incident(H1, connections=8) + disk_incident(H2))
    writer.close()
    defs = build_definitions(settings)
    needed = ("bus", "analyzer", "openai", "archive", "miner")
    resources = {key: defs.resources[key] for key in needed}

    result = dg.materialize(
        [error_events, log_templates, incidents, rca_insights],
        partition_key=H1,
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    batch = result.output_for_node("error_events")
    assert len(batch.records) == 12  # the matched lines of hour 1 only, not the info lines
    assert {r.service for r in batch.records} == {"payments-db", "checkout"}
    assert batch.batch_key == f"archive@{result.run_id}#hour={H1}"
    templated = result.output_for_node("log_templates")
    assert len(set(templated.template_ids)) == 2  # the database's and its caller's lines
    templates = result.asset_materializations_for_node("log_templates")[0].metadata
    assert (templates["new_templates"].value, templates["known_templates"].value) == (2, 0)
    [insight] = result.output_for_node("rca_insights")
    assert insight.template == DB_TEMPLATE and insight.count == 12
    assert replaced_hour(insight.batch_key) == H1


def test_an_hour_without_archive_files_backfills_to_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    defs = build_definitions(settings)
    result = backfill(defs, dg.DagsterInstance.ephemeral(), H1)
    assert published(result) == []
    assert result.output_for_node("error_events").records == []
