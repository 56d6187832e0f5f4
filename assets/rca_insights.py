"""`rca_insights`: one insight per incident, published to topic `ai.insights.processed`."""

import dagster as dg
from dagster_openai import OpenAIResource

from assets.error_events import BUS_RETRY
from assets.incidents import IncidentBatch
from loginsight.insight import Insight
from loginsight.settings import TOPIC_INSIGHTS_PROCESSED
from loginsight_dagster.partitions import EVENT_HOURS
from loginsight_dagster.resources import AnalyzerResource, BusResource
from rca.openai_analyst import spend_of


@dg.asset(
    group_name="rca",
    kinds={"python", "kafka"},
    owners=["team:loginsight"],
    partitions_def=EVENT_HOURS,
    retry_policy=BUS_RETRY,
    description="Root-cause insights written by the analyzer for each incident, published to "
    "topic ai.insights.processed keyed by incident fingerprint.",
)
def rca_insights(
    context: dg.AssetExecutionContext,
    incidents: IncidentBatch,
    bus: BusResource,
    analyzer: AnalyzerResource,
    openai: OpenAIResource,
) -> dg.Output[list[Insight]]:
    if analyzer.kind == "openai":
        # dagster-openai's client records the API usage on this materialization too.
        with openai.get_client(context) as client:
            engine = analyzer.build(client)
            insights = engine.analyze(incidents.incidents, incidents.batch_key)
    else:
        engine = analyzer.build()
        insights = engine.analyze(incidents.incidents, incidents.batch_key)
    with bus.open() as opened:
        opened.publish(
            TOPIC_INSIGHTS_PROCESSED,
            [(insight.fingerprint, insight.to_bus()) for insight in insights],
        )
    context.log.info(f"published {len(insights)} insight(s) to {TOPIC_INSIGHTS_PROCESSED}")
    preview = "\n".join(f"- **{i.title}** ({i.count})" for i in insights[:10])
    return dg.Output(
        insights,
        metadata={
            "insights": len(insights),
            "analyzer": engine.name,
            **spend_of(insights),
            "preview": dg.MetadataValue.md(preview or "none"),
        },
    )
