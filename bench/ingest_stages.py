"""Where a 1,000-line request's time goes on the columnar path: each stage timed in process.

    .venv/bin/python -m bench.ingest_stages

The same bodies as bench.ingest_http, run one request at a time through the stages the native
HTTP path runs (decode, normalize, filter, LogRecords of the matches, bus payloads, bus publish
on the embedded SQLite bus, archive append, stats commit), with wall and CPU time per stage.
No HTTP, no concurrency: a request's own cost, which bounds what one core can do.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.table import Table

from bench.ingest_http import DEFAULT_DATA, build_bodies
from bench.machine import describe_machine
from ingest_gateway.filter import RuleFilter, load_rules
from ingest_gateway.normalize.native_columns import decode_ndjson, normalize_columns
from ingest_gateway.sinks.archive import ArchiveWriter, records_from_table
from ingest_gateway.sinks.stats import StatsWriter
from loginsight.bus.sqlite import SQLiteBus

T = TypeVar("T")


class Stopwatch:
    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def time(self, stage: str, work: Callable[[], T]) -> T:
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        self.wall[stage] = self.wall.get(stage, 0.0) + time.perf_counter() - wall
        self.cpu[stage] = self.cpu.get(stage, 0.0) + time.process_time() - cpu
        return result


def run_request(text: str, parts: dict[str, Any], watch: Stopwatch) -> None:
    decoded = watch.time("decode (msgspec)", lambda: decode_ndjson(text, 100_000))
    table = watch.time(
        "normalize (Arrow)",
        lambda: normalize_columns(
            decoded, source="http", received=datetime.now(UTC), max_message_bytes=1 << 20
        ),
    )
    rules = watch.time(
        "filter (Hyperscan)", lambda: parts["rules"].match_column(table["message"], table["level"])
    )
    table = table.set_column(table.schema.get_field_index("matched_rules"), "matched_rules", rules)
    rows = np.flatnonzero(pc.list_value_length(rules).to_numpy(zero_copy_only=False))
    matches = watch.time(
        "LogRecords of matches", lambda: records_from_table(table.take(pa.array(rows, pa.int64())))
    )
    payloads = watch.time(
        "bus payloads", lambda: [(record.service, record.to_bus()) for record in matches]
    )
    watch.time("bus publish (SQLite, fsync)", lambda: parts["bus"].publish("bench", payloads))
    watch.time("archive append (fsync)", lambda: parts["archive"].append_table(table))
    watch.time("stats (journal append, fsync)", lambda: parts["stats"].add_table(table))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-stages-") as folder:
        root = Path(folder)
        (root / "bodies").mkdir()
        build_bodies(args.data, root / "bodies", 10, 1_000)
        texts = [p.read_text() for p in sorted((root / "bodies").glob("*.ndjson"))]
        archive = ArchiveWriter(root / "archive", roll_after_s=3600)
        parts: dict[str, Any] = {
            "rules": RuleFilter(load_rules(None)),
            "bus": SQLiteBus(root / "bus.sqlite"),
            "archive": archive,
            "stats": StatsWriter(root / "stats.duckdb"),
        }
        run_request(texts[0], parts, Stopwatch())  # warm-up
        watch = Stopwatch()
        for index in range(args.requests):
            run_request(texts[index % len(texts)], parts, watch)
        archive.close()
    table = Table(title=f"Columnar path, per 1,000-line request (mean of {args.requests})")
    for column in ("stage", "wall ms", "CPU ms"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for stage, wall in watch.wall.items():
        table.add_row(
            stage,
            f"{wall / args.requests * 1e3:.2f}",
            f"{watch.cpu[stage] / args.requests * 1e3:.2f}",
        )
    total_wall = sum(watch.wall.values()) / args.requests
    total_cpu = sum(watch.cpu.values()) / args.requests
    table.add_row("total", f"{total_wall * 1e3:.2f}", f"{total_cpu * 1e3:.2f}")
    console = Console()
    console.print(f"Machine: {describe_machine()}")
    console.print(table)
    console.print(f"one request at a time: {1_000 / total_wall:,.0f} lines/s")


if __name__ == "__main__":
    main()
