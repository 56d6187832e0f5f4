"""`python -m bench.rca` scores a folder of scenarios it has never seen and writes its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "incidents" / "examples"
OWN = Path(__file__).resolve().parents[1] / "bench" / "scenarios"


def run_bench(scenarios: Path, out: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "bench.rca", "--scenarios", str(scenarios), "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "top-1" in done.stdout and "top-3" in done.stdout
    return json.loads(out.read_text())


def test_the_shared_examples_are_scored(tmp_path: Path) -> None:
    assert (EXAMPLES / "ex01-photo-sharing" / "logs.jsonl").exists(), EXAMPLES
    result = run_bench(EXAMPLES, tmp_path / "out" / "rca.json")

    assert set(result) == {"top1", "top3", "missed", "extra", "scenarios"}
    assert set(result["scenarios"]) == {"ex01-photo-sharing", "ex02-invoicing"}
    for scenario in result["scenarios"].values():
        assert scenario["expected"] == 1
        assert {"top1", "top3", "missed", "extra"} <= set(scenario)
    assert 0.0 <= result["top1"] <= result["top3"] <= 1.0
    assert isinstance(result["missed"], int) and isinstance(result["extra"], int)


def test_a_quiet_scenario_copy_scores_no_incident(tmp_path: Path) -> None:
    # A set the harness has never seen: one of our scenarios under another name and folder.
    quiet = tmp_path / "set" / "renamed-quiet"
    quiet.mkdir(parents=True)
    for name in ("logs.jsonl", "expected.json"):
        (quiet / name).write_bytes((OWN / "s06-quiet" / name).read_bytes())
    result = run_bench(tmp_path / "set", tmp_path / "quiet.json")

    assert result["top1"] is None and result["top3"] is None  # nothing was expected
    assert result["scenarios"]["renamed-quiet"]["expected"] == 0
    assert result["extra"] == result["scenarios"]["renamed-quiet"]["extra"]


def test_our_scenarios_are_reproducible(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "bench.make_scenarios", "--out", str(tmp_path)],
        check=True,
        timeout=300,
    )
    names = sorted(p.name for p in OWN.iterdir() if p.is_dir())
    assert len(names) >= 12
    for name in names:
        for file in ("logs.jsonl", "expected.json"):
            assert (tmp_path / name / file).read_bytes() == (OWN / name / file).read_bytes()
