"""`log_templates`: the message templates of one hour's error events, mined with
`rca.template_miner`, whose state persists across runs (new templates vs known ones)."""

from collections import Counter

import dagster as dg

from assets.error_events import ErrorEventBatch
from loginsight_dagster.partitions import EVENT_HOURS
from loginsight_dagster.template_resource import TemplateMinerResource

TOP_TEMPLATES = 10


class TemplatedEventBatch(ErrorEventBatch):
    """The batch's events with the template id of each one (in the same order)."""

    template_ids: list[str]


def _cell(text: str) -> str:
    """Log text inside a markdown table cell: no column breaks, no code-span breaks."""
    return text[:80].replace("|", "/").replace("`", "'").replace("\n", " ")


@dg.asset(
    group_name="rca",
    kinds={"python", "json"},
    owners=["team:loginsight"],
    partitions_def=EVENT_HOURS,
    description="Message templates of the hour's error events (masked text with a stable id), "
    "mined with the persistent template miner: how many lines each template has, and which "
    "templates no earlier run had seen.",
)
def log_templates(
    error_events: ErrorEventBatch, miner: TemplateMinerResource
) -> dg.Output[TemplatedEventBatch]:
    matches, known = miner.mine([record.message for record in error_events.records])
    lines = Counter(match.template_id for match in matches)
    text = {match.template_id: match.template for match in matches}
    new = {match.template_id for match in matches if match.is_new}
    services: dict[str, set[str]] = {}
    for record, match in zip(error_events.records, matches, strict=True):
        services.setdefault(match.template_id, set()).add(record.service)
    rows = "\n".join(
        f"| `{tid}` | {count} | {', '.join(sorted(services[tid]))[:60]} | "
        f"{'new' if tid in new else 'known'} | `{_cell(text[tid])}` |"
        for tid, count in lines.most_common(TOP_TEMPLATES)
    )
    return dg.Output(
        TemplatedEventBatch(
            batch_key=error_events.batch_key,
            records=error_events.records,
            unreadable=error_events.unreadable,
            template_ids=[match.template_id for match in matches],
        ),
        metadata={
            "templates": len(lines),
            "new_templates": len(new),
            "known_templates": len(lines) - len(new),
            "templates_known_overall": known,
            "events": len(matches),
            "top_templates": dg.MetadataValue.md(
                "| id | lines | services | seen before | template |\n|---|---|---|---|---|\n" + rows
                if rows
                else "none"
            ),
        },
    )
