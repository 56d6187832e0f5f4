"""The one `Definitions` of the Log Insight code location."""

from __future__ import annotations

import dagster as dg

from assets import error_events, incidents, log_templates, rca_insights, user_insights
from assets.hot_stats import hot_stats
from assets.insight_reports import insight_report_daily, insight_report_weekly
from loginsight.settings import (
    TOPIC_INSIGHTS_PROCESSED,
    TOPIC_LOGS_TO_ANALYZE,
    Settings,
    load_settings,
)
from loginsight_dagster.archive_resource import ArchiveResource
from loginsight_dagster.checks import build_asset_checks
from loginsight_dagster.jobs import (
    analyze_logs_job,
    insight_report_daily_job,
    insight_report_weekly_job,
    quality_checks_job,
    store_insights_job,
)
from loginsight_dagster.partitions import EVENT_HOURS
from loginsight_dagster.report_resources import (
    GatewayStatsResource,
    ReportResource,
    warehouse_from_settings,
)
from loginsight_dagster.resources import (
    AnalyzerResource,
    BusResource,
    InsightStoreResource,
    openai_resource_from_settings,
)
from loginsight_dagster.schedules import build_schedules
from loginsight_dagster.template_resource import TemplateMinerResource
from sensors import BatchPolicy, make_bus_batch_sensor
from sensors.run_failure_sensor import record_failed_runs_sensor

# The reporting side: hot stats observed from the gateway, scheduled reports, checks of state.
REPORTING_ASSETS: list[dg.AssetsDefinition | dg.SourceAsset] = [
    hot_stats,
    insight_report_daily,
    insight_report_weekly,
]
REPORTING_JOBS = [insight_report_daily_job, insight_report_weekly_job, quality_checks_job]


def build_definitions(settings: Settings) -> dg.Definitions:
    """Assemble assets, jobs, sensors and resources for the environment `settings` describe."""
    logs_sensor = make_bus_batch_sensor(
        name="logs_to_analyze_sensor",
        topic=TOPIC_LOGS_TO_ANALYZE,
        job_name=analyze_logs_job.name,
        config_op="error_events",
        policy=BatchPolicy(settings.sensor.max_batch_records, settings.sensor.max_batch_age_s),
        description="Turns batches of topic logs.to.analyze into analyze_logs runs, one per "
        "event hour (hourly partition) of the batch.",
        partitions_def=EVENT_HOURS,
    )
    insights_sensor = make_bus_batch_sensor(
        name="insights_processed_sensor",
        topic=TOPIC_INSIGHTS_PROCESSED,
        job_name=store_insights_job.name,
        config_op="user_insights",
        policy=BatchPolicy(max_records=settings.sensor.max_batch_records, max_age_s=0),
        description="Stores every batch of topic ai.insights.processed in the insight store.",
    )
    return dg.Definitions(
        assets=[
            error_events,
            log_templates,
            incidents,
            rca_insights,
            user_insights,
            *REPORTING_ASSETS,
        ],
        asset_checks=build_asset_checks(settings),
        schedules=build_schedules(settings),
        jobs=[analyze_logs_job, store_insights_job, *REPORTING_JOBS],
        sensors=[logs_sensor, insights_sensor, record_failed_runs_sensor],
        resources={
            "bus": BusResource.from_settings(settings),
            "store": InsightStoreResource.from_settings(settings),
            "analyzer": AnalyzerResource.from_settings(settings),
            "openai": openai_resource_from_settings(settings),
            "gateway": GatewayStatsResource.from_settings(settings),
            "reports": ReportResource.from_settings(settings),
            "warehouse": warehouse_from_settings(settings),
            "archive": ArchiveResource.from_settings(settings),
            "miner": TemplateMinerResource.from_settings(settings),
        },
    )


defs = build_definitions(load_settings())
