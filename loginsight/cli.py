"""`loginsight`: run the stack, ship logs, and read what the pipeline found.

Every read command takes `--json` for scripts. A failure the user can fix (no gateway, a bad
window, an unknown id) prints one line that says what to do and exits 1, never a traceback.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from enum import StrEnum
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from loginsight.cli_backfill import backfill
from loginsight.cli_insights import insights_app
from loginsight.cli_output import (
    JsonFlag,
    ServiceOption,
    UrlOption,
    console,
    err,
    fail,
    friendly,
    gateway_url,
)
from loginsight.cli_report import report
from loginsight.client import (
    SendTotals,
    fetch_series,
    fetch_stats,
    records_of_file,
    records_of_lines,
    send_records,
)
from loginsight.insight_lookup import dagster_url
from loginsight.launcher import (
    Stack,
    UpRecord,
    dagster_argv,
    gateway_argv,
    prepare_dagster_home,
    stop_process,
    wait_until_up,
)
from loginsight.settings import TOPIC_LOGS_TO_ANALYZE, Settings, load_settings
from loginsight.terminal_views import Series, log_line, plain, sparkline
from loginsight.timewindow import parse_span

app = typer.Typer(
    help="Log Insight: turn a fleet's logs into root causes.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(insights_app, name="insights")
app.command("backfill")(backfill)
app.command("report")(report)

READY_TIMEOUT_S = 180.0
DOWN_TIMEOUT_S = 120.0
TAIL_POLL_S = 0.5
TAIL_BATCH = 1_000
# `stats`: the sparkline gets what the other columns leave of the terminal width.
STATS_COLUMNS_WIDTH = 64
SPARK_MIN_POINTS = 12


class StatsBy(StrEnum):
    service = "service"
    level = "level"
    source = "source"
    rule = "rule"


# -- up / down / status ---------------------------------------------------------------------


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
    """Start the gateway and `dagster dev` in the foreground until Ctrl-C, SIGTERM or `down`."""
    settings = load_settings()
    running = UpRecord.read(settings)
    if running is not None:
        fail(f"loginsight up is already running (pid {running.pid}); `loginsight down` stops it")
    home = prepare_dagster_home(settings)
    env = {**os.environ, "DAGSTER_HOME": str(home), "LOGINSIGHT_DATA_DIR": str(settings.data_dir)}
    logs = settings.data_dir / "logs"
    stack = Stack()
    record = UpRecord(os.getpid(), settings.gateway.base_url, dagster_url(settings), time.time())
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    record.write(settings)
    try:
        stack.start("gateway", gateway_argv(), env, logs / "gateway.log")
        ws = workspace if workspace.exists() else None
        stack.start("dagster", dagster_argv(settings, ws), env, logs / "dagster.log")
        gateway_ok = wait_until_up(f"{settings.gateway.base_url}/healthz", stack, READY_TIMEOUT_S)
        dagster_ok = gateway_ok and wait_until_up(
            f"{record.dagster_url}/server_info", stack, READY_TIMEOUT_S
        )
        if not (gateway_ok and dagster_ok):
            dead = stack.dead()
            which = dead.name if dead else ("gateway" if not gateway_ok else "dagster")
            err.print(f"[red]{which} did not start; see {escape(str(logs))}/{which}.log[/red]")
            raise typer.Exit(1)
        console.print(
            f"gateway   HTTP {settings.gateway.base_url}  gRPC "
            f"{settings.gateway.host}:{settings.gateway.grpc_port}"
        )
        console.print(
            f"dagster   {record.dagster_url}  (asset lineage: {record.dagster_url}/asset-groups)"
        )
        console.print(f"data      {settings.data_dir}   logs {logs}")
        if sample:
            _feed_sample(settings)
        console.print("running; Ctrl-C or `loginsight down` stops everything")
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
        record.remove(settings)
        console.print("stopped")


@app.command()
def down(
    timeout: Annotated[float, typer.Option(help="seconds to wait for it to stop")] = DOWN_TIMEOUT_S,
) -> None:
    """Stop the `loginsight up` running on this data folder, and wait until it has stopped."""
    settings = load_settings()
    running = UpRecord.read(settings)
    if running is None:
        console.print(f"nothing to stop: no `loginsight up` runs on {settings.data_dir}")
        return
    console.print(f"stopping loginsight up (pid {running.pid})")
    if not stop_process(running.pid, timeout):
        fail(f"loginsight up (pid {running.pid}) still runs after {timeout:.0f}s; try again")
    console.print("stopped")


def _mark(ok: bool) -> Text:
    return Text("up", style="green") if ok else Text("down", style="red")


@app.command()
def status(as_json: JsonFlag = False) -> None:
    """Which services run and where, bus lag, errors per minute, and the last insight."""
    from loginsight.stack_status import gather_status  # imports Dagster: only here

    settings = load_settings()
    report = gather_status(settings)
    if as_json:
        typer.echo(json.dumps(report))
        return
    table = Table(title=f"loginsight on {settings.data_dir}", show_header=False)
    table.add_column()
    table.add_column()
    table.add_column()
    up_pid = report["up"]["pid"]
    table.add_row("loginsight up", _mark(up_pid is not None), f"pid {up_pid}" if up_pid else "")
    for name, service in report["services"].items():
        table.add_row(name, _mark(service["up"]), service["url"])
    rate = report["errors_per_minute"]
    table.add_row("errors/min", "", "unknown" if rate is None else f"{rate} (last 5 min)")
    bus = report["bus"]
    for topic, lag in bus.get("topics", {}).items():
        behind = "no sensor cursor yet" if lag["lag"] is None else f"lag {lag['lag']}"
        table.add_row(f"bus {topic}", "", f"{lag['end_offsets']} messages, {behind}")
    if "error" in bus:
        table.add_row("bus", Text("?", style="yellow"), plain(bus["error"]))
    last = report["last_insight"]
    if last and "error" in last:
        table.add_row("last insight", Text("?", style="yellow"), plain(last["error"]))
    elif last:
        table.add_row("last insight", plain(last["id"][:12], "cyan"), plain(last["title"]))
    else:
        table.add_row("last insight", "", "none yet")
    console.print(table)


# -- send -----------------------------------------------------------------------------------


def _lines_of(sources: list[str], service: str, progress: Progress) -> Iterator[dict[str, Any]]:
    for source in sources:
        name = "stdin" if source == "-" else source
        size = None if source == "-" else Path(source).stat().st_size
        task = progress.add_task(name, total=size)

        def advance(nbytes: int, task_id: Any = task) -> None:
            progress.advance(task_id, nbytes)

        if source == "-":
            yield from records_of_lines(sys.stdin.buffer, service, advance)
        else:
            with Path(source).open("rb") as handle:
                yield from records_of_lines(handle, service, advance)


@app.command()
def send(
    files: Annotated[list[str], typer.Argument(help="log files; - reads stdin", metavar="FILE…")],
    service: Annotated[str, typer.Option(help="service for lines that do not name one")] = "cli",
    url: UrlOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Ship log files or stdin (NDJSON records or plain lines) to the gateway."""
    for source in files:
        if source != "-" and not Path(source).is_file():
            fail(f"no such file: {source}")
    settings = load_settings()
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=quiet or not err.is_terminal,
    )
    totals = SendTotals()
    with friendly("send"), progress:
        totals = send_records(gateway_url(settings, url), _lines_of(files, service, progress))
    console.print(f"sent {totals.accepted} records ({totals.matched} matched the filter rules)")


