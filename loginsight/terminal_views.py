"""What the CLI and the TUI draw: insights, evidence, sparklines and log lines as rich renderables.

Log text is hostile. Everything that came from a log (or from an analysis of logs) is put on
screen as a `Text` object, never parsed as markup, with control characters shown as `\\xNN`:
a line holding `[red]` or `[link=...]` prints those characters, and an ANSI escape sequence in a
log line cannot move the cursor or recolour the terminal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from loginsight.model import Level, LogRecord

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
LEVEL_STYLES: dict[str, str] = {
    "trace": "dim",
    "debug": "dim",
    "info": "green",
    "warn": "yellow",
    "error": "red",
    "fatal": "bold white on red",
}

# C0 controls (but tab and newline), DEL and C1 controls -> a visible `\xNN`.
_CONTROLS = {
    code: f"\\x{code:02x}"
    for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)]
    if code not in (9, 10)
}


def visible(text: str) -> str:
    """`text` with control characters spelled out, so it cannot drive the terminal."""
    return text.translate(_CONTROLS)


def plain(text: object, style: str = "") -> Text:
    """Untrusted text as a renderable that is shown literally (no markup, no controls)."""
    return Text(visible(str(text)), style=style)


def sparkline(values: Sequence[float]) -> str:
    """One block character per value, scaled to the largest; zero is a blank."""
    top = max(values, default=0)
    if top <= 0:
        return " " * len(values)
    last = len(SPARK_BLOCKS) - 1
    return "".join(
        " " if v <= 0 else SPARK_BLOCKS[min(last, math.ceil(v / top * len(SPARK_BLOCKS)) - 1)]
        for v in values
    )


@dataclass(frozen=True)
class Series:
    """Counts per key (service, level, source or rule) per time bucket, on a full axis."""

    by: str
    start: str
    step_s: int
    counts: dict[str, list[int]]
    errors: dict[str, list[int]]

    @classmethod
    def of_body(cls, body: Mapping[str, Any]) -> Series:
        """Lay the sparse rows of `GET /v1/stats/series` on a full axis of buckets."""
        by, size = str(body["by"]), int(body["buckets"])
        counts: dict[str, list[int]] = {}
        errors: dict[str, list[int]] = {}
        for row in body["rows"]:
            key, bucket = str(row[by]), int(row["bucket"])
            if not 0 <= bucket < size:
                continue
            counts.setdefault(key, [0] * size)[bucket] += int(row["count"])
            errors.setdefault(key, [0] * size)[bucket] += int(row["errors"])
        return cls(by, str(body["start"]), int(body["step_s"]), counts, errors)

    def keys_by_errors(self) -> list[str]:
        return sorted(self.counts, key=lambda k: (-sum(self.errors[k]), -sum(self.counts[k]), k))


@dataclass(frozen=True)
class EvidenceView:
    ts: str
    service: str
    line: str


@dataclass(frozen=True)
class InsightView:
    """An insight as the terminal shows it, read field by field with defaults, so insights
    stored before the root-cause fields existed still render."""

    id: str
    service: str
    title: str
    summary: str
    level: str
    count: int
    first_seen: datetime
    last_seen: datetime
    template: str
    analyzer: str
    kind: str = "incident"
    occurrences: int = 1
    root_cause_service: str | None = None
    root_cause_template: str | None = None
    root_cause_example: str | None = None
    confidence: float | None = None
    evidence: list[EvidenceView] = field(default_factory=list)
    blast_radius: dict[str, int] = field(default_factory=dict)
    next_steps: list[str] = field(default_factory=list)
    llm: str | None = None

    @classmethod
    def of(cls, insight: BaseModel) -> InsightView:
        data = insight.model_dump(mode="json")
        nested = data.get("details")
        details: dict[str, Any] = nested if isinstance(nested, dict) else {}

        def pick(name: str, default: Any = None) -> Any:
            value = details.get(name, data.get(name))
            return default if value is None else value

        evidence = [
            EvidenceView(str(e.get("ts") or ""), str(e.get("service") or ""), str(e.get("line")))
            for e in pick("evidence", [])
            if isinstance(e, dict)
        ] or [EvidenceView("", data["service"], line) for line in data.get("sample_lines") or []]
        confidence = pick("confidence")
        return cls(
            id=data["fingerprint"],
            service=data["service"],
            title=data["title"],
            summary=data["summary"],
            level=data["level"],
            count=int(data["count"]),
            first_seen=datetime.fromisoformat(data["first_seen"]),
            last_seen=datetime.fromisoformat(data["last_seen"]),
            template=data.get("template", ""),
            analyzer=data.get("analyzer", ""),
            kind=str(pick("kind", "incident")),
            occurrences=int(pick("occurrences", 1)),
            root_cause_service=pick("root_cause_service"),
            root_cause_template=pick("root_cause_template"),
            root_cause_example=pick("root_cause_example"),
            confidence=float(confidence) if confidence is not None else None,
            evidence=evidence,
            blast_radius={str(k): int(v) for k, v in pick("blast_radius", {}).items()},
            next_steps=[str(step) for step in pick("next_steps", [])],
            llm=_llm_note(data),
        )

    @property
    def severity(self) -> int:
        level = Level.parse(self.level)
        return level.severity_number if level else 0


def _llm_note(data: Mapping[str, Any]) -> str | None:
    if not data.get("llm_model"):
        return None
    note = (
        f"{data['llm_model']}: {data.get('tokens_in', 0)} tokens in, "
        f"{data.get('tokens_out', 0)} out, ${float(data.get('cost_usd') or 0):.4f}"
    )
    return f"{note} (fell back: {data['llm_error']})" if data.get("llm_error") else note


def level_text(level: str) -> Text:
    return plain(level, LEVEL_STYLES.get(level.lower(), ""))


def insights_table(views: Sequence[InsightView], title: str = "insights") -> Table:
    table = Table(title=title)
    for column in ("id", "service", "level", "count", "last seen", "title"):
        table.add_column(column, justify="right" if column == "count" else "left")
    for view in views:
        table.add_row(
            plain(view.id[:12], "cyan"),
            plain(view.service),
            level_text(view.level),
            str(view.count),
            f"{view.last_seen:%Y-%m-%d %H:%M:%S}",
            plain(view.title),
        )
    return table


def _section(title: str) -> Text:
    return Text(f"\n{title}", style="bold underline")


def insight_detail(view: InsightView, links: Mapping[str, str] | None = None) -> RenderableType:
    """The full incident: summary, root cause, evidence, blast radius, next steps, links."""
    parts: list[RenderableType] = [
        Text.assemble(plain(view.title, "bold"), "  ", level_text(view.level)),
        Text.assemble(
            ("id ", "dim"),
            plain(view.id, "cyan"),
            ("  service ", "dim"),
            plain(view.service),
            ("  count ", "dim"),
            str(view.count),
            ("  seen ", "dim"),
            f"{view.first_seen:%Y-%m-%d %H:%M:%S} to {view.last_seen:%H:%M:%S}",
            ("  kind ", "dim"),
            plain(view.kind),
            ("  bursts ", "dim"),
            str(view.occurrences),
        ),
        plain(view.summary),
        _section("Root cause"),
        _root_cause(view),
        _section("Evidence"),
        _evidence(view.evidence),
        _section("Blast radius"),
        _blast_radius(view.blast_radius),
        _section("Next steps"),
        Text("\n").join(plain(f"{n}. {step}") for n, step in enumerate(view.next_steps, 1))
        if view.next_steps
        else Text("none suggested", style="dim"),
    ]
    if view.llm:
        parts += [_section("Analyst"), plain(view.llm)]
    if links:
        parts.append(_section("Links"))
        parts += [Text.assemble((f"{name:<6}", "dim"), plain(url)) for name, url in links.items()]
    return Group(*parts)


def _root_cause(view: InsightView) -> Text:
    service = view.root_cause_service or view.service
    template = view.root_cause_template or view.template
    confidence = f"{view.confidence:.0%}" if view.confidence is not None else "unknown"
    text = Text.assemble(
        ("service    ", "dim"),
        plain(service, "bold"),
        ("\ntemplate   ", "dim"),
        plain(template),
        ("\nconfidence ", "dim"),
        confidence,
    )
    if view.root_cause_example:
        text.append_text(Text.assemble(("\nexample    ", "dim"), plain(view.root_cause_example)))
    return text


def _evidence(evidence: Sequence[EvidenceView]) -> RenderableType:
    if not evidence:
        return Text("no evidence lines", style="dim")
    return Text("\n").join(
        Text.assemble(plain(e.ts, "dim"), " ", plain(e.service, "cyan"), " ", plain(e.line))
        for e in evidence
    )


def _blast_radius(radius: Mapping[str, int]) -> RenderableType:
    if not radius:
        return Text("this service only", style="dim")
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column()
    table.add_column(justify="right")
    for service, lines in sorted(radius.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(plain(service), str(lines))
    return table


def log_line(record: LogRecord) -> Text:
    """One matched record, as `tail` prints it, coloured by level."""
    level = record.level.value
    return Text.assemble(
        (f"{record.event_time:%H:%M:%S}", "dim"),
        " ",
        plain(f"{level:<5}", LEVEL_STYLES.get(level, "")),
        " ",
        plain(record.service, "cyan"),
        " ",
        plain(record.message, "red" if record.level in (Level.ERROR, Level.FATAL) else ""),
    )
