"""What every hot-path benchmark prints and records: the machine it ran on, and its results
merged into `bench/results/hotpath.json` (each harness owns its keys, keeps the others')."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "hotpath.json"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / (1024 * 1024)
    except OSError:
        pass
    return 0.0


def describe_machine() -> str:
    """One line: CPU model, cores, memory, Python, OS."""
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, {memory_gib():.1f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.machine()}"
    )


def ratio(figure: float, peer: float) -> str:
    return f"{figure / peer:.2f}x" if peer else "n/a"


def record_results(values: dict[str, Any], path: Path = RESULTS) -> Path:
    """Merge `values` into the results file, keeping keys other harnesses wrote."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        current = json.loads(path.read_text())
    except (OSError, ValueError):
        current = {}
    current.update(values)
    current["machine"] = describe_machine()
    path.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    return path
