"""`loginsight report`: the newest insight report rendered in the terminal, or its data as JSON;
one friendly line when there is none yet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from loginsight.insight_report import build_report, period_ending
from loginsight.redact import Redactor
from loginsight.report_render import write_report
from loginsight.store.sqlite import SQLiteInsightStore
from tests.support import REPO, make_settings
from tests.test_insight_reports import insight

LOGINSIGHT = str(Path(sys.executable).with_name("loginsight"))


def _report(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LOGINSIGHT, "report", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )


def test_report_renders_the_newest_report_and_its_json(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    env = {**os.environ, "LOGINSIGHT_DATA_DIR": str(settings.data_dir)}

    missing = _report(env)
    assert missing.returncode == 1
    assert "no insight report" in missing.stderr and "Traceback" not in missing.stderr

    now = datetime.now(UTC)
    with SQLiteInsightStore(settings.store_db_path) as store:
        store.upsert(
            [insight("api", "[red]pool exhausted[/red]", "b1", now - timedelta(hours=1), now)]
        )
        stored = [(i, store.insight_batches(i.fingerprint)) for i in store.list_insights()]
    report = build_report(
        period_ending("daily", now + timedelta(minutes=5)),
        stored,
        [],
        timezone="UTC",
        resolved_after=timedelta(minutes=60),
        redactor=Redactor(),
    )
    write_report(report, 10, settings.reports_dir)

    shown = _report(env)
    assert shown.returncode == 0, shown.stderr
    assert "latest.md" in shown.stdout
    assert "[red]pool exhausted[/red]" in shown.stdout  # log text stays literal

    data = json.loads(_report(env, "--json").stdout)
    assert data["period"]["cadence"] == "daily"
    assert [row["service"] for row in data["insights"]] == ["api"]

    daily = _report(env, "--cadence", "daily", "--json")
    assert json.loads(daily.stdout) == data
    weekly = _report(env, "--cadence", "weekly")
    assert weekly.returncode == 1 and "no weekly insight report" in weekly.stderr
