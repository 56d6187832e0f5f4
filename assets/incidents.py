"""`incidents`: error events grouped by service and message template."""

import dagster as dg
from pydantic import BaseModel

from assets.error_events import ErrorEventBatch
from rca.analyzer import Incident, group_incidents


class IncidentBatch(BaseModel):
    batch_key: str
    incidents: list[Incident]


@dg.asset(
    group_name="rca",
    kinds={"python"},
    owners=["team:loginsight"],
    description="Error events grouped by (service, normalized message template), with counts, "
    "first/last seen and sample lines.",
)
def incidents(error_events: ErrorEventBatch) -> dg.Output[IncidentBatch]:
    found = group_incidents(error_events.records)
    preview = "\n".join(
        f"| {i.service} | {i.count} | `{i.template[:80].replace('|', '/')}` |" for i in found[:10]
    )
    return dg.Output(
        IncidentBatch(batch_key=error_events.batch_key, incidents=found),
        metadata={
            "incidents": len(found),
            "events": sum(i.count for i in found),
            "top": dg.MetadataValue.md(
                "| service | events | template |\n|---|---|---|\n" + preview if found else "none"
            ),
        },
    )
