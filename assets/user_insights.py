"""`user_insights`: insights from topic `ai.insights.processed`, upserted into the insight store."""

from collections.abc import Sequence

import dagster as dg

from assets.bus_range import BusRange
from assets.error_events import BUS_RETRY
from loginsight.batch_keys import replaced_hour
from loginsight.insight import Insight
from loginsight.store import InsightStore
from loginsight_dagster.resources import BusResource, InsightStoreResource


def write_insights(store: InsightStore, insights: Sequence[Insight]) -> list[str]:
    """Upsert sensor-driven insights, then let each backfill's insights replace their hour
    (`InsightStore.replace_hour`), in the order they were published; returns the hours replaced.
    Storing the same insights again changes nothing."""
    backfills: dict[tuple[str, str], list[Insight]] = {}
    for insight in insights:
        hour = replaced_hour(insight.batch_key)
        if hour is not None:
            backfills.setdefault((hour, insight.batch_key), []).append(insight)
    store.upsert([i for i in insights if replaced_hour(i.batch_key) is None])
    for (hour, _), replacing in backfills.items():
        store.replace_hour(hour, replacing)
    return [hour for hour, _ in backfills]


@dg.asset(
    group_name="rca",
    kinds={"postgres", "sqlite"},
    owners=["team:loginsight"],
    deps=["rca_insights"],
    retry_policy=BUS_RETRY,
    description="The insight store read by the CLI and dashboard: upserts by (fingerprint, batch), "
    "so a replayed batch is stored once; a backfill's insights replace their event hour's.",
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
        replaced = write_insights(opened_store, insights)
    return dg.MaterializeResult(
        metadata={
            "upserted": len(insights),
            "hours_replaced": dg.MetadataValue.json(replaced),
            "offset_range": config.describe(),
            "fingerprints": dg.MetadataValue.json(sorted({i.fingerprint for i in insights})[:50]),
        }
    )
