"""`bench.summary`, the last step of `make bench`: every required key of hotpath.json with its
goal, and a non-zero exit when a benchmark did not record its key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.e2e_latency import percentile
from bench.summary import FIGURES, main

RESULTS = {
    "http_bulk_lines_per_s": 250_000,
    "http_ack_p99_ms": 61.0,
    "http_peak_rss_mb": 420.0,
    "syslog_lines_per_s": 120_000,
    "rsyslog_lines_per_s": 200_000,
    "syslog_ng_lines_per_s": 480_000,
    "grep_lines_per_s": 5_000_000,
    "e2e_latency_p95_s": 12.5,
    "machine": "test machine",
}


def test_summary_lists_the_required_keys_with_verdicts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hotpath.json"
    path.write_text(json.dumps(RESULTS))
    assert main(["--results", str(path)]) == 0
    out = capsys.readouterr().out
    assert {figure.key for figure in FIGURES} == set(RESULTS) - {"machine"}
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert rows["http_bulk_lines_per_s"].rstrip().endswith("met")
    assert "NOT met" in rows["http_ack_p99_ms"]
    # 120,000 lines/s is 0.25x the faster peer (syslog-ng), not within 2x.
    assert "0.25x" in rows["syslog_lines_per_s"] and "NOT met" in rows["syslog_lines_per_s"]
    assert "NOT met" not in rows["e2e_latency_p95_s"]


def test_summary_fails_when_a_key_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "hotpath.json"
    path.write_text(json.dumps({k: v for k, v in RESULTS.items() if k != "e2e_latency_p95_s"}))
    assert main(["--results", str(path)]) == 1


def test_latency_percentiles_interpolate_between_ranks() -> None:
    values = [float(v) for v in range(1, 13)]
    assert percentile(values, 50) == 6.5
    assert round(percentile(values, 95), 2) == 11.45
    assert percentile([7.0], 95) == 7.0
