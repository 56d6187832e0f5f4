"""What the dashboard shows, as plain JSON-ready dicts: the pages render them with Jinja and the
live refresh receives the same dicts as JSON, so both always show the same thing.

Insights are read through `getattr` with defaults: a store written before the root-cause fields
existed (or by an older analyzer) still renders, with those sections left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from ingest_gateway.sinks.stats import parse_window
from ingest_gateway.ui.charts import bar_length, sparkline_points, timeline
from loginsight.model import Level

UI_PREFIX = "/ui"
SINCE_CHOICES = ("15m", "1h", "6h", "24h", "7d", "30d")
DEFAULT_SINCE = "24h"
SERIES_BUCKETS = 60
TOP_INCIDENTS = 25
MAX_QUERY_CHARS = 200
RCA_ASSET = "rca_insights"
RUN_KEY_TAG = "dagster/run_key"


@dataclass(frozen=True)
class Filters:
    """The search the user asked for: all optional except the time window."""

    service: str | None = None
    severity: Level | None = None  # at least this level
    since: str = DEFAULT_SINCE
    q: str | None = None  # words in the title, summary, template or service

    @classmethod
    def parse(
        cls,
        service: str | None = None,
        severity: str | None = None,
        since: str | None = None,
        q: str | None = None,
    ) -> Filters:
        """Filters from query parameters; empty ones mean "any". Raises ValueError with a
        message fit for the page when one cannot be understood."""
        level = None
        if severity and severity.strip():
            level = Level.parse(severity)
            if level is None:
                names = ", ".join(item.value for item in Level)
                raise ValueError(f"severity {severity!r} is not one of {names}")
        window = (since or "").strip() or DEFAULT_SINCE
        parse_window(window)  # raises ValueError naming the expected form
        return cls(
            service=(service or "").strip() or None,
            severity=level,
            since=window,
            q=(q or "").strip()[:MAX_QUERY_CHARS] or None,
        )

    @property
    def window(self) -> timedelta:
        return parse_window(self.since)

    def query_string(self) -> str:
        """The filters as a URL query (without `?`), only the ones that are set."""
        pairs = [
            ("service", self.service),
            ("severity", self.severity.value if self.severity else None),
            ("since", self.since if self.since != DEFAULT_SINCE else None),
            ("q", self.q),
        ]
        return urlencode([(key, value) for key, value in pairs if value])

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service or "",
            "severity": self.severity.value if self.severity else "",
            "since": self.since,
            "q": self.q or "",
            "query": self.query_string(),
        }


def format_time(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return ""
    seconds = int((now - moment).total_seconds())
    if seconds < 60:
        return "just now" if seconds < 5 else f"{max(seconds, 0)}s ago"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return ""


def incident_url(fingerprint: str, api: bool = False) -> str:
    """The incident's page, or with `api` the JSON it refreshes from."""
    where = f"{UI_PREFIX}/api" if api else UI_PREFIX
    return f"{where}/incidents/{quote(fingerprint, safe='')}"


def _level_of(text: str) -> Level:
    return Level.parse(text) or Level.INFO


def _field(item: Any, name: str, default: Any = None) -> Any:
    """A field of a model or a dict, whichever the store handed back."""
    if isinstance(item, Mapping):
        return item.get(name, default)
    return getattr(item, name, default)


def _confidence_pct(insight: Any) -> int | None:
    confidence = _field(insight, "confidence")
    if not isinstance(confidence, int | float) or confidence <= 0:
        return None
    return round(min(float(confidence), 1.0) * 100)


def affects(insight: Any, service: str) -> bool:
    """Whether an incident involves a service: as its root cause or in its blast radius."""
    return insight.service == service or service in (_field(insight, "blast_radius") or {})


def matches(insight: Any, filters: Filters, now: datetime) -> bool:
    """Whether an insight passes the filters (service involved, minimum level, last seen, words)."""
    if filters.service and not affects(insight, filters.service):
        return False
    if filters.severity and (
        _level_of(insight.level).severity_number < filters.severity.severity_number
    ):
        return False
    if insight.last_seen < now - filters.window:
        return False
    if filters.q:
        haystack = " ".join(
            str(_field(insight, name) or "") for name in ("title", "summary", "template", "service")
        ).lower()
        return all(word in haystack for word in filters.q.lower().split())
    return True


