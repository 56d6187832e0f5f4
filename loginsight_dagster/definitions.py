"""The one `Definitions` of the Log Insight code location."""

from __future__ import annotations

import dagster as dg

from assets import error_events, incidents, rca_insights, user_insights
from loginsight.settings import (
    TOPIC_INSIGHTS_PROCESSED,
    TOPIC_LOGS_TO_ANALYZE,
    Settings,
    load_settings,
)
from loginsight_dagster.jobs import analyze_logs_job, store_insights_job
from loginsight_dagster.resources import BusResource, InsightStoreResource
from sensors import BatchPolicy, make_bus_batch_sensor


def build_definitions(settings: Settings) -> dg.Definitions:
    """Assemble assets, jobs, sensors and resources for the environment `settings` describe."""
    logs_sensor = make_bus_batch_sensor(
        name="logs_to_analyze_sensor",
        topic=TOPIC_LOGS_TO_ANALYZE,
        job_name=analyze_logs_job.name,
        config_op="error_events",
        policy=BatchPolicy(settings.sensor.max_batch_records, settings.sensor.max_batch_age_s),
        description="Turns batches of topic logs.to.analyze into analyze_logs runs.",
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
        assets=[error_events, incidents, rca_insights, user_insights],
        jobs=[analyze_logs_job, store_insights_job],
        sensors=[logs_sensor, insights_sensor],
        resources={
            "bus": BusResource.from_settings(settings),
            "store": InsightStoreResource.from_settings(settings),
        },
    )


defs = build_definitions(load_settings())
