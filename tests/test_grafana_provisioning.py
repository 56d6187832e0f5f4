"""The Grafana provisioning in `grafana/provisioning`: the data source and dashboard agree, and
every SQL query of the dashboard runs on the real Postgres insight store and returns what the
stored insights say (Grafana's macros replaced by the SQL Grafana would send)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from loginsight.store.postgres import PostgresInsightStore
from tests.test_store import make_insight

PROVISIONING = Path(__file__).resolve().parent.parent / "grafana" / "provisioning"
DASHBOARD = PROVISIONING / "dashboards" / "loginsight.json"
NOW = datetime.now(UTC).replace(microsecond=0)

_TIME_FILTER = re.compile(r"\$__timeFilter\(([^)]+)\)")
_TIME_GROUP_ALIAS = re.compile(r"\$__timeGroupAlias\(([^,]+),\s*'1h'\)")


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panel_queries() -> dict[str, str]:
    """Panel title -> its rawSql (every panel has one query)."""
    queries = {}
    for panel in dashboard()["panels"]:
        [target] = panel["targets"]
        queries[panel["title"]] = target["rawSql"]
    return queries


def render(sql: str, services: list[str]) -> str:
    """The SQL Grafana sends for the last 7 days with every service selected."""
    sql = _TIME_FILTER.sub(r"\1 BETWEEN now() - interval '7 days' AND now()", sql)
    sql = _TIME_GROUP_ALIAS.sub(r'floor(extract(epoch from \1) / 3600) * 3600 AS "time"', sql)
    sql = sql.replace("$service", ", ".join("'" + s.replace("'", "''") + "'" for s in services))
    assert "$" not in sql, f"a Grafana macro or variable is left: {sql}"
    return sql


def test_the_dashboard_uses_the_provisioned_data_source() -> None:
    sources = yaml.safe_load((PROVISIONING / "datasources" / "loginsight.yaml").read_text())
    [source] = sources["datasources"]
    assert source["type"] == "grafana-postgresql-datasource"
    assert source["jsonData"]["database"] == "loginsight"
    expected = {"type": source["type"], "uid": source["uid"]}
    board = dashboard()
    for panel in board["panels"]:
        assert panel["datasource"] == expected, panel["title"]
        assert all(target["datasource"] == expected for target in panel["targets"])
    [service_var] = [v for v in board["templating"]["list"] if v["name"] == "service"]
    assert service_var["datasource"] == expected

    providers = yaml.safe_load((PROVISIONING / "dashboards" / "loginsight.yaml").read_text())
    [provider] = providers["providers"]
    assert provider["type"] == "file"
    # The README mounts grafana/provisioning at /etc/grafana/provisioning.
    assert provider["options"]["path"] == "/etc/grafana/provisioning/dashboards"


@pytest.mark.postgres
def test_every_dashboard_query_runs_on_the_insight_store(clean_postgres: str) -> None:
    store = PostgresInsightStore(clean_postgres)
    store.upsert(
        [
            make_insight(
                service="payments-db",
                template="too many connections (max <*>)",
                title="payments-db: connection pool exhausted",
                batch_key="logs.to.analyze@p0:0-10",
                count=4,
                first_seen=NOW - timedelta(hours=2),
                confidence=0.9,
            ),
            make_insight(
                service="payments-db",
                template="too many connections (max <*>)",
                title="payments-db: connection pool exhausted",
                batch_key="logs.to.analyze@p0:10-20",
                count=6,
                first_seen=NOW - timedelta(minutes=30),
                confidence=0.9,
            ),
            make_insight(
                service="search",
                template="OutOfMemoryError: Java heap space",
                title="search: out of memory",
                batch_key="logs.to.analyze@p0:20-30",
                count=7,
                first_seen=NOW - timedelta(hours=3),
                level="fatal",
                confidence=0.5,
            ),
            make_insight(  # older than the dashboard's 7 days: filtered out by time
                service="auth",
                template="token expired",
                title="auth: token expired",
                batch_key="logs.to.analyze@p0:30-40",
                count=3,
                first_seen=NOW - timedelta(days=10),
            ),
        ]
    )
    board = dashboard()
    [service_var] = [v for v in board["templating"]["list"] if v["name"] == "service"]
    results: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(clean_postgres) as conn:
        services = [row[0] for row in conn.execute(service_var["query"]).fetchall()]
        assert services == ["auth", "payments-db", "search"]
        for title, sql in panel_queries().items():
            results[title] = conn.execute(render(sql, services)).fetchall()

    assert results["Incidents"] == [(2,)]
    assert results["Error lines in incidents"] == [(17,)]
    assert results["Services affected"] == [(2,)]
    assert results["Analyzed batches"] == [(3,)]

    series = results["Insights over time (error lines per hour, by root-cause service)"]
    assert all(float(bucket) % 3600 == 0 for bucket, _, _ in series)
    totals: dict[str, int] = {}
    for _, service, lines in series:
        totals[service] = totals.get(service, 0) + int(lines)
    assert totals == {"payments-db": 10, "search": 7}

    assert results["Top services"] == [("payments-db", 10, 1), ("search", 7, 1)]

    recent = results["Recent insights"]
    assert [(r[2], r[3], int(r[4]), r[5], int(r[6])) for r in recent] == [
        ("payments-db", "payments-db: connection pool exhausted", 10, 2, 90),
        ("search", "search: out of memory", 7, 1, 50),
    ]
    assert recent[0][0] == NOW - timedelta(minutes=30) + timedelta(seconds=42)
    assert [r[1] for r in recent] == ["error", "fatal"]

    # Narrowed to one service, every panel drops the other.
    with psycopg.connect(clean_postgres) as conn:
        only = conn.execute(render(panel_queries()["Top services"], ["search"])).fetchall()
    assert only == [("search", 7, 1)]
