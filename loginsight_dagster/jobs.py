"""Asset jobs the sensors launch."""

from __future__ import annotations

import dagster as dg

from loginsight_dagster.checks import STATE_CHECKS

analyze_logs_job = dg.define_asset_job(
    "analyze_logs",
    selection=dg.AssetSelection.assets("error_events", "log_templates", "incidents", "rca_insights")
    - dg.AssetSelection.checks(*STATE_CHECKS),
    description="Analyze one batch of logs.to.analyze into insights on ai.insights.processed.",
)

store_insights_job = dg.define_asset_job(
    "store_insights",
    selection=dg.AssetSelection.assets("user_insights") - dg.AssetSelection.checks(*STATE_CHECKS),
    description="Upsert one batch of ai.insights.processed into the insight store.",
)

# Reports and checks of shared state run in one process each: a few light steps do not need a
# process per step on a small machine.
insight_report_daily_job = dg.define_asset_job(
    "insight_report_daily_job",
    selection=dg.AssetSelection.assets("hot_stats", "insight_report_daily"),
    executor_def=dg.in_process_executor,
    tags={"loginsight/kind": "report"},
    description="Observe the gateway's hot stats and write the daily insight report.",
)

insight_report_weekly_job = dg.define_asset_job(
    "insight_report_weekly_job",
    selection=dg.AssetSelection.assets("hot_stats", "insight_report_weekly"),
    executor_def=dg.in_process_executor,
    tags={"loginsight/kind": "report"},
    description="Observe the gateway's hot stats and write the weekly insight report.",
)

quality_checks_job = dg.define_asset_job(
    "quality_checks",
    selection=dg.AssetSelection.checks(*STATE_CHECKS),
    executor_def=dg.in_process_executor,
    tags={"loginsight/kind": "checks"},
    description="Check the pipeline's shared state: no unredacted secret in the insight store, "
    "and the logs sensor's lag under its bound.",
)
