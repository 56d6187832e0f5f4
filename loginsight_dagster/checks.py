"""Asset checks: the data each run makes, and the state the pipeline keeps, are what they claim.

- `incidents_have_events` (blocking, on `incidents`): every incident counts at least one event,
  of a service the batch has, and the incidents count no more events than the batch holds. A
  failure stops the run before the analyzer spends anything on it.
- `insights_match_schema` (on `rca_insights`): every published insight reads back through the
  insight schema (`Insight.from_bus`), as the `user_insights` consumer will read it.
- `stored_text_redacted` (on `user_insights`): no stored title, summary, template, sample, evidence
  line or next step still holds something the redaction patterns would remove.
- `sensor_lag_within_bound` (on `error_events`): topic logs.to.analyze holds at most
  `reports.max_sensor_lag_records` records past the logs sensor's cursor.

The first two run in every `analyze_logs` run; the last two look at shared state rather than one
run's output, so they run in the `quality_checks` job (hourly, and from the UI).
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from pydantic import ValidationError

from assets.error_events import ErrorEventBatch
from assets.incidents import IncidentBatch
from loginsight.insight import Insight, StoredInsight
from loginsight.redact import Redactor
from loginsight.settings import TOPIC_LOGS_TO_ANALYZE, Settings
from loginsight_dagster.partitions import EVENT_HOURS
from loginsight_dagster.report_resources import ReportResource
from loginsight_dagster.resources import BusResource, InsightStoreResource
from sensors.bus_batch_sensor import BatchCursor

LOGS_SENSOR_NAME = "logs_to_analyze_sensor"
MAX_LISTED = 20
MAX_SCANNED_INSIGHTS = 10_000

INCIDENTS_HAVE_EVENTS = dg.AssetCheckKey(dg.AssetKey("incidents"), "incidents_have_events")
INSIGHTS_MATCH_SCHEMA = dg.AssetCheckKey(dg.AssetKey("rca_insights"), "insights_match_schema")
STORED_TEXT_REDACTED = dg.AssetCheckKey(dg.AssetKey("user_insights"), "stored_text_redacted")
SENSOR_LAG_WITHIN_BOUND = dg.AssetCheckKey(dg.AssetKey("error_events"), "sensor_lag_within_bound")
# Checks of shared state, kept out of the sensor-launched runs (see the module docstring).
STATE_CHECKS = (STORED_TEXT_REDACTED, SENSOR_LAG_WITHIN_BOUND)


def incidents_without_events(incidents: IncidentBatch, events: ErrorEventBatch) -> list[str]:
    """What is wrong with the batch's incidents, one line each (empty when nothing is)."""
    services = {record.service for record in events.records}
    problems = [
        f"{i.fingerprint}: counts {i.count} event(s)" for i in incidents.incidents if i.count < 1
    ]
    problems += [
        f"{i.fingerprint}: service {i.service!r} has no event in the batch"
        for i in incidents.incidents
        if i.service not in services
    ]
    counted = sum(i.count for i in incidents.incidents)
    if counted > len(events.records):
        problems.append(f"incidents count {counted} events, the batch holds {len(events.records)}")
    return problems


@dg.asset_check(
    asset="incidents",
    name="incidents_have_events",
    blocking=True,
    additional_ins={"error_events": dg.AssetIn("error_events")},
    partitions_def=EVENT_HOURS,  # checks the run's own event hour
    description="Every incident counts at least one event of a service in its batch, and the "
    "incidents count no more events than the batch holds.",
)
def incidents_have_events(
    incidents: IncidentBatch, error_events: ErrorEventBatch
) -> dg.AssetCheckResult:
    problems = incidents_without_events(incidents, error_events)
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            "incidents": len(incidents.incidents),
            "events": len(error_events.records),
            "problems": dg.MetadataValue.json(problems[:MAX_LISTED]),
        },
    )


