"""Asset checks pass on real data and fail on bad data; failed runs are recorded for retry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from assets.error_events import ErrorEventBatch
from assets.incidents import IncidentBatch
from loginsight.bus.sqlite import SQLiteBus
from loginsight.insight import EvidenceLine, Insight, fingerprint_of
from loginsight.model import Level, LogRecord
from loginsight.settings import TOPIC_LOGS_TO_ANALYZE
from loginsight.store.sqlite import SQLiteInsightStore
from loginsight_dagster.checks import (
    SENSOR_LAG_WITHIN_BOUND,
    STORED_TEXT_REDACTED,
    incidents_have_events,
    insights_match_schema,
)
from loginsight_dagster.definitions import build_definitions
from loginsight_dagster.resources import InsightStoreResource
from rca.analyzer import LocalAnalyzer, group_incidents
from sensors.run_failure_sensor import record_failed_runs_sensor
from tests.support import make_settings

NOW = datetime(2024, 5, 6, 12, tzinfo=UTC)


def error(service: str, message: str, seconds: float) -> LogRecord:
    return LogRecord(
        event_time=NOW + timedelta(seconds=seconds),
        source="http",
        service=service,
        level=Level.ERROR,
        message=message,
    )


def real_batch() -> tuple[ErrorEventBatch, IncidentBatch]:
    records = [error("db", f"connection refused to 10.0.0.{i % 3}", i) for i in range(30)]
    records += [error("api", f"upstream db timeout after {i}ms", i + 0.5) for i in range(30)]
    events = ErrorEventBatch(batch_key="logs.to.analyze@p0:0-60", records=records)
    return events, IncidentBatch(batch_key=events.batch_key, incidents=group_incidents(records))


def stored_insight(fingerprint_text: str, **texts: object) -> Insight:
    fields: dict[str, object] = {
        "fingerprint": fingerprint_of("api", fingerprint_text),
        "batch_key": "b1",
        "service": "api",
        "template": "login failed for <*>",
        "title": "Login failures",
        "summary": "Logins fail",
        "level": "ERROR",
        "count": 3,
        "first_seen": NOW,
        "last_seen": NOW,
        **texts,
    }
    return Insight.model_validate(fields)


def test_incident_and_schema_checks_pass_on_what_the_analyzer_makes() -> None:
    events, incidents = real_batch()
    assert incidents.incidents
    assert incidents_have_events(incidents=incidents, error_events=events).passed
    insights = LocalAnalyzer().analyze(incidents.incidents, events.batch_key)
    assert insights and insights_match_schema(rca_insights=insights).passed


def test_incidents_have_events_fails_on_incidents_the_batch_does_not_hold() -> None:
    events, incidents = real_batch()
    first = incidents.incidents[0]
    ghost = first.model_copy(update={"service": "ghost", "fingerprint": "ghost"})
    empty = first.model_copy(update={"count": 0, "fingerprint": "empty"})
    bad = IncidentBatch(batch_key=incidents.batch_key, incidents=[ghost, empty])
    result = incidents_have_events(incidents=bad, error_events=events)
    assert not result.passed
    problems = result.metadata["problems"].value
    assert any("ghost" in p for p in problems) and any("empty: counts 0" in p for p in problems)
    too_many = first.model_copy(update={"count": len(events.records) + 1})
    result = incidents_have_events(
        incidents=IncidentBatch(batch_key="k", incidents=[too_many]), error_events=events
    )
    assert not result.passed
    assert incidents_have_events(incidents=incidents, error_events=events).passed


def test_insights_match_schema_fails_on_an_insight_that_does_not_validate() -> None:
    good = stored_insight("a")
    # Built without validation, as a buggy analyzer could: a count of 0 and a confidence of 3.
    bad = Insight.model_construct(**{**good.model_dump(), "count": 0, "confidence": 3.0})
    result = insights_match_schema(rca_insights=[good, bad])
    assert not result.passed
    assert [p.split(":")[0] for p in result.metadata["invalid"].value] == [good.fingerprint]


def _state_checks(settings_dir: Path, **overrides: object) -> dict[dg.AssetCheckKey, bool]:
    settings = make_settings(settings_dir, **overrides)
    with dg.instance_for_test() as instance:
        job = build_definitions(settings).resolve_job_def("quality_checks")
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    return {e.asset_check_key: e.passed for e in result.get_asset_check_evaluations()}


def test_state_checks_pass_on_a_clean_store_and_an_idle_bus(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with SQLiteInsightStore(settings.store_db_path) as store:
        store.upsert([stored_insight("clean", sample_lines=["password=[REDACTED] rejected"])])
    assert _state_checks(tmp_path) == {STORED_TEXT_REDACTED: True, SENSOR_LAG_WITHIN_BOUND: True}


def test_state_checks_fail_on_a_stored_secret_and_a_lagging_sensor(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    leaking = stored_insight(
        "leak",
        evidence=[
            EvidenceLine(ts=NOW, service="api", line="Authorization: Bearer abcDEF123456789")
        ],
    )
    with SQLiteInsightStore(settings.store_db_path) as store:
        store.upsert([stored_insight("clean"), leaking])
    with SQLiteBus(settings.bus_db_path) as bus:
        bus.publish(
            TOPIC_LOGS_TO_ANALYZE,
            [("api", error("api", "boom", i).to_bus()) for i in range(5)],
        )
    evaluations = _state_checks(tmp_path, reports={"max_sensor_lag_records": 4})
    assert evaluations == {STORED_TEXT_REDACTED: False, SENSOR_LAG_WITHIN_BOUND: False}
    # Within the bound, the lag check passes on the same bus.
    evaluations = _state_checks(tmp_path, reports={"max_sensor_lag_records": 5})
    assert evaluations[SENSOR_LAG_WITHIN_BOUND] is True


def test_run_failure_sensor_records_a_failed_report_run_once(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.reports_dir.write_text("a file where the reports folder should be")
    run_key = "insight_report_daily@2024-05-06T06:00:00+00:00"
    with dg.instance_for_test() as instance:
        job = build_definitions(settings).resolve_job_def("insight_report_daily_job")
        result = job.execute_in_process(
            instance=instance, raise_on_error=False, tags={"dagster/run_key": run_key}
        )
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        assert run is not None
        failure = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        assert failure and failure[0].dagster_event is not None
        store = InsightStoreResource(kind="sqlite", sqlite_path=str(settings.store_db_path))
        for _ in range(2):  # a replayed tick records the run once
            context = dg.build_run_status_sensor_context(
                sensor_name="record_failed_runs_sensor",
                dagster_event=failure[0].dagster_event,
                dagster_instance=instance,
                dagster_run=run,
            ).for_run_failure()
            record_failed_runs_sensor(context, store=store)
    with SQLiteInsightStore(settings.store_db_path) as opened:
        recorded = opened.failed_runs()
    assert len(recorded) == 1
    assert recorded[0].run_id == result.run_id
    assert recorded[0].job_name == "insight_report_daily_job"
    assert recorded[0].run_key == run_key
    assert "insight_report_daily" in recorded[0].error
    assert "FileExistsError" in recorded[0].error or "exists" in recorded[0].error
