"""Real data for the CLI and TUI tests: a gateway subprocess that has ingested logs (hostile ones
among them), and a SQLite insight store filled by running the Dagster sensors and jobs on them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import httpx

from loginsight.settings import Settings
from loginsight_dagster.definitions import build_definitions
from tests.support import (
    REPO,
    RunningGateway,
    free_port,
    launch,
    make_settings,
    running_gateway,
    settings_env,
    tick,
)

LOGINSIGHT = str(Path(sys.executable).with_name("loginsight"))

# Rich markup, a link and a terminal escape sequence, inside a line that the filter matches.
HOSTILE = "[red]x[/red] [link=https://evil.example]click[/link] \x1b[2J ERROR ledger unbalanced"


def _at(minutes_ago: float, seconds: int) -> str:
    moment = datetime.now(UTC) - timedelta(minutes=minutes_ago) + timedelta(seconds=seconds)
    return moment.isoformat()


def records() -> list[dict[str, str]]:
    """Two incidents 25 minutes apart (payments-db, then the hostile ledger lines), and traffic."""
    return [
        *(
            {
                "ts": _at(30, n),
                "service": "payments-db",
                "level": "fatal" if n == 5 else "error",
                "message": f"too many connections (max {100 + n})",
            }
            for n in range(6)
        ),
        *(
            {"ts": _at(4, n), "service": "ledger", "level": "error", "message": HOSTILE}
            for n in range(5)
        ),
        *(
            {"service": "checkout", "level": "info", "message": f"order {n} placed"}
            for n in range(6)
        ),
    ]


MATCHED = 11  # every error and fatal line


@dataclass
class PipelineData:
    settings: Settings
    gateway: RunningGateway
    env: dict[str, str]

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(self.env, *args, stdin=stdin)


def run_cli(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LOGINSIGHT, *args],
        env=env,
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _run_pipeline(settings: Settings) -> None:
    """What the Dagster daemon would do: both sensors once, and the runs they ask for."""
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    for sensor, job in (
        ("logs_to_analyze_sensor", "analyze_logs"),
        ("insights_processed_sensor", "store_insights"),
    ):
        requests, _, skip = tick(defs, instance, sensor, None)
        assert requests, skip  # the analysis asks for one run per event hour of the batch
        for request in requests:
            assert launch(defs, instance, job, request).success


@contextmanager
def pipeline_data(data_dir: Path) -> Iterator[PipelineData]:
    # No Dagster webserver listens on this port: links fall back to the runs list by run key.
    settings = make_settings(
        data_dir,
        dagster_port=free_port(),
        sensor={"max_batch_records": 1000, "max_batch_age_s": 0},
    )
    with running_gateway(settings) as gateway:
        reply = httpx.post(
            f"{gateway.url}/v1/ingest",
            content="\n".join(json.dumps(record) for record in records()),
            headers={"content-type": "application/x-ndjson"},
        )
        assert reply.json() == {"accepted": 17, "matched": MATCHED}, reply.text
        _run_pipeline(settings)
        env = {
            **os.environ,
            **settings_env(settings),
            "LOGINSIGHT_DAGSTER_PORT": str(settings.dagster_port),
            "COLUMNS": "160",
        }
        yield PipelineData(settings, gateway, env)
