"""The hot-path results of `make bench` in one table: each required figure, its goal, met or not.

    .venv/bin/python -m bench.summary [--results bench/results/hotpath.json]

Reads what the four benchmarks merged into `bench/results/hotpath.json`. Exits 1 when a
required key is missing (a benchmark did not run or did not record), never when a goal is
missed: a missed goal is a result, shown as such.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.machine import RESULTS


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    unit: str
    goal: str
    # Whether the goal is met, given this figure and every result; None: no goal of its own.
    met: Callable[[float, dict[str, Any]], bool] | None


def _within_2x_of_faster_peer(value: float, results: dict[str, Any]) -> bool:
    peers = [results.get("rsyslog_lines_per_s"), results.get("syslog_ng_lines_per_s")]
    fastest = max((float(p) for p in peers if isinstance(p, int | float)), default=0.0)
    return fastest > 0 and value >= fastest / 2


FIGURES = (
    Figure(
        "http_bulk_lines_per_s",
        "HTTP NDJSON bulk ingest",
        "lines/s",
        ">= 200,000",
        lambda v, _: v >= 200_000,
    ),
    Figure("http_ack_p99_ms", "HTTP ack p99 @ half peak", "ms", "< 50", lambda v, _: v < 50),
    Figure("http_peak_rss_mb", "HTTP gateway peak RSS", "MB", "< 500", lambda v, _: v < 500),
    Figure(
        "syslog_lines_per_s",
        "syslog TCP -> filter -> Kafka (gateway)",
        "lines/s",
        "within 2x of faster peer",
        _within_2x_of_faster_peer,
    ),
    Figure("rsyslog_lines_per_s", "  peer: rsyslog", "lines/s", "", None),
    Figure("syslog_ng_lines_per_s", "  peer: syslog-ng", "lines/s", "", None),
    Figure("grep_lines_per_s", "grep -ciE (scan limit)", "lines/s", "", None),
    Figure("e2e_latency_p95_s", "end-to-end latency p95", "s", "< 30", lambda v, _: v < 30),
)


def verdict(figure: Figure, value: float, results: dict[str, Any]) -> str:
    if figure.met is None:
        return "(reference)"
    return "met" if figure.met(value, results) else "NOT met"


def summary_table(results: dict[str, Any]) -> tuple[Table, list[str]]:
    """The table of the required figures, and the keys missing from `results`."""
    table = Table(title="make bench: bench/results/hotpath.json")
    for column in ("figure", "key", "value", "goal", "verdict"):
        table.add_column(column, justify="right" if column == "value" else "left")
    missing = []
    for figure in FIGURES:
        value = results.get(figure.key)
        if not isinstance(value, int | float):
            missing.append(figure.key)
            table.add_row(figure.label, figure.key, "missing", figure.goal, "[red]missing[/red]")
            continue
        shown = f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"
        table.add_row(
            figure.label,
            figure.key,
            f"{shown} {figure.unit}",
            figure.goal,
            verdict(figure, float(value), results),
        )
    return table, missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    try:
        results: dict[str, Any] = json.loads(args.results.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"cannot read {args.results}: {exc}") from exc
    console = Console()
    console.print(f"Machine: {results.get('machine', 'unknown')}")
    table, missing = summary_table(results)
    console.print(table)
    if missing:
        console.print(f"[red]missing keys: {', '.join(missing)}[/red]")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
