"""Render an insight report as an SVG chart, markdown and HTML, and write the files.

Log text is hostile: in HTML it goes through jinja2 autoescaping, in the SVG through
`html.escape`, and in markdown only inside code spans (whose content a renderer shows as text),
with backticks and line breaks taken out so it cannot close the span.

Files, in `<data_dir>/reports/`: `<report>-<period start date>.md|.html|.svg` per period, and
`latest.md` / `latest.html` (the last report written, of any cadence).
"""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jinja2 import Environment
from markupsafe import Markup

from loginsight.insight_report import MAX_SERVICES_CHARTED, InsightReport, ReportIncident

LATEST_MARKDOWN = "latest.md"
LATEST_HTML = "latest.html"
LATEST_JSON = "latest.json"

# Colour-blind friendly (Okabe-Ito), one per charted service.
_PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = 760, 300, 56, 180, 20, 40


def md_code(text: str) -> str:
    """Log text as a markdown code span that nothing in it can break out of."""
    flat = " ".join(text.replace("`", "'").split())
    return f"`{flat.replace('|', '/')}`" if flat else "` `"


def trend_svg(report: InsightReport) -> str:
    """Errors per step per service (the services with most errors), as a self-contained SVG."""
    period, trends = report.period, report.trends[:MAX_SERVICES_CHARTED]
    span = (period.end - period.start).total_seconds()
    peak = max((v for t in trends for _, v in t.points), default=0) or 1
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x(moment: datetime) -> float:
        return _LEFT + plot_w * (moment - period.start).total_seconds() / span

    def y(value: int) -> float:
        return _TOP + plot_h * (1 - value / peak)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" font-family="sans-serif" font-size="11">',
        f'<rect width="{_W}" height="{_H}" fill="#ffffff"/>',
        f'<line x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{_LEFT + plot_w}" y2="{_TOP + plot_h}" '
        'stroke="#888"/>',
        f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{_TOP + plot_h}" stroke="#888"/>',
        f'<text x="{_LEFT - 6}" y="{_TOP + 4}" text-anchor="end">{peak}</text>',
        f'<text x="{_LEFT - 6}" y="{_TOP + plot_h}" text-anchor="end">0</text>',
        f'<text x="{_LEFT}" y="{_H - 12}">{html.escape(_tick(period.start))}</text>',
        f'<text x="{_LEFT + plot_w}" y="{_H - 12}" text-anchor="end">'
        f"{html.escape(_tick(period.end))}</text>",
        f'<text x="{_LEFT + plot_w / 2}" y="{_H - 12}" text-anchor="middle">errors per '
        f"{_step_text(report)}</text>",
    ]
    if not trends:
        parts.append(
            f'<text x="{_LEFT + plot_w / 2}" y="{_TOP + plot_h / 2}" text-anchor="middle">'
            f"{html.escape(report.stats_error or 'no errors counted in this period')}</text>"
        )
    for index, trend in enumerate(trends):
        colour = _PALETTE[index % len(_PALETTE)]
        line = " ".join(f"{x(m):.1f},{y(v):.1f}" for m, v in trend.points)
        if trend.points:
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{line}"/>'
            )
        legend_y = _TOP + 14 * index + 8
        name = html.escape(trend.service[:24])
        parts.append(
            f'<rect x="{_W - _RIGHT + 12}" y="{legend_y - 8}" width="10" height="10" '
            f'fill="{colour}"/><text x="{_W - _RIGHT + 26}" y="{legend_y + 1}">{name} '
            f"({trend.errors})</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _tick(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def _step_text(report: InsightReport) -> str:
    hours = int(report.period.step.total_seconds() // 3600)
    return "hour" if hours == 1 else f"{hours} hours"


def svg_data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def render_markdown(report: InsightReport, top: int, chart_src: str) -> str:
    """The report as markdown; `chart_src` is the chart image (a file name or a data URI)."""
    period, counts = report.period, report.counts()
    lines = [
        f"# Insight report ({period.cadence}): {_tick(period.start)} to {_tick(period.end)} "
        f"{report.timezone}",
        "",
        f"{counts['incidents']} incident(s) ({counts['open_incidents']} open, "
        f"{counts['resolved_incidents']} resolved), {counts['background_groups']} background "
        f"group(s); {counts['new_templates']} new and {counts['recurring_templates']} recurring "
        f"template(s). Open: last seen less than {_minutes(report)} before the period's end.",
        "",
        "## Top incidents",
        "",
    ]
    incidents = report.top_incidents(top)
    if incidents:
        lines += [
            "| # | service | events | status | template | title |",
            "|---|---|---|---|---|---|",
            *(
                f"| {n} | {md_code(i.service)} | {i.count} | {i.status} | {i.novelty} "
                f"| {md_code(i.title)} |"
                for n, i in enumerate(incidents, 1)
            ),
        ]
    else:
        lines.append("No incident in this period.")
    lines += ["", "## Error trend per service", "", f"![errors per service]({chart_src})", ""]
    if report.stats_error:
        lines += [f"Stats unavailable: {md_code(report.stats_error)}", ""]
    if report.trends:
        lines += ["| service | records | errors | error rate |", "|---|---|---|---|"]
        lines += [
            f"| {md_code(t.service)} | {t.count} | {t.errors} | {_rate(t.errors, t.count)} |"
            for t in report.trends
        ]
    lines += ["", "## New templates", ""]
    lines += _template_lines([i for i in report.insights if i.novelty == "new"])
    lines += ["", "## Recurring templates", ""]
    lines += _template_lines([i for i in report.insights if i.novelty == "recurring"])
    return "\n".join(lines) + "\n"


def _template_lines(rows: list[ReportIncident]) -> list[str]:
    if not rows:
        return ["None."]
    return [f"- {md_code(r.service)} {md_code(r.template)} ({r.count} events)" for r in rows[:50]]


def _rate(errors: int, count: int) -> str:
    return f"{errors / count:.1%}" if count else "n/a"


def _minutes(report: InsightReport) -> str:
    return f"{int(report.resolved_after.total_seconds() // 60)} min"


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>Insight report ({{ r.period.cadence }}) {{ r.period.label }}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
code{white-space:pre-wrap;word-break:break-all}</style></head><body>
<h1>Insight report ({{ r.period.cadence }}): {{ tick(r.period.start) }} to {{ tick(r.period.end) }}
{{ r.timezone }}</h1>
<p>{{ c.incidents }} incident(s) ({{ c.open_incidents }} open, {{ c.resolved_incidents }}
resolved), {{ c.background_groups }} background group(s); {{ c.new_templates }} new and
{{ c.recurring_templates }} recurring template(s). Open: last seen less than {{ minutes }} before
the period's end.</p>
<h2>Top incidents</h2>
{% if top %}<table><tr><th>#</th><th>service</th><th>events</th><th>status</th><th>template</th>
<th>title</th><th>summary</th></tr>
{% for i in top %}<tr><td>{{ loop.index }}</td><td>{{ i.service }}</td><td>{{ i.count }}</td>
<td>{{ i.status }}</td><td>{{ i.novelty }}</td><td>{{ i.title }}</td>
<td><code>{{ i.summary }}</code></td></tr>
{% endfor %}</table>{% else %}<p>No incident in this period.</p>{% endif %}
<h2>Error trend per service</h2>
{{ svg }}
{% if r.stats_error %}<p>Stats unavailable: {{ r.stats_error }}</p>{% endif %}
{% if r.trends %}<table><tr><th>service</th><th>records</th><th>errors</th><th>error rate</th></tr>
{% for t in r.trends %}<tr><td>{{ t.service }}</td><td>{{ t.count }}</td><td>{{ t.errors }}</td>
<td>{{ rate(t.errors, t.count) }}</td></tr>{% endfor %}</table>{% endif %}
{% for heading, rows in groups %}<h2>{{ heading }}</h2>
{% if rows %}<ul>{% for i in rows %}<li>{{ i.service }} <code>{{ i.template }}</code>
({{ i.count }} events)</li>{% endfor %}</ul>{% else %}<p>None.</p>{% endif %}
{% endfor %}</body></html>
"""

_ENV = Environment(autoescape=True, keep_trailing_newline=True)
_TEMPLATE = _ENV.from_string(_HTML)


def render_html(report: InsightReport, top: int, svg: str) -> str:
    """The report as one self-contained HTML page (the chart inline), every text escaped."""
    return _TEMPLATE.render(
        r=report,
        c=report.counts(),
        top=report.top_incidents(top),
        svg=Markup(svg),  # built by trend_svg, which escapes every text it places
        tick=_tick,
        rate=_rate,
        minutes=_minutes(report),
        groups=[
            ("New templates", [i for i in report.insights if i.novelty == "new"][:50]),
            ("Recurring templates", [i for i in report.insights if i.novelty == "recurring"][:50]),
        ],
    )


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    html: Path
    svg: Path
    latest_markdown: Path
    latest_html: Path
    json: Path
    latest_json: Path


def write_report(report: InsightReport, top: int, reports_dir: Path) -> ReportFiles:
    """Write the report's files (each replaced atomically: a reader never sees half a file)."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{report.period.name}-{report.period.label}"
    svg = trend_svg(report)
    markdown = render_markdown(report, top, f"{stem}.svg")
    page = render_html(report, top, svg)
    files = ReportFiles(
        markdown=reports_dir / f"{stem}.md",
        html=reports_dir / f"{stem}.html",
        svg=reports_dir / f"{stem}.svg",
        latest_markdown=reports_dir / LATEST_MARKDOWN,
        latest_html=reports_dir / LATEST_HTML,
        json=reports_dir / f"{stem}.json",
        latest_json=reports_dir / LATEST_JSON,
    )
    data = report.model_dump_json(indent=2)  # for `loginsight report --json` and scripts
    for path, text in (
        (files.json, data),
        (files.latest_json, data),
        (files.svg, svg),
        (files.markdown, markdown),
        (files.html, page),
        (files.latest_markdown, markdown),
        (files.latest_html, page),
    ):
        _write_atomically(path, text)
    return files


def _write_atomically(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_text(text, encoding="utf-8")
    temp.replace(path)
