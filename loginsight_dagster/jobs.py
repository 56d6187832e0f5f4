"""Asset jobs the sensors launch."""

from __future__ import annotations

import dagster as dg

analyze_logs_job = dg.define_asset_job(
    "analyze_logs",
    selection=dg.AssetSelection.assets("error_events", "incidents", "rca_insights"),
    description="Analyze one batch of logs.to.analyze into insights on ai.insights.processed.",
)

store_insights_job = dg.define_asset_job(
    "store_insights",
    selection=dg.AssetSelection.assets("user_insights"),
    description="Upsert one batch of ai.insights.processed into the insight store.",
)
