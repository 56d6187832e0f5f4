"""Schedules: the daily and weekly insight reports, and the hourly checks of shared state.

Reports run at `reports.hour` o'clock in `reports.timezone` (daily; weekly on Monday), and pass
the tick's time as the report's period end, so a late or replayed tick reports on the same period.
"""

from __future__ import annotations

import dagster as dg

from loginsight.insight_report import Cadence, report_name
from loginsight.settings import Settings
from loginsight_dagster.jobs import (
    insight_report_daily_job,
    insight_report_weekly_job,
    quality_checks_job,
)

_JOB_OF: dict[Cadence, dg.UnresolvedAssetJobDefinition] = {
    "daily": insight_report_daily_job,
    "weekly": insight_report_weekly_job,
}


def report_cron(cadence: Cadence, hour: int) -> str:
    return f"0 {hour} * * 1" if cadence == "weekly" else f"0 {hour} * * *"


def make_report_schedule(cadence: Cadence, settings: Settings) -> dg.ScheduleDefinition:
    name = report_name(cadence)

    @dg.schedule(
        name=f"{name}_schedule",
        job=_JOB_OF[cadence],
        cron_schedule=report_cron(cadence, settings.reports.hour),
        execution_timezone=settings.reports.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"The {cadence} insight report at {settings.reports.hour:02d}:00 "
        f"{settings.reports.timezone}.",
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        period_end = context.scheduled_execution_time.isoformat()
        return dg.RunRequest(
            run_key=f"{name}@{period_end}",
            run_config={"ops": {name: {"config": {"period_end": period_end}}}},
            tags={"loginsight/period_end": period_end},
        )

    return _schedule


def build_schedules(settings: Settings) -> list[dg.ScheduleDefinition]:
    return [
        make_report_schedule("daily", settings),
        make_report_schedule("weekly", settings),
        dg.ScheduleDefinition(
            name="quality_checks_schedule",
            job=quality_checks_job,
            cron_schedule="17 * * * *",
            execution_timezone=settings.reports.timezone,
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description="Hourly checks of shared state (redaction, sensor lag).",
        ),
    ]
