"""Record every failed run of the code location in the insight store, so a failed analysis is
found (`InsightStore.failed_runs`) and retried from the Dagster UI.

To retry: open the run (Runs → filter by the run id, or the job's "Failed" tab) and click
"Re-execute" → "All steps" (or "From failure"): the new run has the same config, so the same
offset range (the run key) or the same partition is analyzed again, and the insight upserts make
that idempotent. A partition can also be re-run from the asset's Partitions tab.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
from dagster_shared.error import SerializableErrorInfo

from loginsight.failed_run import MAX_ERROR_CHARS, FailedRun
from loginsight_dagster.resources import InsightStoreResource

RUN_KEY_TAG = "dagster/run_key"
PARTITION_TAG = "dagster/partition"


def _messages(error: SerializableErrorInfo) -> str:
    """The error and its causes, outermost first: Dagster wraps the exception that failed a step
    in one of its own, so the cause is what says what went wrong."""
    messages: list[str] = []
    current: SerializableErrorInfo | None = error
    while current is not None and len(messages) < 5:
        messages.append(current.message.strip())
        current = current.cause
    return " <- caused by: ".join(messages)


def failed_run_of(context: dg.RunFailureSensorContext) -> FailedRun:
    """The record of the run the context reports, with the step errors that failed it."""
    run = context.dagster_run
    errors = [
        f"{event.step_key}: {_messages(event.step_failure_data.error)}"
        for event in context.get_step_failure_events()
        if event.step_failure_data.error is not None
    ]
    error = "\n".join(errors) or (context.failure_event.message or "run failed")
    return FailedRun(
        run_id=run.run_id,
        job_name=run.job_name,
        run_key=run.tags.get(RUN_KEY_TAG),
        partition_key=run.tags.get(PARTITION_TAG),
        error=error[:MAX_ERROR_CHARS],
        failed_at=datetime.now(UTC),
    )


@dg.run_failure_sensor(
    name="record_failed_runs_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records every failed run (run id, job, run key or partition, error) in the "
    "insight store's failed_runs table, to retry from the UI with Re-execute.",
)
def record_failed_runs_sensor(
    context: dg.RunFailureSensorContext, store: InsightStoreResource
) -> None:
    failed = failed_run_of(context)
    with store.open() as opened:
        opened.record_failed_run(failed)
    context.log.info(f"recorded failed run {failed.run_id} of {failed.job_name}")
