"""The dashboard's data, without a browser: filters, per-service series, chart geometry, links,
and a gateway whose insight store is down still serving the rest of the page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest_gateway.ui import views
from ingest_gateway.ui.charts import sparkline_points, timeline
from loginsight.insight import InsightBatch, StoredInsight
from loginsight.model import Level
from tests.support import free_port, make_settings, running_gateway

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def stored(service: str = "payments-db", level: str = "error", **fields: Any) -> StoredInsight:
    values: dict[str, Any] = {
        "fingerprint": f"fp-{service}",
        "service": service,
        "template": "too many connections (max <*>)",
        "title": f"{service}: connection pool exhausted",
        "summary": "The pool ran out.",
        "level": level,
        "count": 7,
        "first_seen": NOW - timedelta(minutes=40),
        "last_seen": NOW - timedelta(minutes=39),
        "sample_lines": ["too many connections (max 100)"],
        "analyzer": "local",
        "batches": 1,
    }
    values.update(fields)
    return StoredInsight(**values)


def test_filters_parse_and_refuse() -> None:
    filters = views.Filters.parse(service=" checkout ", severity="WARNING", since="1h", q=" pool ")
    assert filters == views.Filters("checkout", Level.WARN, "1h", "pool")
    assert filters.window == timedelta(hours=1)
    assert filters.query_string() == "service=checkout&severity=warn&since=1h&q=pool"
    assert views.Filters.parse("", "", "", "") == views.Filters()
    assert views.Filters().query_string() == ""
    with pytest.raises(ValueError, match="severity 'loud'"):
        views.Filters.parse(severity="loud")
    with pytest.raises(ValueError, match="must look like"):
        views.Filters.parse(since="yesterday")


def test_an_incident_matches_the_services_it_involves_its_level_time_and_words() -> None:
    insight = stored(blast_radius={"payments-db": 4, "checkout": 3})
    assert views.matches(insight, views.Filters(service="checkout"), NOW)  # blast radius
    assert not views.matches(insight, views.Filters(service="auth"), NOW)
    assert views.matches(insight, views.Filters(severity=Level.ERROR), NOW)
    assert not views.matches(insight, views.Filters(severity=Level.FATAL), NOW)
    assert not views.matches(insight, views.Filters(since="15m"), NOW)
    assert views.matches(insight, views.Filters(since="1h"), NOW)
    assert views.matches(insight, views.Filters(q="POOL exhausted"), NOW)
    assert not views.matches(insight, views.Filters(q="pool disk"), NOW)


def test_service_rows_fill_every_bucket_and_rank_by_errors() -> None:
    series = {
        "start": "2026-03-02T11:00:00Z",
        "step_s": 60,
        "buckets": 4,
        "rows": [
            {"bucket": 0, "service": "api", "count": 10, "errors": 0},
            {"bucket": 3, "service": "api", "count": 10, "errors": 0},
            {"bucket": 1, "service": "db", "count": 4, "errors": 2},
            {"bucket": 9, "service": "db", "count": 99, "errors": 99},  # outside: ignored
        ],
    }
    rows = views.service_rows(series, views.Filters())
    assert [row["service"] for row in rows] == ["db", "api"]
    db, api = rows
    assert (db["records"], db["errors"], db["error_pct"]) == (4, 2, 50.0)
    assert (api["records"], api["records_per_min"]) == (20, 5.0)
    assert len(api["ingest_points"].split()) == 4
    assert [row["service"] for row in views.service_rows(series, views.Filters("api"))] == ["api"]


def test_sparkline_scales_to_the_largest_value() -> None:
    assert sparkline_points([0, 5, 10], width=100, height=21) == "0.0,20.0 50.0,10.5 100.0,1.0"
    assert sparkline_points([0, 0], width=10, height=5) == "0.0,4.0 10.0,4.0"
    assert sparkline_points([], width=10, height=5) == "0.0,4.0 10.0,4.0"


def test_timeline_places_bars_by_time_and_height_by_count() -> None:
    start = NOW - timedelta(hours=1)
    bars = timeline(
        [
            (start, start + timedelta(minutes=6), 10, "a"),
            (NOW - timedelta(minutes=30), NOW - timedelta(minutes=30), 5, "b"),
        ],
        start,
        NOW,
        width=600,
        height=101,
    )
    assert [(bar.x, bar.width, bar.height) for bar in bars] == [
        (0.0, 60.0, 100.0),
        (300.0, 4.0, 50.0),
    ]


def test_incident_view_links_and_fallbacks() -> None:
    old = stored()  # written before root-cause fields existed: evidence falls back to samples
    batches = [
        InsightBatch(
            batch_key="logs.to.analyze@p0:0-25",
            count=7,
            first_seen=old.first_seen,
            last_seen=old.last_seen,
        )
    ]
    view = views.incident(old, batches, "http://dagster:3000", NOW)
    assert view["evidence_from_samples"] is True
    assert view["evidence"] == [
        {"ts": "", "service": "payments-db", "line": "too many connections (max 100)"}
    ]
    assert view["root_cause"]["service"] == "payments-db"
    assert view["root_cause"]["confidence_pct"] is None
    assert view["links"]["asset"] == "http://dagster:3000/assets/rca_insights"
    assert view["links"]["latest_run"] == (
        "http://dagster:3000/runs?q%5B%5D=tag%3Adagster%2Frun_key%3Dlogs.to.analyze%40p0%3A0-25"
    )
    assert view["llm"] is None
    assert view["blast_radius"] == [] and view["next_steps"] == []
    assert views.incident_url("a/b?c") == "/ui/incidents/a%2Fb%3Fc"


def test_a_store_that_is_down_costs_a_notice_not_the_page(tmp_path: Path) -> None:
    # Nothing listens on this port: every read of the insight store fails at once.
    dead = f"postgresql://loginsight:secret-pw@127.0.0.1:{free_port()}/loginsight"
    settings = make_settings(tmp_path / "data", store="postgres", postgres={"dsn": dead})
    with running_gateway(settings) as gateway:
        ingest = httpx.post(
            f"{gateway.url}/v1/ingest",
            json=[{"service": "api", "level": "error", "message": "boom"}],
        )
        assert ingest.status_code == 200  # the hot path never touches the insight store

        page = httpx.get(f"{gateway.url}/ui/")
        assert page.status_code == 200
        assert "Insight store unavailable" in page.text
        assert "secret-pw" not in page.text
        data = httpx.get(f"{gateway.url}/ui/api/overview").json()
        assert data["store_error"] and data["incidents"] == []
        assert [row["service"] for row in data["services"]] == ["api"]

        incident = httpx.get(f"{gateway.url}/ui/api/incidents/{'0' * 32}")
        assert incident.status_code == 503
        assert httpx.get(f"{gateway.url}/ui/static/../app.py").status_code == 404
