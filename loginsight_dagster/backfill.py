"""Backfills of hourly partitions, run in process on the Dagster instance (`loginsight backfill`).

Why in process rather than through the webserver's `launchPartitionBackfill`: it works whether or
not `loginsight up` is running, reports each partition as it finishes, and stores each hour's
insights itself (`InsightStore.replace_hour`), so the result does not wait for the daemon's
insights sensor. The runs go to the same instance (`DAGSTER_HOME`, i.e. `<data_dir>/dagster`), so
the Dagster UI lists them, tagged `loginsight/backfill`, and shows the partitions materialized.
What they published on ai.insights.processed is stored again when the insights sensor reads it,
which changes nothing (`replace_hour` keeps the backfill's own batches).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dagster as dg

from loginsight.insight import Insight
from loginsight.settings import Settings
from loginsight.store import build_store
from loginsight_dagster.definitions import build_definitions
from loginsight_dagster.jobs import analyze_logs_job

BACKFILL_TAG = "loginsight/backfill"
# The runs' own log lines stay in the instance (the UI shows them); the terminal shows progress.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@dataclass(frozen=True)
class PartitionOutcome:
    """How the backfill of one hour went."""

    hour: str
    run_id: str
    success: bool
    insights: int = 0
    events: int = 0
    error: str = ""


def run_backfill(
    settings: Settings,
    instance: dg.DagsterInstance,
    hours: Sequence[str],
    on_done: Callable[[PartitionOutcome], None] = lambda _: None,
) -> list[PartitionOutcome]:
    """Analyze each hour from the archive, one run per partition, and replace its insights in the
    store; a failed hour is reported and the others still run."""
    job = build_definitions(settings).resolve_job_def(analyze_logs_job.name)
    backfill_id = uuid.uuid4().hex[:12]
    outcomes = []
    for hour in hours:
        outcome = _backfill_hour(settings, instance, job, hour, backfill_id)
        on_done(outcome)
        outcomes.append(outcome)
    return outcomes


def _backfill_hour(
    settings: Settings,
    instance: dg.DagsterInstance,
    job: dg.JobDefinition,
    hour: str,
    backfill_id: str,
) -> PartitionOutcome:
    result = job.execute_in_process(
        run_config=QUIET_RUN_CONFIG,
        instance=instance,
        partition_key=hour,
        tags={BACKFILL_TAG: backfill_id},
        raise_on_error=False,
    )
    if not result.success:
        return PartitionOutcome(hour, result.run_id, False, error=_first_failure(result))
    insights: list[Insight] = result.output_for_node("rca_insights")
    events = len(result.output_for_node("error_events").records)
    try:
        with build_store(settings) as store:
            store.replace_hour(hour, insights)
    except Exception as exc:  # the store is down: this hour failed, the next may not
        return PartitionOutcome(hour, result.run_id, False, error=f"storing insights: {exc}")
    return PartitionOutcome(hour, result.run_id, True, insights=len(insights), events=events)


def _first_failure(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error is not None:
            error = event.step_failure_data.error
            return f"{event.step_key}: {error.message.strip().splitlines()[0]}"
    return "the run failed"
