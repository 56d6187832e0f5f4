"""`insight_report_daily` and `insight_report_weekly`: what the period's insights and stats say.

Each materialization reads the insight store and the gateway's stats series, writes the report as
markdown and HTML (chart as SVG) to `<data_dir>/reports/` (`latest.md` is always the newest), and
replaces the period's rows of the warehouse table `insight_facts`. The period is the one that
ended at the run config's `period_end` (the schedule passes its tick's time), or the last one that
ended before now.
"""

from datetime import UTC, datetime

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.hot_stats import hot_stats
from loginsight.client import GatewayError
from loginsight.insight import InsightBatch, StoredInsight
from loginsight.insight_report import (
    Cadence,
    InsightReport,
    ReportPeriod,
    ServiceTrend,
    build_report,
    latest_period,
    period_ending,
    report_name,
    series_request,
    trends_from_series,
)
from loginsight.report_render import md_code, render_markdown, svg_data_uri, trend_svg, write_report
from loginsight_dagster.report_resources import (
    WAREHOUSE_POOL,
    GatewayStatsResource,
    ReportResource,
)
from loginsight_dagster.resources import InsightStoreResource
from loginsight_dagster.warehouse import write_insight_facts


class ReportConfig(dg.Config):
    """`period_end`: an ISO time the period ends at; empty for the last period ended."""

    period_end: str = ""


def report_period(cadence: Cadence, config: ReportConfig, reports: ReportResource) -> ReportPeriod:
    if not config.period_end:
        return latest_period(cadence, datetime.now(UTC), reports.timezone, reports.hour)
    end = datetime.fromisoformat(config.period_end)
    return period_ending(cadence, end if end.tzinfo else end.replace(tzinfo=UTC))


def stored_insights(
    store: InsightStoreResource, period: ReportPeriod, limit: int
) -> list[tuple[StoredInsight, list[InsightBatch]]]:
    """Insights last seen since the period began (the store lists the latest first), with their
    batches."""
    with store.open() as opened:
        recent = [i for i in opened.list_insights(limit) if i.last_seen >= period.start]
        return [(i, opened.insight_batches(i.fingerprint)) for i in recent]


def stats_trends(
    gateway: GatewayStatsResource, period: ReportPeriod
) -> tuple[list[ServiceTrend], str | None]:
    """The period's trends from the gateway, or none and why."""
    now = datetime.now(UTC)
    request = series_request(period, now)
    if request is None:
        return [], "the period is older than the gateway's stats reach"
    window, buckets = request
    try:
        series = gateway.series(window, buckets)
        totals = gateway.stats(window)["rows"]
    except GatewayError as exc:
        return [], str(exc)
    return trends_from_series(series, totals, period), None


def _metadata(report: InsightReport, top: int, files_md: str, files_html: str, facts: int) -> dict:
    svg = trend_svg(report)
    return {
        **report.counts(),
        "period_start": report.period.start.isoformat(),
        "period_end": report.period.end.isoformat(),
        "timezone": report.timezone,
        "warehouse_rows": facts,
        "markdown_file": dg.MetadataValue.path(files_md),
        "html_file": dg.MetadataValue.path(files_html),
        "top_incidents": dg.MetadataValue.md(
            "\n".join(
                f"{n}. {md_code(i.service)} {md_code(i.title)}: {i.count} events, {i.status}"
                for n, i in enumerate(report.top_incidents(top), 1)
            )
            or "none"
        ),
        "chart": dg.MetadataValue.md(f"![errors per service]({svg_data_uri(svg)})"),
        "report": dg.MetadataValue.md(render_markdown(report, top, svg_data_uri(svg))),
        "stats_error": report.stats_error or "",
    }


def make_insight_report(cadence: Cadence) -> dg.AssetsDefinition:
    """The report asset of one cadence."""
    name = report_name(cadence)

    @dg.asset(
        name=name,
        group_name="reports",
        kinds={"duckdb", "python"},
        owners=["team:loginsight"],
        deps=[hot_stats, "user_insights"],
        pool=WAREHOUSE_POOL,
        description=f"The {cadence} insight report: top incidents, error trend per service "
        "(chart), new vs recurring templates, open vs resolved incidents. Written to "
        "<data_dir>/reports/ as markdown and HTML, and to the warehouse table insight_facts.",
    )
    def _report(
        context: dg.AssetExecutionContext,
        config: ReportConfig,
        store: InsightStoreResource,
        gateway: GatewayStatsResource,
        reports: ReportResource,
        warehouse: DuckDBResource,
    ) -> dg.MaterializeResult:
        period = report_period(cadence, config, reports)
        trends, stats_error = stats_trends(gateway, period)
        report = build_report(
            period,
            stored_insights(store, period, reports.max_insights),
            trends,
            timezone=reports.timezone,
            resolved_after=reports.resolved_after,
            redactor=reports.redactor(),
            stats_error=stats_error,
        )
        files = write_report(report, reports.top_incidents, reports.directory)
        with warehouse.get_connection() as conn:
            facts = write_insight_facts(conn, report, context.run.run_id)
        context.log.info(f"{name} for {report.period.label} written to {files.markdown}")
        return dg.MaterializeResult(
            metadata=_metadata(
                report, reports.top_incidents, str(files.markdown), str(files.html), facts
            )
        )

    return _report


insight_report_daily = make_insight_report("daily")
insight_report_weekly = make_insight_report("weekly")