def insight_row(insight: Any, now: datetime) -> dict[str, Any]:
    """One line of the incident list."""
    return {
        "fingerprint": insight.fingerprint,
        "url": incident_url(insight.fingerprint),
        "title": insight.title,
        "service": insight.service,
        "affected": sorted(set(_field(insight, "blast_radius") or {}) - {insight.service}),
        "template": insight.template,
        "level": _level_of(insight.level).value,
        "kind": _field(insight, "kind") or "incident",
        "count": int(insight.count),
        "batches": int(_field(insight, "batches", 1) or 1),
        "first_seen": format_time(insight.first_seen),
        "last_seen": format_time(insight.last_seen),
        "last_seen_ago": format_ago(insight.last_seen, now),
        "confidence_pct": _confidence_pct(insight),
    }


def _per_minute(count: int, minutes: float) -> float:
    rate = count / minutes
    return round(rate, 2 if rate < 10 else 1)  # a quiet service is not shown as 0.0


def service_rows(series: Mapping[str, Any], filters: Filters) -> list[dict[str, Any]]:
    """Per service: records and errors over the window, per minute, and their sparklines.
    `series` is `StatsWriter.series(window, "service", buckets)`."""
    size = int(series.get("buckets") or 0)
    step_s = int(series.get("step_s") or 60)
    records: dict[str, list[int]] = {}
    errors: dict[str, list[int]] = {}
    for row in series.get("rows", []):
        service = str(row["service"])
        if filters.service and service != filters.service:
            continue
        bucket = int(row["bucket"])
        if not 0 <= bucket < size:
            continue
        records.setdefault(service, [0] * size)[bucket] += int(row["count"])
        errors.setdefault(service, [0] * size)[bucket] += int(row["errors"])
    minutes = max(1.0, size * step_s / 60)
    rows = []
    for service, counts in records.items():
        total, failed = sum(counts), sum(errors[service])
        rows.append(
            {
                "service": service,
                "records": total,
                "errors": failed,
                "records_per_min": _per_minute(total, minutes),
                "errors_per_min": _per_minute(failed, minutes),
                "error_pct": round(100 * failed / total, 1) if total else 0.0,
                "ingest_points": sparkline_points(counts),
                "error_points": sparkline_points(errors[service]),
            }
        )
    return sorted(rows, key=lambda row: (-row["errors"], -row["records"], row["service"]))


def totals(services: Sequence[Mapping[str, Any]], incidents: int) -> dict[str, Any]:
    records = sum(int(row["records"]) for row in services)
    errors = sum(int(row["errors"]) for row in services)
    return {
        "records": records,
        "errors": errors,
        "error_pct": round(100 * errors / records, 1) if records else 0.0,
        "services": len(services),
        "incidents": incidents,
    }


def overview(
    filters: Filters,
    series: Mapping[str, Any],
    insights: Iterable[Any],
    bus: Mapping[str, Any],
    now: datetime,
    store_error: str | None = None,
    stats_error: str | None = None,
) -> dict[str, Any]:
    """Everything on the overview page."""
    services = service_rows(series, filters)
    chosen = [insight for insight in insights if matches(insight, filters, now)]
    known_services = sorted({str(row["service"]) for row in series.get("rows", [])})
    return {
        "generated_at": format_time(now),
        "filters": filters.as_dict(),
        "totals": totals(services, len(chosen)),
        "services": services,
        "incidents": [insight_row(insight, now) for insight in chosen[:TOP_INCIDENTS]],
        "incidents_more": max(0, len(chosen) - TOP_INCIDENTS),
        "known_services": known_services,
        "bus": dict(bus),
        "store_error": store_error,
        "stats_error": stats_error,
    }


