"""Template mining benchmark: our miner against Drain3 on Loghub samples, side by side.

    .venv/bin/python -m bench.templates --data ../shared/data/loghub --json /tmp/templates.json

Every folder under --data that holds a `*_structured.csv` (Loghub layout:
`<Sys>/<Sys>_2k.log_structured.csv`) is one system. Both engines get the same input, the
`Content` column (the message without the date/level/component header), line by line in file
order; the `EventId` column is the ground truth. Reported per system:

- GA (grouping accuracy, logpai's definition): the fraction of lines whose predicted group holds
  exactly the lines of their true group.
- lines/s: lines over the best of --repeats timed passes, each with a fresh engine (so every
  pass learns from scratch, as on first contact with a system); only `add` calls are timed.

Drain3 runs with its default configuration (`TemplateMinerConfig()`: depth 4, similarity 0.4,
no masking), one configuration for all systems, as does our miner.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from rca.template_miner import TemplateMiner

DEFAULT_REPEATS = 5

Engine = Callable[[], Callable[[str], Hashable]]


@dataclass(frozen=True)
class LabeledLog:
    """One system's messages and their true event ids."""

    system: str
    messages: list[str]
    event_ids: list[str]


@dataclass(frozen=True)
class EngineResult:
    ga: float
    lines_per_s: float


def grouping_accuracy(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> float:
    """Fraction of lines whose predicted group is exactly their true group (logpai's GA)."""
    if len(truth) != len(predicted):
        raise ValueError("truth and predicted must have one label per line")
    if not truth:
        return 0.0
    true_groups: dict[Hashable, set[int]] = {}
    predicted_groups: dict[Hashable, set[int]] = {}
    for line, (true_label, predicted_label) in enumerate(zip(truth, predicted, strict=True)):
        true_groups.setdefault(true_label, set()).add(line)
        predicted_groups.setdefault(predicted_label, set()).add(line)
    correct = 0
    for lines in predicted_groups.values():
        some_line = next(iter(lines))
        if true_groups[truth[some_line]] == lines:
            correct += len(lines)
    return correct / len(truth)


def find_systems(data_dir: Path) -> list[LabeledLog]:
    """Every system folder under data_dir with a structured CSV, sorted by name."""
    logs = []
    for folder in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        csvs = sorted(folder.glob("*_structured.csv")) or sorted(folder.glob("*structured*.csv"))
        if csvs:
            logs.append(read_structured_csv(folder.name, csvs[0]))
    return logs


def read_structured_csv(system: str, path: Path) -> LabeledLog:
    with path.open(newline="", encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    return LabeledLog(system, [r["Content"] for r in rows], [r["EventId"] for r in rows])


def our_engine() -> Callable[[str], Hashable]:
    miner = TemplateMiner()
    return lambda message: miner.add(message).template_id


def drain3_engine() -> Callable[[str], Hashable]:
    # Imported here: drain3 is a dev extra, needed only for this benchmark.
    from drain3 import TemplateMiner as Drain3Miner
    from drain3.template_miner_config import TemplateMinerConfig as Drain3Config

    # An explicit config: without one Drain3 reads drain3.ini from the working directory.
    miner = Drain3Miner(config=Drain3Config())
    return lambda message: miner.add_log_message(message)["cluster_id"]


def measure(engine: Engine, log: LabeledLog, repeats: int) -> EngineResult:
    """GA of the first pass and the best lines/s over `repeats` passes with fresh engines."""
    best_seconds = float("inf")
    labels: list[Hashable] = []
    for _ in range(max(1, repeats)):
        add = engine()
        started = time.perf_counter()
        pass_labels = [add(message) for message in log.messages]
        best_seconds = min(best_seconds, time.perf_counter() - started)
        labels = labels or pass_labels
    lines_per_s = len(log.messages) / best_seconds if best_seconds > 0 else float("inf")
    return EngineResult(grouping_accuracy(log.event_ids, labels), lines_per_s)


def machine_description() -> dict[str, object]:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run(data_dir: Path, repeats: int) -> dict[str, object]:
    """The benchmark's JSON document for every system under data_dir."""
    logging.getLogger("drain3").setLevel(logging.WARNING)
    systems: dict[str, dict[str, float]] = {}
    for log in find_systems(data_dir):
        ours = measure(our_engine, log, repeats)
        theirs = measure(drain3_engine, log, repeats)
        systems[log.system] = {
            "ga": round(ours.ga, 4),
            "lines_per_s": round(ours.lines_per_s),
            "drain3_ga": round(theirs.ga, 4),
            "drain3_lines_per_s": round(theirs.lines_per_s),
        }
    return {"systems": systems, "average": averages(systems), "machine": machine_description()}


def averages(systems: dict[str, dict[str, float]]) -> dict[str, float]:
    if not systems:
        return {}
    keys = ("ga", "lines_per_s", "drain3_ga", "drain3_lines_per_s")
    means = {k: sum(s[k] for s in systems.values()) / len(systems) for k in keys}
    return {k: round(v, 4) if k.endswith("ga") else round(v) for k, v in means.items()}


def render(report: dict[str, object], console: Console) -> None:
    machine = report["machine"]
    assert isinstance(machine, dict)
    console.print(
        f"Machine: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}"
    )
    table = Table(title="Template mining: GA and lines/s (input: Content column)")
    for column in ("system", "GA", "lines/s", "Drain3 GA", "Drain3 lines/s", "speed ratio"):
        table.add_column(column, justify="left" if column == "system" else "right")
    systems = report["systems"]
    assert isinstance(systems, dict)
    rows = list(systems.items())
    average = report["average"]
    if isinstance(average, dict) and average:
        rows.append(("average", average))
    for name, row in rows:
        ratio = row["lines_per_s"] / row["drain3_lines_per_s"] if row["drain3_lines_per_s"] else 0
        table.add_row(
            name,
            f"{row['ga']:.3f}",
            f"{row['lines_per_s']:,.0f}",
            f"{row['drain3_ga']:.3f}",
            f"{row['drain3_lines_per_s']:,.0f}",
            f"{ratio:.1f}x",
        )
    console.print(table)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.templates", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="folder of Loghub system folders")
    parser.add_argument("--json", type=Path, required=True, help="where to write the figures")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="timed passes")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"--data {args.data} is not a folder")
    report = run(args.data, args.repeats)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    render(report, Console())


if __name__ == "__main__":
    main()
