"""The insight report: what the insight store and the gateway's stats say about one period.

A report covers `[start, end)` and lists:
- the top incidents of the period (insights of kind "incident" seen in it, by events in it);
- the error trend per service (errors per step from the gateway's `/v1/stats/series`), as a chart;
- new vs recurring templates: an insight (one service + message template) is *new* when its first
  batch started within the period, *recurring* when it was first seen before;
- open vs resolved incidents: *open* when it was last seen less than `resolved_after` before the
  period's end, *resolved* otherwise (quiet for that long).

Counts of a period add up the store's batches that overlap it (a batch is one sensor run, a few
seconds of logs, so a batch on the edge counts whole). Every text from the store is redacted again
before it is rendered, and escaped for the page it lands in (`loginsight.report_render`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from loginsight.insight import InsightBatch, StoredInsight
from loginsight.redact import Redactor

Cadence = Literal["daily", "weekly"]
PERIOD_OF: dict[Cadence, timedelta] = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
# The chart's step: hourly points over a day, six-hourly over a week.
STEP_OF: dict[Cadence, timedelta] = {"daily": timedelta(hours=1), "weekly": timedelta(hours=6)}
MAX_SERVICES_CHARTED = 8
MAX_TEXT_CHARS = 300


def report_name(cadence: Cadence) -> str:
    return f"insight_report_{cadence}"


class ReportPeriod(BaseModel):
    """`[start, end)` in the report's timezone; `label` (the start date) names its files."""

    cadence: Cadence
    start: datetime
    end: datetime

    @property
    def name(self) -> str:
        return report_name(self.cadence)

    @property
    def label(self) -> str:
        return self.start.date().isoformat()

    @property
    def step(self) -> timedelta:
        return STEP_OF[self.cadence]

    def overlaps(self, first_seen: datetime, last_seen: datetime) -> bool:
        return last_seen >= self.start and first_seen < self.end


def period_ending(cadence: Cadence, end: datetime) -> ReportPeriod:
    """The period a report due at `end` (an aware time) covers."""
    return ReportPeriod(cadence=cadence, start=end - PERIOD_OF[cadence], end=end)


def latest_period(cadence: Cadence, now: datetime, timezone: str, hour: int) -> ReportPeriod:
    """The last complete period at `now`: the one the schedule ran (or will have run) for most
    recently, so a report materialized by hand covers the same span as the scheduled one."""
    local = now.astimezone(ZoneInfo(timezone))
    end = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if end > local:
        end -= timedelta(days=1)
    if cadence == "weekly":
        end -= timedelta(days=end.weekday())  # back to Monday
    return period_ending(cadence, end)


class ReportIncident(BaseModel):
    """One insight as the report shows it (texts redacted)."""

    fingerprint: str
    kind: str
    service: str
    title: str
    summary: str
    template: str
    count: int  # events within the period
    occurrences: int  # bursts within the period
    first_seen: datetime  # over all time: decides new vs recurring
    last_seen: datetime
    confidence: float
    blast_radius: dict[str, int] = Field(default_factory=dict)
    novelty: Literal["new", "recurring"]
    status: Literal["open", "resolved"]


class ServiceTrend(BaseModel):
    """Records and errors of one service over the period, with errors per step."""

    service: str
    count: int
    errors: int
    points: list[tuple[datetime, int]] = Field(default_factory=list)


class InsightReport(BaseModel):
    period: ReportPeriod
    timezone: str
    generated_at: datetime
    resolved_after: timedelta
    insights: list[ReportIncident]  # every insight seen in the period, most events first
    trends: list[ServiceTrend]  # most errors first
    stats_error: str | None = None  # why there is no trend (the gateway was not reachable)

    @property
    def incidents(self) -> list[ReportIncident]:
        return [i for i in self.insights if i.kind == "incident"]

    def top_incidents(self, limit: int) -> list[ReportIncident]:
        return self.incidents[:limit]

    def counts(self) -> dict[str, int]:
        """The headline numbers (also the asset's metadata)."""
        return {
            "insights": len(self.insights),
            "incidents": len(self.incidents),
            "background_groups": len(self.insights) - len(self.incidents),
            "new_templates": sum(1 for i in self.insights if i.novelty == "new"),
            "recurring_templates": sum(1 for i in self.insights if i.novelty == "recurring"),
            "open_incidents": sum(1 for i in self.incidents if i.status == "open"),
            "resolved_incidents": sum(1 for i in self.incidents if i.status == "resolved"),
            "events": sum(i.count for i in self.insights),
            "errors_in_stats": sum(t.errors for t in self.trends),
        }


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 1] + "…"


