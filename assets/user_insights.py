"""`user_insights`: insights from topic `ai.insights.processed`, upserted into the insight store."""

import dagster as dg

from assets.bus_range import BusRange
from assets.error_events import BUS_RETRY
from loginsight.insight import Insight
from loginsight_dagster.resources import BusResource, InsightStoreResource


@dg.asset(
    group_name="rca",
    kinds={"postgres", "sqlite"},
    owners=["team:loginsight"],
    deps=["rca_insights"],
    retry_policy=BUS_RETRY,
    description="The insight store read by the CLI and dashboard: upserts by (fingerprint, batch), "
    "so a replayed batch is stored once.",
)
def user_insights(
    context: dg.AssetExecutionContext,
    config: BusRange,
    bus: BusResource,
    store: InsightStoreResource,
) -> dg.MaterializeResult:
    with bus.open() as opened:
        messages = opened.read(
            config.topic, BusRange.offsets(config.start), BusRange.offsets(config.end)
        )
    insights: list[Insight] = []
    for message in messages:
        try:
            insights.append(Insight.from_bus(message.value))
        except ValueError as exc:
            context.log.warning(f"skipping unreadable insight at {message.offset}: {exc}")
    with store.open() as opened_store:
        opened_store.upsert(insights)
    return dg.MaterializeResult(
        metadata={
            "upserted": len(insights),
            "offset_range": config.describe(),
            "fingerprints": dg.MetadataValue.json(sorted({i.fingerprint for i in insights})[:50]),
        }
    )
