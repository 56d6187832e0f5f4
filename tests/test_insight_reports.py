"""Insight reports: periods, schedules, and a report run on a real store, gateway and warehouse."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest

from loginsight.client import send_records
from loginsight.insight import Insight, fingerprint_of
from loginsight.insight_report import latest_period, series_request
from loginsight.store.sqlite import SQLiteInsightStore
from loginsight_dagster.definitions import build_definitions
from tests.support import free_port, make_settings, running_gateway

SECRET = "sk-live0123456789abcdefXYZ"


def insight(
    service: str, title: str, batch: str, first: datetime, last: datetime, count: int = 5
) -> Insight:
    return Insight(
        fingerprint=fingerprint_of(service, title),
        batch_key=batch,
        service=service,
        template=f"{title} <*>",
        title=title,
        summary=f"{title} summary",
        level="ERROR",
        count=count,
        first_seen=first,
        last_seen=last,
        sample_lines=[f"{title} 1"],
    )


def test_latest_period_is_the_last_one_the_schedule_ran_for() -> None:
    paris = ZoneInfo("Europe/Paris")
    before_hour = datetime(2024, 5, 8, 5, 30, tzinfo=paris)  # a Wednesday, before 06:00
    daily = latest_period("daily", before_hour, "Europe/Paris", 6)
    assert daily.end == datetime(2024, 5, 7, 6, tzinfo=paris)
    assert daily.start == datetime(2024, 5, 6, 6, tzinfo=paris)
    assert daily.label == "2024-05-06"
    weekly = latest_period("weekly", before_hour, "Europe/Paris", 6)
    assert weekly.end == datetime(2024, 5, 6, 6, tzinfo=paris)  # Monday
    assert weekly.end.weekday() == 0 and weekly.start == datetime(2024, 4, 29, 6, tzinfo=paris)


def test_series_request_buckets_are_one_step_wide_back_to_the_period_start() -> None:
    now = datetime(2024, 5, 8, 6, 30, tzinfo=UTC)
    period = latest_period("daily", now, "UTC", 6)
    window, buckets = series_request(period, now) or ("", 0)
    assert int(window.removesuffix("m")) == buckets * 60 >= 24 * 60 + 30
    assert series_request(latest_period("daily", now - timedelta(days=400), "UTC", 6), now) is None


@pytest.mark.parametrize(
    ("cadence", "tz", "cron"),
    [("daily", "Europe/Paris", "0 7 * * *"), ("weekly", "America/New_York", "0 7 * * 1")],
)
def test_report_schedules_run_at_the_hour_in_the_timezone_for_the_tick_period(
    tmp_path: Path, cadence: str, tz: str, cron: str
) -> None:
    settings = make_settings(tmp_path, reports={"timezone": tz, "hour": 7})
    defs = build_definitions(settings)
    name = f"insight_report_{cadence}"
    schedule = defs.get_schedule_def(f"{name}_schedule")
    assert schedule.cron_schedule == cron and schedule.execution_timezone == tz
    assert schedule.job_name == f"{name}_job"
    tick = datetime(2024, 5, 6, 7, tzinfo=ZoneInfo(tz))
    with (
        dg.instance_for_test() as instance,
        dg.build_schedule_context(instance=instance, scheduled_execution_time=tick) as context,
    ):
        requests = schedule.evaluate_tick(context).run_requests or []
    assert len(requests) == 1
    config = requests[0].run_config["ops"][name]["config"]
    assert datetime.fromisoformat(config["period_end"]) == tick
    assert requests[0].run_key == f"{name}@{config['period_end']}"


def test_daily_report_counts_escapes_redacts_charts_and_fills_the_warehouse(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path / "data", reports={"resolved_after_minutes": 60})
    now = datetime.now(UTC)
    end = now + timedelta(minutes=30)
    with SQLiteInsightStore(settings.store_db_path) as store:
        store.upsert(
            [
                # new and open: first seen within the period, seen minutes ago
                insight(
                    "api",
                    "<script>alert(1)</script> timeout",
                    "b1",
                    now - timedelta(hours=2),
                    now - timedelta(minutes=5),
                    count=40,
                ),
                # recurring and resolved: first seen two days ago, quiet for 5 hours now
                insight(
                    "db",
                    f"auth failed token={SECRET}",
                    "b0",
                    now - timedelta(days=2),
                    now - timedelta(days=2, minutes=-1),
                    count=3,
                ),
                insight(
                    "db",
                    f"auth failed token={SECRET}",
                    "b2",
                    now - timedelta(hours=6),
                    now - timedelta(hours=5),
                    count=7,
                ),
                # outside the period: not in the report
                insight(
                    "old", "gone", "b3", now - timedelta(days=3), now - timedelta(days=3), count=99
                ),
            ]
        )
    records = [{"service": "api", "level": "error", "message": "boom"}] * 6 + [
        {"service": "web", "level": "info", "message": "fine"}
    ] * 4
    with running_gateway(settings) as gateway, dg.instance_for_test() as instance:
        sent = send_records(gateway.url, records)
        assert sent.accepted == 10
        job = build_definitions(settings).resolve_job_def("insight_report_daily_job")
        run = job.execute_in_process(
            instance=instance,
            run_config={
                "ops": {"insight_report_daily": {"config": {"period_end": end.isoformat()}}}
            },
        )
        assert run.success
        observed = instance.fetch_observations(dg.AssetKey("hot_stats"), limit=1).records
    assert observed and observed[0].asset_observation is not None
    observation = observed[0].asset_observation
    assert observation.tags["dagster/data_version"] != "gateway-unreachable"
    assert observation.metadata["records"].value == 10

    meta = run.asset_materializations_for_node("insight_report_daily")[0].metadata
    assert meta["incidents"].value == 2
    assert (meta["new_templates"].value, meta["recurring_templates"].value) == (1, 1)
    assert (meta["open_incidents"].value, meta["resolved_incidents"].value) == (1, 1)
    assert meta["errors_in_stats"].value == 6
    assert "data:image/svg+xml;base64," in str(meta["chart"].value)

    reports = settings.reports_dir
    label = (end - timedelta(days=1)).date().isoformat()
    page = (reports / f"insight_report_daily-{label}.html").read_text()
    markdown = (reports / "latest.md").read_text()
    assert markdown == (reports / f"insight_report_daily-{label}.md").read_text()
    assert "&lt;script&gt;" in page and "<script>" not in page
    for text in (page, markdown, str(meta["report"].value)):
        assert SECRET not in text
    assert "token=[REDACTED]" in markdown and "gone" not in markdown
    top = markdown.split("## Top incidents")[1].split("##")[0]
    assert top.index("api") < top.index("db")  # most events first
    svg = (reports / f"insight_report_daily-{label}.svg").read_text()
    assert "<polyline" in svg and ">api (6)</text>" in svg

    with duckdb.connect(str(settings.warehouse_db_path), read_only=True) as conn:
        facts = conn.execute(
            "SELECT service, count, novelty, status FROM insight_facts ORDER BY count DESC"
        ).fetchall()
    assert facts == [("api", 40, "new", "open"), ("db", 7, "recurring", "resolved")]


def test_report_without_a_gateway_says_why_and_rerun_replaces_its_facts(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", gateway={"http_port": free_port()})
    now = datetime.now(UTC)
    with SQLiteInsightStore(settings.store_db_path) as store:
        store.upsert([insight("api", "timeout", "b1", now - timedelta(hours=1), now, count=4)])
    config = {"ops": {"insight_report_daily": {"config": {"period_end": now.isoformat()}}}}
    with dg.instance_for_test() as instance:
        # Resolved inside: Dagster binds a resolved repository to the instance then current.
        job = build_definitions(settings).resolve_job_def("insight_report_daily_job")
        for _ in range(2):
            run = job.execute_in_process(instance=instance, run_config=config)
            assert run.success
    meta = run.asset_materializations_for_node("insight_report_daily")[0].metadata
    assert "no gateway at" in str(meta["stats_error"].value)
    assert meta["incidents"].value == 1
    assert "Stats unavailable" in (settings.reports_dir / "latest.md").read_text()
    with duckdb.connect(str(settings.warehouse_db_path), read_only=True) as conn:
        rows = conn.execute("SELECT report, count, run_id FROM insight_facts").fetchall()
    assert [(r[0], r[1]) for r in rows] == [("insight_report_daily", 4)]
    assert rows[0][2] == run.run_id  # the second run replaced the first one's rows
    assert json.loads(json.dumps(meta["period_end"].value)) == now.isoformat()