def report_incident(
    insight: StoredInsight,
    batches: Sequence[InsightBatch],
    period: ReportPeriod,
    resolved_after: timedelta,
    redactor: Redactor,
) -> ReportIncident | None:
    """The insight's share of the period, or None when no batch of it overlaps the period."""
    within = [b for b in batches if period.overlaps(b.first_seen, b.last_seen)]
    if not within:
        return None
    last_seen = max(b.last_seen for b in within)
    first_ever = min((b.first_seen for b in batches), default=insight.first_seen)
    return ReportIncident(
        fingerprint=insight.fingerprint,
        kind=insight.kind,
        service=insight.service,
        title=_clip(redactor(insight.title)),
        summary=_clip(redactor(insight.summary)),
        template=_clip(redactor(insight.template)),
        count=sum(b.count for b in within),
        occurrences=sum(b.occurrences for b in within),
        first_seen=first_ever,
        last_seen=last_seen,
        confidence=insight.confidence,
        blast_radius=insight.blast_radius,
        novelty="new" if first_ever >= period.start else "recurring",
        status="open" if period.end - last_seen < resolved_after else "resolved",
    )


def series_request(period: ReportPeriod, now: datetime) -> tuple[str, int] | None:
    """(window, buckets) for `GET /v1/stats/series` so that its buckets are exactly one step of
    the period wide and reach back to the period's start; None when that is beyond what the
    gateway keeps answering for (366 days)."""
    step_min = int(period.step.total_seconds() // 60)
    back_min = max(1, int((now - period.start).total_seconds() // 60) + 1)
    buckets = -(-back_min // step_min)
    window_min = buckets * step_min
    if window_min > 366 * 24 * 60 or buckets > 1_440:
        return None
    return f"{window_min}m", buckets


def trends_from_series(
    series: Mapping[str, Any], totals: Iterable[Mapping[str, Any]], period: ReportPeriod
) -> list[ServiceTrend]:
    """Per-service trends from a `/v1/stats/series?by=service` answer, cut to the period, with the
    records and errors per service counted from those buckets (`totals` adds services that had
    records but no bucket in the period, so they show with zero errors)."""
    start = datetime.fromisoformat(str(series["start"]).replace("Z", "+00:00"))
    step = timedelta(seconds=int(series["step_s"]))
    points: dict[str, dict[datetime, int]] = {}
    count: dict[str, int] = {}
    errors: dict[str, int] = {}
    for row in series.get("rows", []):
        moment = start + step * int(row["bucket"])
        if not period.start <= moment < period.end:
            continue
        service = str(row["service"])
        points.setdefault(service, {})[moment] = points.get(service, {}).get(moment, 0) + int(
            row["errors"]
        )
        count[service] = count.get(service, 0) + int(row["count"])
        errors[service] = errors.get(service, 0) + int(row["errors"])
    for row in totals:
        count.setdefault(str(row["service"]), 0)
    trends = [
        ServiceTrend(
            service=service,
            count=count[service],
            errors=errors.get(service, 0),
            points=sorted(points.get(service, {}).items()),
        )
        for service in count
    ]
    return sorted(trends, key=lambda t: (-t.errors, -t.count, t.service))


def build_report(
    period: ReportPeriod,
    insights: Sequence[tuple[StoredInsight, Sequence[InsightBatch]]],
    trends: list[ServiceTrend],
    *,
    timezone: str,
    resolved_after: timedelta,
    redactor: Redactor,
    stats_error: str | None = None,
    now: datetime | None = None,
) -> InsightReport:
    """The report of `period` from stored insights (with their batches) and the stats trends."""
    rows = [
        row
        for insight, batches in insights
        if (row := report_incident(insight, batches, period, resolved_after, redactor))
    ]
    rows.sort(key=lambda r: (-r.count, -r.confidence, r.fingerprint))
    zone = ZoneInfo(timezone)
    return InsightReport(
        period=ReportPeriod(
            cadence=period.cadence,
            start=period.start.astimezone(zone),
            end=period.end.astimezone(zone),
        ),
        timezone=timezone,
        generated_at=(now or datetime.now(UTC)).astimezone(zone),
        resolved_after=resolved_after,
        insights=rows,
        trends=trends,
        stats_error=stats_error,
    )