def run_url(dagster_url: str, batch_key: str) -> str:
    """The Dagster runs page filtered to the run that analyzed a batch (its run key)."""
    return f"{dagster_url}/runs?" + urlencode([("q[]", f"tag:{RUN_KEY_TAG}={batch_key}")])


def _evidence(insight: Any) -> tuple[list[dict[str, str]], bool]:
    """Evidence lines with their time; an insight without them shows its sample lines."""
    lines = [
        {
            "ts": format_time(_field(item, "ts")),
            "service": str(_field(item, "service") or insight.service),
            "line": str(_field(item, "line") or ""),
        }
        for item in _field(insight, "evidence") or []
    ]
    if lines:
        return lines, False
    samples = [
        {"ts": "", "service": insight.service, "line": line} for line in insight.sample_lines
    ]
    return samples, True


def _blast_radius(insight: Any) -> list[dict[str, Any]]:
    radius = _field(insight, "blast_radius") or {}
    largest = max(radius.values(), default=0)
    return [
        {"service": service, "count": int(count), "bar": bar_length(count, largest)}
        for service, count in sorted(radius.items(), key=lambda item: (-item[1], item[0]))
    ]


def _llm(insight: Any) -> dict[str, Any] | None:
    tokens_in = int(_field(insight, "tokens_in", 0) or 0)
    tokens_out = int(_field(insight, "tokens_out", 0) or 0)
    model = _field(insight, "llm_model")
    error = _field(insight, "llm_error")
    if not (tokens_in or tokens_out or model or error):
        return None
    return {
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "cost_usd": f"{float(_field(insight, 'cost_usd', 0.0) or 0.0):.4f}",
        "model": model or "",
        "error": error or "",
    }


def _occurrences(batches: Sequence[Any], dagster_url: str) -> list[dict[str, Any]]:
    return [
        {
            "batch_key": batch.batch_key,
            "first_seen": format_time(batch.first_seen),
            "last_seen": format_time(batch.last_seen),
            "count": int(batch.count),
            "bursts": int(_field(batch, "occurrences", 1) or 1),
            "run_url": run_url(dagster_url, batch.batch_key),
        }
        for batch in batches
    ]


def _time_axis(batches: Sequence[Any], now: datetime) -> tuple[datetime, datetime]:
    """From a little before the first batch to now (or the last batch, if later)."""
    if not batches:
        return now - timedelta(hours=1), now
    first = min(batch.first_seen for batch in batches)
    last = max(now, *(batch.last_seen for batch in batches))
    return first - (last - first) * 0.02, last


def incident(
    insight: Any, batches: Sequence[Any], dagster_url: str, now: datetime
) -> dict[str, Any]:
    """Everything on an incident page."""
    evidence, from_samples = _evidence(insight)
    occurrences = _occurrences(batches, dagster_url)
    axis_start, axis_end = _time_axis(batches, now)
    chart = timeline(
        [(b.first_seen, b.last_seen, int(b.count), format_time(b.first_seen)) for b in batches],
        axis_start,
        axis_end,
    )
    latest_run = run_url(dagster_url, batches[-1].batch_key) if batches else None
    return {
        "insight": insight_row(insight, now),
        "summary": insight.summary,
        "analyzer": insight.analyzer,
        "root_cause": {
            "service": _field(insight, "root_cause_service") or insight.service,
            "template": _field(insight, "root_cause_template") or insight.template,
            "example": _field(insight, "root_cause_example")
            or (insight.sample_lines[0] if insight.sample_lines else ""),
            "confidence_pct": _confidence_pct(insight),
        },
        "evidence": evidence,
        "evidence_from_samples": from_samples,
        "blast_radius": _blast_radius(insight),
        "next_steps": [str(step) for step in _field(insight, "next_steps") or []],
        "occurrences": occurrences,
        "occurrence_columns": [asdict(column) for column in chart],
        "occurrence_axis": [format_time(axis_start), format_time(axis_end)],
        "llm": _llm(insight),
        "links": {
            "asset": f"{dagster_url}/assets/{RCA_ASSET}",
            "latest_run": latest_run,
        },
        "generated_at": format_time(now),
    }