def invalid_insights(insights: list[Insight]) -> list[str]:
    """Fingerprints (with the first error) of insights whose payload does not read back."""
    problems = []
    for insight in insights:
        try:
            Insight.from_bus(insight.to_bus())
        except (ValidationError, ValueError) as exc:
            first = str(exc).splitlines()[:3]
            problems.append(f"{insight.fingerprint}: {' '.join(first)}")
    return problems


@dg.asset_check(
    asset="rca_insights",
    name="insights_match_schema",
    partitions_def=EVENT_HOURS,  # checks the run's own event hour
    description="Every published insight validates against the insight schema (Insight.from_bus).",
)
def insights_match_schema(rca_insights: list[Insight]) -> dg.AssetCheckResult:
    problems = invalid_insights(rca_insights)
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            "insights": len(rca_insights),
            "invalid": dg.MetadataValue.json(problems[:MAX_LISTED]),
        },
    )


def stored_texts(insight: StoredInsight) -> Iterator[str]:
    """Every free text of a stored insight that came from (or may quote) log lines."""
    yield from (insight.title, insight.summary, insight.template)
    yield from insight.sample_lines
    yield from (line.line for line in insight.evidence)
    yield from insight.next_steps
    for optional in (insight.root_cause_template, insight.root_cause_example):
        if optional:
            yield optional


def unredacted_insights(insights: list[StoredInsight], redactor: Redactor) -> list[str]:
    """Fingerprints of insights with a text that redaction would still change. The text itself
    is not returned: it may hold the very secret."""
    return [
        insight.fingerprint
        for insight in insights
        if any(redactor(text) != text for text in stored_texts(insight))
    ]


@dg.asset_check(
    asset="user_insights",
    name="stored_text_redacted",
    description="No secret survives redaction in the insight store: every stored text is left "
    "unchanged by the redaction patterns (built-in and LOGINSIGHT_REDACTION__EXTRA_PATTERNS).",
)
def stored_text_redacted(
    store: InsightStoreResource, reports: ReportResource
) -> dg.AssetCheckResult:
    with store.open() as opened:
        insights = opened.list_insights(MAX_SCANNED_INSIGHTS)
    leaking = unredacted_insights(insights, reports.redactor())
    return dg.AssetCheckResult(
        passed=not leaking,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "insights_scanned": len(insights),
            "unredacted": len(leaking),
            "fingerprints": dg.MetadataValue.json(leaking[:MAX_LISTED]),
        },
    )


def sensor_cursor(instance: dg.DagsterInstance, sensor_name: str) -> str | None:
    """The stored cursor of sensor `sensor_name` on this instance, if it ever ticked."""
    for state in instance.all_instigator_state():
        if state.instigator_name == sensor_name:
            cursor: Any = getattr(state.instigator_data, "cursor", None)
            if cursor:
                return str(cursor)
    return None


def make_sensor_lag_check(max_lag_records: int) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset="error_events",
        name="sensor_lag_within_bound",
        description=f"Topic {TOPIC_LOGS_TO_ANALYZE} holds at most {max_lag_records} records past "
        f"the cursor of {LOGS_SENSOR_NAME} (newest offset minus cursor, over all partitions).",
    )
    def sensor_lag_within_bound(
        context: dg.AssetCheckExecutionContext, bus: BusResource
    ) -> dg.AssetCheckResult:
        cursor = sensor_cursor(context.instance, LOGS_SENSOR_NAME)
        with bus.open() as opened:
            end = opened.end_offsets(TOPIC_LOGS_TO_ANALYZE)
        lag = BatchCursor.parse(cursor).lag(end)
        return dg.AssetCheckResult(
            passed=lag <= max_lag_records,
            metadata={
                "lag": lag,
                "bound": max_lag_records,
                "newest_offsets": sum(end.values()),
                "sensor_has_cursor": cursor is not None,
            },
        )

    return sensor_lag_within_bound


def build_asset_checks(settings: Settings) -> list[dg.AssetChecksDefinition]:
    return [
        incidents_have_events,
        insights_match_schema,
        stored_text_redacted,
        make_sensor_lag_check(settings.reports.max_sensor_lag_records),
    ]
