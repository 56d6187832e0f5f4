"""`loginsight insights [list|show ID]`: incidents from the insight store."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.text import Text

from loginsight.cli_output import JsonFlag, ServiceOption, console, friendly
from loginsight.insight_lookup import (
    InsightFilter,
    dagster_links,
    find_insight,
    parse_severity,
    select_insights,
)
from loginsight.settings import load_settings
from loginsight.store import build_store
from loginsight.terminal_views import InsightView, insight_detail, insights_table, plain
from loginsight.timewindow import parse_since

insights_app = typer.Typer(
    help="Incidents with root cause, evidence, blast radius and next steps.",
    invoke_without_command=True,
)

LimitOption = Annotated[int, typer.Option(min=1, max=10_000, help="at most this many")]
SinceOption = Annotated[str | None, typer.Option(help="last seen within 1h, 7d… or since a time")]
SeverityOption = Annotated[str | None, typer.Option(help="this level or worse: warn, error…")]


def _list_insights(
    limit: int, as_json: bool, since: str | None, service: str | None, severity: str | None
) -> None:
    settings = load_settings()
    with friendly("insights"):
        keep = InsightFilter(
            since=parse_since(since) if since else None,
            service=service,
            severity=parse_severity(severity),
        )
        with build_store(settings) as store:
            found = select_insights(store, keep, limit)
    if as_json:
        typer.echo(json.dumps([i.model_dump(mode="json") for i in found]))
        return
    if not found:
        console.print("no insights yet" if keep == InsightFilter() else "no insight matches")
        return
    views = [InsightView.of(i) for i in found]
    console.print(insights_table(views))
    for view in views[:3]:
        console.print(Text.assemble(plain(view.title, "bold"), "\n  ", plain(view.summary)))
    console.print(Text("`loginsight insights show ID` shows one in full", style="dim"))


@insights_app.callback()
def insights(
    ctx: typer.Context,
    limit: LimitOption = 20,
    as_json: JsonFlag = False,
    since: SinceOption = None,
    service: ServiceOption = None,
    severity: SeverityOption = None,
) -> None:
    """Insights in the insight store, most recently seen first (same as `insights list`)."""
    if ctx.invoked_subcommand is None:
        _list_insights(limit, as_json, since, service, severity)


@insights_app.command("list")
def insights_list(
    limit: LimitOption = 20,
    as_json: JsonFlag = False,
    since: SinceOption = None,
    service: ServiceOption = None,
    severity: SeverityOption = None,
) -> None:
    """Insights in the insight store, most recently seen first."""
    _list_insights(limit, as_json, since, service, severity)


@insights_app.command("show")
def insights_show(
    ident: Annotated[str, typer.Argument(metavar="ID", help="an id, or its first characters")],
    as_json: JsonFlag = False,
) -> None:
    """One incident in full: root cause, evidence, blast radius, next steps, Dagster links."""
    settings = load_settings()
    with friendly("insights show"), build_store(settings) as store:
        insight = find_insight(store, ident)
        batch_keys = store.batch_keys(insight.fingerprint, limit=1)
    links = dagster_links(settings, batch_keys[0] if batch_keys else None)
    if as_json:
        typer.echo(json.dumps({**insight.model_dump(mode="json"), "links": links}))
        return
    console.print(insight_detail(InsightView.of(insight), links))
