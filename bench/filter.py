"""The filter alone against `grep -ciE` over the same file: the scan limit of the hot path.

    .venv/bin/python -m bench.filter --data ../shared/data/loghub --lines 1000000

The input is the Loghub sample lines (`*/*_2k.log`), repeated to --lines, written to one file.
`grep -ciE` counts the lines matching the default keyword rules' expression (word-bounded, `_`
a boundary) in that file: the peer. Our engines run the default rules (`RuleFilter`, keyword and
level rules) over the same lines held in memory as Arrow strings, in batches of --batch lines
(a 1,000-line request by default), and count the lines with a match:

- hyperscan: `RuleFilter.match_column`, what the gateway runs (one Hyperscan database, one
  scan per batch, rule names per row);
- re2: each keyword rule through pyarrow.compute.match_substring_regex (RE2), per batch;
- python-re: `RuleFilter.matches`, line by line (the per-record path of before).

Reading the file is not timed for us; grep's time includes its reading (from the page cache,
after a warm-up run). Best of --repeats.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.table import Table

from bench.machine import describe_machine, ratio, record_results
from ingest_gateway.filter import RuleFilter, load_rules
from ingest_gateway.rule_scan import keyword_expression
from loginsight.model import Level

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "loghub"


def sample_lines(data: Path, count: int) -> list[str]:
    lines: list[str] = []
    for path in sorted(data.glob("*/*_2k.log")):
        lines.extend(path.read_text(encoding="utf-8", errors="replace").splitlines())
    if not lines:
        raise SystemExit(f"no Loghub samples (*/*_2k.log) under {data}")
    return (lines * (count // len(lines) + 1))[:count]


def grep_expression(rules: RuleFilter) -> str:
    """The keyword rules as one POSIX ERE for grep -i (ASCII boundaries, as Hyperscan's)."""
    config = load_rules(None)
    words = [word for rule in config.rules for word in rule.keywords]
    del rules
    return "(^|[^a-z0-9])(" + "|".join(words) + ")([^a-z0-9]|$)"


def time_grep(path: Path, expression: str, repeats: int) -> tuple[float, int]:
    grep = shutil.which("grep")
    if grep is None:
        raise SystemExit("grep is not installed")
    env = {**os.environ, "LC_ALL": "C"}  # bytes, as our scan reads them
    best, count = float("inf"), 0
    for _ in range(repeats + 1):  # the first run warms the page cache
        start = time.perf_counter()
        done = subprocess.run(
            [grep, "-ciE", expression, str(path)], capture_output=True, check=False, env=env
        )
        best = min(best, time.perf_counter() - start)
        count = int(done.stdout.decode().strip() or 0)
    return best, count


def time_batches(
    batches: list[tuple[pa.Array, pa.Array]],
    count: Callable[[pa.Array, pa.Array], int],
    repeats: int,
) -> tuple[float, int]:
    best, total = float("inf"), 0
    for _ in range(repeats):
        start = time.perf_counter()
        total = sum(count(messages, levels) for messages, levels in batches)
        best = min(best, time.perf_counter() - start)
    return best, total


def engines(rules: RuleFilter) -> dict[str, Callable[[pa.Array, pa.Array], int]]:
    config = load_rules(None)
    re2 = [keyword_expression(rule.keywords) for rule in config.rules if rule.keywords]
    level_sets = [
        pa.array([level.value for level in rule.levels]) for rule in config.rules if rule.levels
    ]

    def hyperscan(messages: pa.Array, levels: pa.Array) -> int:
        matched = rules.match_column(messages, levels)
        return int(pc.sum(pc.greater(pc.list_value_length(matched), 0)).as_py() or 0)

    def re2_engine(messages: pa.Array, levels: pa.Array) -> int:
        hits = pc.is_in(levels, value_set=level_sets[0]) if level_sets else None
        for expression in re2:
            found = pc.match_substring_regex(messages, f"(?i){expression}")
            hits = found if hits is None else pc.or_(hits, found)
        return int(pc.sum(hits).as_py() or 0) if hits is not None else 0

    def python_re(messages: pa.Array, levels: pa.Array) -> int:
        return sum(
            1
            for message, level in zip(messages.to_pylist(), levels.to_pylist(), strict=True)
            if rules.matches(message, Level(level))
        )

    return {"hyperscan": hyperscan, "re2": re2_engine, "python-re": python_re}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-record", action="store_true", help="do not write hotpath.json")
    args = parser.parse_args()

    lines = sample_lines(args.data, args.lines)
    rules = RuleFilter(load_rules(None))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "lines.log"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        size = path.stat().st_size
        grep_s, grep_count = time_grep(path, grep_expression(rules), args.repeats)
    info = pa.array([Level.INFO.value] * args.batch, pa.string())
    batches = [
        (pa.array(lines[i : i + args.batch], pa.string()), info[: len(lines[i : i + args.batch])])
        for i in range(0, len(lines), args.batch)
    ]
    grep_rate = len(lines) / grep_s
    table = Table(title=f"Filter alone vs grep -ciE — {len(lines):,} lines, {size / 1e6:.0f} MB")
    for column in ("engine", "lines/s", "MB/s", "matched lines", "ratio to grep"):
        table.add_column(column, justify="left" if column == "engine" else "right")
    table.add_row(
        "grep -ciE (peer)",
        f"{grep_rate:,.0f}",
        f"{size / grep_s / 1e6:,.0f}",
        f"{grep_count:,}",
        "1.00x",
    )
    rates: dict[str, float] = {}
    for name, count in engines(rules).items():
        repeats = 1 if name == "python-re" else args.repeats
        seconds, matched = time_batches(batches, count, repeats)
        rates[name] = len(lines) / seconds
        table.add_row(
            name + (" (gateway)" if name == "hyperscan" else ""),
            f"{rates[name]:,.0f}",
            f"{size / seconds / 1e6:,.0f}",
            f"{matched:,}",
            ratio(rates[name], grep_rate),
        )
    console = Console()
    console.print(f"Machine: {describe_machine()}; batches of {args.batch:,} lines")
    console.print(table)
    if not args.no_record:
        path = record_results(
            {
                "grep_lines_per_s": round(grep_rate),
                "filter_lines_per_s": round(rates["hyperscan"]),
                "filter_re2_lines_per_s": round(rates["re2"]),
                "filter_python_re_lines_per_s": round(rates["python-re"]),
            }
        )
        console.print(f"results merged into {path}")


if __name__ == "__main__":
    main()
