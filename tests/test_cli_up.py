"""`loginsight up --sample` as a user runs it: the whole stack in the foreground, an insight in
`loginsight insights`, the asset lineage in Dagster's GraphQL API, and nothing left running after
SIGTERM (dagster dev's webserver, daemon and code servers included)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import REPO, free_port, make_settings, settings_env

LOGINSIGHT = str(Path(sys.executable).with_name("loginsight"))
INSIGHT_DEADLINE_S = 300.0

LINEAGE_QUERY = "{ assetNodes { assetKey { path } dependencyKeys { path } } }"
CHECKS_QUERY = """{ assetNodes { assetKey { path }
    assetChecksOrError { ... on AssetChecks { checks { name } } } } }"""
SENSOR_RUNS_QUERY = """{ runsOrError(filter: {statuses: [SUCCESS],
    tags: [{key: "dagster/sensor_name", value: "logs_to_analyze_sensor"}]}) {
    ... on Runs { results { runId jobName status } } } }"""
RUN_DEADLINE_S = 120.0


def _graphql(dagster_url: str, query: str) -> dict[str, Any]:
    reply = httpx.post(f"{dagster_url}/graphql", json={"query": query}, timeout=30)
    body: dict[str, Any] = reply.json()
    assert "errors" not in body, body
    return body["data"]


def _sensor_runs_succeeded(dagster_url: str) -> list[dict[str, Any]]:
    """Successful runs the logs sensor launched, waited for within a bound."""
    deadline = time.monotonic() + RUN_DEADLINE_S
    while True:
        runs: list[dict[str, Any]] = _graphql(dagster_url, SENSOR_RUNS_QUERY)["runsOrError"][
            "results"
        ]
        if runs or time.monotonic() > deadline:
            return runs
        time.sleep(2)


def _processes_with_env(marker: str) -> list[int]:
    """Pids of processes whose environment holds `marker` (this test's data dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LOGINSIGHT, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def stack_env(tmp_path: Path) -> dict[str, str]:
    settings = make_settings(tmp_path / "data")
    return {
        **os.environ,
        **settings_env(settings),
        "LOGINSIGHT_DAGSTER_PORT": str(free_port()),
    }


def test_up_feeds_sample_shows_insights_and_lineage_and_stops_cleanly(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    out_path = tmp_path / "up.out"
    with out_path.open("wb") as out:
        up = subprocess.Popen(
            [LOGINSIGHT, "up", "--sample"], env=stack_env, cwd=REPO, stdout=out, stderr=out
        )
    marker = f"LOGINSIGHT_DATA_DIR={stack_env['LOGINSIGHT_DATA_DIR']}"
    try:
        insights: list[dict[str, object]] = []
        deadline = time.monotonic() + INSIGHT_DEADLINE_S
        while not insights:
            assert up.poll() is None, f"loginsight up exited:\n{out_path.read_text()}"
            assert time.monotonic() < deadline, f"no insight in time:\n{out_path.read_text()}"
            time.sleep(3)
            listed = _cli(stack_env, "insights", "--json")
            assert listed.returncode == 0, listed.stderr
            insights = json.loads(listed.stdout)

        printed = out_path.read_text()
        dagster_url = f"http://127.0.0.1:{stack_env['LOGINSIGHT_DAGSTER_PORT']}"
        assert stack_env["LOGINSIGHT_GATEWAY__HTTP_PORT"] in printed
        assert dagster_url in printed
        assert "fed the bundled sample: 267 records" in printed
        services = {insight["service"] for insight in insights}
        assert "payments-db" in services

        graph = httpx.post(f"{dagster_url}/graphql", json={"query": LINEAGE_QUERY}, timeout=30)
        nodes = graph.json()["data"]["assetNodes"]
        edges = {
            (dep["path"][-1], node["assetKey"]["path"][-1])
            for node in nodes
            for dep in node["dependencyKeys"]
        }
        assert {
            ("error_events", "log_templates"),
            ("log_templates", "incidents"),
            ("incidents", "rca_insights"),
            ("rca_insights", "user_insights"),
        } <= edges
        assert {node["assetKey"]["path"][-1] for node in nodes} >= {
            "error_events",
            "log_templates",
            "incidents",
            "rca_insights",
            "user_insights",
            "hot_stats",
            "insight_report_daily",
            "insight_report_weekly",
        }
        # The reporting side: hot stats observed from the gateway, feeding incidents and reports.
        assert {
            ("hot_stats", "incidents"),
            ("hot_stats", "insight_report_daily"),
            ("hot_stats", "insight_report_weekly"),
        } <= edges
        checks = {
            node["assetKey"]["path"][-1]: {c["name"] for c in node["assetChecksOrError"]["checks"]}
            for node in _graphql(dagster_url, CHECKS_QUERY)["assetNodes"]
            if "checks" in node["assetChecksOrError"]
        }
        assert "incidents_have_events" in checks["incidents"]
        assert "insights_match_schema" in checks["rca_insights"]
        assert "stored_text_redacted" in checks["user_insights"]
        assert "sensor_lag_within_bound" in checks["error_events"]
        runs = _sensor_runs_succeeded(dagster_url)
        assert runs, "no run launched by logs_to_analyze_sensor succeeded"
        assert {run["jobName"] for run in runs} == {"analyze_logs"}

        stats = _cli(stack_env, "stats", "--json", "--by", "service")
        assert stats.returncode == 0, stats.stderr
        rows = {row["service"]: row for row in json.loads(stats.stdout)["rows"]}
        assert sum(row["count"] for row in rows.values()) == 267
        assert rows["payments-db"]["errors"] == 8

        extra = tmp_path / "app.log"
        extra.write_text("all good\nERROR disk full on /var\n")
        sent = _cli(stack_env, "send", str(extra), "--service", "batch")
        assert sent.returncode == 0, sent.stderr
        assert "sent 2 records (1 matched" in sent.stdout
        assert _processes_with_env(marker), "the stack's processes should be visible"

        status = _cli(stack_env, "status", "--json")
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert report["up"] == {"running": True, "pid": up.pid}
        assert report["services"]["gateway"]["up"] and report["services"]["dagster"]["up"]
        # The sensor's cursor is read from the Dagster instance `up` runs on.
        logs_topic = report["bus"]["topics"]["logs.to.analyze"]
        assert logs_topic["sensor_cursor"] is True and logs_topic["lag"] >= 0
        assert report["last_insight"] is not None

        down = subprocess.run(
            [LOGINSIGHT, "down"],
            env=stack_env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=150,
        )
        assert down.returncode == 0, down.stderr
        assert "stopped" in down.stdout
        up.wait(timeout=30)  # `down` returns once `up` has exited
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGTERM)
        try:
            up.wait(timeout=90)
        except subprocess.TimeoutExpired:
            up.kill()
            raise
    assert up.returncode == 0, out_path.read_text()
    assert "stopped" in out_path.read_text()
    leftover = _processes_with_env(marker)
    assert leftover == [], f"orphans after SIGTERM: {leftover}"


def test_cli_read_commands_fail_with_one_line_when_gateway_is_down(
    stack_env: dict[str, str],
) -> None:
    result = _cli(stack_env, "stats", "--json")
    assert result.returncode == 1
    assert "stats failed" in result.stderr
    assert "Traceback" not in result.stderr
