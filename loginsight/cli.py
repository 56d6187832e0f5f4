"""`loginsight`: run the stack, ship logs, and read what the pipeline found."""

from __future__ import annotations

import json
import os
import signal
import time
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from loginsight.client import GatewayError, fetch_stats, records_of_file, send_records
from loginsight.launcher import (
    Stack,
    dagster_argv,
    gateway_argv,
    prepare_dagster_home,
    wait_until_up,
)
from loginsight.settings import Settings, load_settings
from loginsight.store import build_store

app = typer.Typer(help="Log Insight: turn a fleet's logs into root causes.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)

READY_TIMEOUT_S = 180.0


def _gateway_url(settings: Settings, url: str | None) -> str:
    return (url or settings.gateway.base_url).rstrip("/")


class _StopRequested(Exception):
    pass


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise _StopRequested(signal.Signals(signum).name)


def _feed_sample(settings: Settings) -> None:
    sample = resources.files("loginsight").joinpath("samples/sample.jsonl")
    with resources.as_file(sample) as path:
        totals = send_records(settings.gateway.base_url, records_of_file(path, "sample"))
    console.print(
        f"fed the bundled sample: {totals.accepted} records, {totals.matched} matched the "
        "filter; insights appear in `loginsight insights` within a minute"
    )


@app.command()
def up(
    sample: Annotated[bool, typer.Option(help="feed the bundled sample logs once ready")] = False,
    workspace: Annotated[Path, typer.Option(help="Dagster workspace file")] = Path(
        "workspace.yaml"
    ),
) -> None:
    """Start the gateway and `dagster dev` in the foreground until Ctrl-C or SIGTERM."""
    settings = load_settings()
    home = prepare_dagster_home(settings)
    env = {**os.environ, "DAGSTER_HOME": str(home), "LOGINSIGHT_DATA_DIR": str(settings.data_dir)}
    logs = settings.data_dir / "logs"
    stack = Stack()
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    try:
        stack.start("gateway", gateway_argv(), env, logs / "gateway.log")
        ws = workspace if workspace.exists() else None
        stack.start("dagster", dagster_argv(settings, ws), env, logs / "dagster.log")
        dagster_url = f"http://127.0.0.1:{settings.dagster_port}"
        gateway_ok = wait_until_up(f"{settings.gateway.base_url}/healthz", stack, READY_TIMEOUT_S)
        dagster_ok = gateway_ok and wait_until_up(
            f"{dagster_url}/server_info", stack, READY_TIMEOUT_S
        )
        if not (gateway_ok and dagster_ok):
            dead = stack.dead()
            which = dead.name if dead else ("gateway" if not gateway_ok else "dagster")
            err.print(f"[red]{which} did not start; see {logs}/{which}.log[/red]")
            raise typer.Exit(1)
        console.print(
            f"gateway   HTTP {settings.gateway.base_url}  gRPC "
            f"{settings.gateway.host}:{settings.gateway.grpc_port}"
        )
        console.print(f"dagster   {dagster_url}  (asset lineage: {dagster_url}/asset-groups)")
        console.print(f"data      {settings.data_dir}   logs {logs}")
        if sample:
            _feed_sample(settings)
        console.print("running; Ctrl-C stops everything")
        while (dead := stack.dead()) is None:
            time.sleep(1)
        err.print(f"[red]{dead.name} exited with {dead.process.returncode}; stopping[/red]")
        raise typer.Exit(1)
    except _StopRequested as stop:
        console.print(f"{stop}: stopping")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        console.print("stopped")


@app.command()
def send(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    service: Annotated[str, typer.Option(help="service for lines that do not name one")] = "cli",
    url: Annotated[str | None, typer.Option(help="gateway base URL")] = None,
) -> None:
    """Ship a log file (NDJSON records or plain lines) to the gateway."""
    settings = load_settings()
    try:
        totals = send_records(_gateway_url(settings, url), records_of_file(file, service))
    except (GatewayError, httpx.HTTPError) as exc:
        err.print(f"[red]send failed:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    console.print(f"sent {totals.accepted} records ({totals.matched} matched the filter rules)")


@app.command()
def stats(
    window: Annotated[str, typer.Option(help="30s, 15m, 1h, 7d")] = "1h",
    by: Annotated[str, typer.Option(help="service | level | source")] = "service",
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    url: Annotated[str | None, typer.Option(help="gateway base URL")] = None,
) -> None:
    """Record and error counts from the gateway's hot stats."""
    settings = load_settings()
    try:
        body = fetch_stats(_gateway_url(settings, url), window, by)
    except (GatewayError, httpx.HTTPError) as exc:
        err.print(f"[red]stats failed:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps({"window": window, "by": by, "rows": body["rows"]}))
        return
    table = Table(title=f"last {window} by {by}")
    for column in (by, "count", "errors"):
        table.add_column(column, justify="left" if column == by else "right")
    for row in body["rows"]:
        table.add_row(escape(str(row[by])), str(row["count"]), str(row["errors"]))
    console.print(table)


@app.command()
def insights(
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Insights in the insight store, most recently seen first."""
    settings = load_settings()
    with build_store(settings) as store:
        found = store.list_insights(limit)
    if as_json:
        typer.echo(json.dumps([i.model_dump(mode="json") for i in found]))
        return
    if not found:
        console.print("no insights yet")
        return
    table = Table(title="insights")
    for column in ("service", "count", "last seen", "title"):
        table.add_column(column)
    for insight in found:
        table.add_row(
            escape(insight.service),
            str(insight.count),
            f"{insight.last_seen:%Y-%m-%d %H:%M:%S}",
            escape(insight.title),
        )
    console.print(table)
    for insight in found[:3]:
        console.print(f"[bold]{escape(insight.title)}[/bold]\n  {escape(insight.summary)}")


if __name__ == "__main__":
    app()
