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

from rich import box
from rich.console import Console
from rich.table import Table

from bench.machine import RESULTS, ratio


@dataclass(frozen=True)
class Figure:
    key: str
    unit: str
    goal: str
    # Whether the goal is met, given this figure and every result; None: no goal of its own.
    met: Callable[[float, dict[str, Any]], bool] | None


def _faster_peer(results: dict[str, Any]) -> float:
    peers = [results.get("rsyslog_lines_per_s"), results.get("syslog_ng_lines_per_s")]
    return max((float(p) for p in peers if isinstance(p, int | float)), default=0.0)


def _within_2x_of_faster_peer(value: float, results: dict[str, Any]) -> bool:
    fastest = _faster_peer(results)
    return fastest > 0 and value >= fastest / 2


# What a figure is divided by in the ratio column: its goal's bound, or the faster syslog peer.
RATIO_TO: dict[str, Callable[[dict[str, Any]], float]] = {
    "http_bulk_lines_per_s": lambda _: 200_000,
    "http_ack_p99_ms": lambda _: 50,
    "http_peak_rss_mb": lambda _: 500,
    "syslog_lines_per_s": _faster_peer,
    "e2e_latency_p95_s": lambda _: 30,
}


FIGURES = (
    Figure("http_bulk_lines_per_s", "/s", ">= 200,000/s", lambda v, _: v >= 200_000),
    Figure("http_ack_p99_ms", " ms", "< 50 ms", lambda v, _: v < 50),
    Figure("http_peak_rss_mb", " MB", "< 500 MB", lambda v, _: v < 500),
    Figure("syslog_lines_per_s", "/s", ">= 0.5x faster peer", _within_2x_of_faster_peer),
    Figure("rsyslog_lines_per_s", "/s", "", None),
    Figure("syslog_ng_lines_per_s", "/s", "", None),
    Figure("grep_lines_per_s", "/s", "", None),
    Figure("e2e_latency_p95_s", " s", "< 30 s", lambda v, _: v < 30),
)


def verdict(figure: Figure, value: float, results: dict[str, Any]) -> str:
    if figure.met is None:
        return "peer"
    return "met" if figure.met(value, results) else "NOT met"


def summary_table(results: dict[str, Any]) -> tuple[Table, list[str]]:
    """The table of the required figures, and the keys missing from `results`."""
    table = Table(title="make bench: bench/results/hotpath.json", box=box.SIMPLE_HEAD)
    for column in ("key", "value", "goal", "ratio", "verdict"):
        numeric = column in ("value", "ratio")
        table.add_column(column, justify="right" if numeric else "left", no_wrap=True)
    missing = []
    for figure in FIGURES:
        value = results.get(figure.key)
        if not isinstance(value, int | float):
            missing.append(figure.key)
            table.add_row(figure.key, "missing", figure.goal, "", "[red]missing[/red]")
            continue
        shown = f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"
        table.add_row(
            figure.key,
            f"{shown}{figure.unit}",
            figure.goal,
            ratio(float(value), RATIO_TO[figure.key](results)) if figure.key in RATIO_TO else "",
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
