"""`incidents`: error events grouped into incidents (bursts across services, root cause ranked)
and background groups (routine errors at their usual rate)."""

import dagster as dg
from pydantic import BaseModel

from assets.error_events import ErrorEventBatch
from loginsight_dagster.partitions import EVENT_HOURS
from rca.analyzer import Incident, group_incidents


def _cell(text: str) -> str:
    """Log text inside a markdown table cell: no column breaks, no code-span breaks."""
    return text[:80].replace("|", "/").replace("`", "'")


class IncidentBatch(BaseModel):
    batch_key: str
    incidents: list[Incident]


@dg.asset(
    group_name="rca",
    kinds={"python"},
    owners=["team:loginsight"],
    partitions_def=EVENT_HOURS,
    deps=["hot_stats"],  # lineage only: the gateway's counts these errors are part of
    description="Error events grouped into incidents: kinds of lines that burst together in time, "
    "across services, with ranked root-cause candidates, evidence and blast radius; routine "
    "errors become background groups.",
)
def incidents(log_templates: ErrorEventBatch) -> dg.Output[IncidentBatch]:
    # The hour's error events, as `log_templates` passes them on with their templates.
    found = group_incidents(log_templates.records)
    bursts = [i for i in found if i.kind == "incident"]
    preview = "\n".join(
        f"| {i.service} | {i.count} | {', '.join(i.blast_radius)} | {i.confidence:.0%} "
        f"| `{_cell(i.template)}` |"
        for i in bursts[:10]
    )
    return dg.Output(
        IncidentBatch(batch_key=log_templates.batch_key, incidents=found),
        metadata={
            "incidents": len(bursts),
            "background_groups": len(found) - len(bursts),
            "events": sum(i.count for i in found),
            "top": dg.MetadataValue.md(
                "| root cause service | events | services | confidence | root cause |\n"
                "|---|---|---|---|---|\n" + preview
                if bursts
                else "none"
            ),
        },
    )