# -- stats ----------------------------------------------------------------------------------


@app.command()
def stats(
    window: Annotated[str, typer.Option(help="30s, 15m, 1h, 7d")] = "1h",
    by: Annotated[StatsBy, typer.Option(help="service | level | source | rule")] = StatsBy.service,
    as_json: JsonFlag = False,
    url: UrlOption = None,
) -> None:
    """Records, errors and error rate per service (level, source, rule) over a window, with a
    sparkline of errors over the window. For `--by rule`, counts are filter matches."""
    settings = load_settings()
    with friendly("stats"):
        span = parse_span(window)
        base = gateway_url(settings, url)
        body = fetch_stats(base, window, by.value)
        points = max(SPARK_MIN_POINTS, min(60, console.width - STATS_COLUMNS_WIDTH))
        series = Series.of_body(fetch_series(base, window, by.value, points))
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "window": window,
                    "by": by.value,
                    "rows": body["rows"],
                    "series": {
                        "start": series.start,
                        "step_s": series.step_s,
                        "counts": series.counts,
                        "errors": series.errors,
                    },
                }
            )
        )
        return
    minutes = max(span.total_seconds() / 60, 1)
    table = Table(title=f"last {window} by {by.value}, errors every {series.step_s // 60} min")
    table.add_column(by.value, max_width=24, overflow="ellipsis")
    for column in ("count", "errors", "error %", "errors/min"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("errors over time", no_wrap=True, min_width=points)
    for row in body["rows"]:
        key, count, errors = str(row[by.value]), int(row["count"]), int(row["errors"])
        table.add_row(
            plain(key),
            str(count),
            str(errors),
            f"{100 * errors / count:.1f}" if count else "-",
            f"{errors / minutes:.2f}",
            Text(sparkline(series.errors.get(key, [])), style="red"),
        )
    console.print(table)


# -- tail -----------------------------------------------------------------------------------


def _print_record(payload: bytes, as_json: bool, service: str | None) -> None:
    from loginsight.model import LogRecord

    try:
        record = LogRecord.from_bus(payload)
    except ValueError:
        return  # a payload of another schema version is not ours to show
    if service is not None and record.service != service:
        return
    if as_json:
        sys.stdout.write(record.model_dump_json() + "\n")
        sys.stdout.flush()
    else:
        console.print(log_line(record), soft_wrap=True)


@app.command()
def tail(
    from_start: Annotated[
        bool, typer.Option("--from-start", help="replay the topic from its first message")
    ] = False,
    service: ServiceOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="NDJSON LogRecords")] = False,
) -> None:
    """Follow the error lines the filter matched (topic logs.to.analyze) until Ctrl-C."""
    from loginsight.bus import build_bus

    settings = load_settings()
    with friendly("tail"), build_bus(settings) as bus:
        try:
            end = bus.end_offsets(TOPIC_LOGS_TO_ANALYZE)
            position = {p: 0 for p in end} if from_start else dict(end)
            if not as_json:
                err.print(f"following {TOPIC_LOGS_TO_ANALYZE}; Ctrl-C stops", style="dim")
            while True:
                end = bus.end_offsets(TOPIC_LOGS_TO_ANALYZE)
                if all(end[p] <= position.get(p, 0) for p in end):
                    time.sleep(TAIL_POLL_S)
                    continue
                for message in bus.read(TOPIC_LOGS_TO_ANALYZE, position, end, TAIL_BATCH):
                    position[message.partition] = message.offset + 1
                    _print_record(message.value, as_json, service)
        except KeyboardInterrupt:
            return
        except BrokenPipeError:
            # The reader went away (`loginsight tail | head`): stop quietly.
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaces the broken stream
            return


# -- tui ------------------------------------------------------------------------------------


@app.command()
def tui(
    window: Annotated[str, typer.Option(help="error-rate chart window: 15m, 1h…")] = "1h",
    refresh: Annotated[float, typer.Option(min=0.5, help="seconds between refreshes")] = 3.0,
    url: UrlOption = None,
) -> None:
    """A live terminal view: error rate per service, incidents, and their evidence."""
    from loginsight.tui import LogInsightApp

    settings = load_settings()
    with friendly("tui"):
        parse_span(window)
    LogInsightApp(settings, gateway_url(settings, url), window, refresh).run()


if __name__ == "__main__":
    app()
