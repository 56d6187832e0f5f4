"""Real insights for the dashboard's tests and screenshots: logs go to a running gateway over
HTTP, then the Dagster sensors and jobs run in process (as the daemon would run them) until the
insight store holds what the analyzer found."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import dagster as dg
import httpx

from loginsight.settings import Settings
from loginsight_dagster.definitions import build_definitions
from tests.support import launch, tick

# (sensor, the job it requests)
STAGES = (
    ("logs_to_analyze_sensor", "analyze_logs"),
    ("insights_processed_sensor", "store_insights"),
)
MAX_TICKS = 20


def send_logs(gateway_url: str, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """POST records to the gateway as NDJSON; returns its `{"accepted", "matched"}` answer."""
    body = "\n".join(json.dumps(record) for record in records)
    reply = httpx.post(
        f"{gateway_url}/v1/ingest",
        content=body,
        headers={"content-type": "application/x-ndjson"},
        timeout=30,
    )
    reply.raise_for_status()
    answer: dict[str, Any] = reply.json()
    return answer


class PipelineDriver:
    """Drives both sensors of one code location, keeping their cursors between calls, so each
    `analyze()` turns what arrived since the last one into new batches."""

    def __init__(self, settings: Settings) -> None:
        self.defs = build_definitions(settings)
        self.instance = dg.DagsterInstance.ephemeral()
        self.cursors: dict[str, str | None] = {sensor: None for sensor, _ in STAGES}

    def analyze(self) -> int:
        """Run every requested run of both stages; returns how many runs succeeded."""
        runs = 0
        for sensor, job in STAGES:
            for _ in range(MAX_TICKS):
                requests, cursor, _skip = tick(
                    self.defs, self.instance, sensor, self.cursors[sensor]
                )
                self.cursors[sensor] = cursor
                if not requests:
                    break
                for request in requests:
                    result = launch(self.defs, self.instance, job, request)
                    if not result.success:
                        raise RuntimeError(f"{job} failed for {request.run_key}")
                    runs += 1
        return runs
