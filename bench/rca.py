"""Root-cause accuracy of the local analyzer on incident scenarios.

    .venv/bin/python -m bench.rca --scenarios DIR --json OUT

DIR holds scenario folders in the format of `data/incidents/FORMAT.md` (`logs.jsonl`,
`expected.json`). Each scenario's lines go through the gateway's own normalizer and default
filter rules, so the analyzer sees what it sees in production: only the error lines.

Scoring (FORMAT.md): each expected incident is matched to the found incident that overlaps it in
time and services (closest start first, one to one). Top-1 is right when the first-ranked candidate
is from `root_cause_service` and its example line matches `root_cause_pattern`; top-3 when one of
the first three is. Found incidents left unmatched are `extra`, expected ones `missed`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ingest_gateway.filter import RuleFilter, load_rules
from ingest_gateway.normalize.native import normalize_native, parse_event_time
from loginsight.model import LogRecord
from loginsight.settings import GatewaySettings
from rca.incidents import Incident, group_incidents

# How far from an expected start a found incident may lie and still be "the same incident".
MATCH_BEFORE = timedelta(minutes=2)
MATCH_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class Expected:
    root_cause_service: str
    root_cause_pattern: str
    affected_services: tuple[str, ...]
    start: datetime

    @property
    def services(self) -> set[str]:
        return {self.root_cause_service, *self.affected_services}


def load_records(path: Path, rules: RuleFilter) -> list[LogRecord]:
    """The error records of a scenario, as the gateway's filter would pass them on."""
    received = datetime.now(UTC)
    limit = GatewaySettings().max_record_bytes
    records = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            record = normalize_native(
                json.loads(line), source="bench", received=received, max_message_bytes=limit
            )
            matched = rules.matches(record.message, record.level)
            if matched:
                records.append(record.model_copy(update={"matched_rules": matched}))
    return records


def load_expected(path: Path) -> list[Expected]:
    body = json.loads(path.read_text(encoding="utf-8"))
    return [
        Expected(
            root_cause_service=item["root_cause_service"],
            root_cause_pattern=item["root_cause_pattern"],
            affected_services=tuple(item.get("affected_services", [])),
            start=parse_event_time(item["start"], "start"),
        )
        for item in body["incidents"]
    ]


def _overlaps(found: Incident, expected: Expected) -> bool:
    in_time = (
        found.first_seen <= expected.start + MATCH_AFTER
        and found.last_seen >= expected.start - MATCH_BEFORE
    )
    return in_time and bool(expected.services & set(found.blast_radius))


def _rank_of_root(found: Incident, expected: Expected) -> int | None:
    pattern = re.compile(expected.root_cause_pattern, re.IGNORECASE)
    for rank, candidate in enumerate(found.candidates, start=1):
        if candidate.service == expected.root_cause_service and pattern.search(candidate.example):
            return rank
    return None


def score_scenario(folder: Path, rules: RuleFilter) -> dict[str, Any]:
    expected = load_expected(folder / "expected.json")
    found = group_incidents(load_records(folder / "logs.jsonl", rules))
    incidents = [i for i in found if i.kind == "incident"]
    unmatched = list(incidents)
    matches: list[dict[str, Any]] = []
    for item in sorted(expected, key=lambda e: e.start):
        overlapping = [f for f in unmatched if _overlaps(f, item)]
        if not overlapping:
            matches.append({"expected": item.root_cause_service, "found": None, "rank": None})
            continue
        best = min(overlapping, key=lambda f: abs((f.first_seen - item.start).total_seconds()))
        unmatched.remove(best)
        matches.append(
            {
                "expected": item.root_cause_service,
                "found": best.service,
                "found_line": best.candidates[0].cause_line[:200],
                "confidence": best.confidence,
                "rank": _rank_of_root(best, item),
                "candidates": [f"{c.service}: {c.cause_line[:120]}" for c in best.candidates[:3]],
            }
        )
    ranks = [m["rank"] for m in matches]
    return {
        "expected": len(expected),
        "found": len(incidents),
        "background_groups": len(found) - len(incidents),
        "top1": sum(1 for r in ranks if r == 1),
        "top3": sum(1 for r in ranks if r is not None and r <= 3),
        "missed": sum(1 for m in matches if m["found"] is None),
        "extra": len(unmatched),
        "matches": matches,
    }


def run(scenarios_dir: Path) -> dict[str, Any]:
    rules = RuleFilter(load_rules(None))
    folders = sorted(
        p for p in scenarios_dir.iterdir() if p.is_dir() and (p / "logs.jsonl").exists()
    )
    if not folders:
        raise SystemExit(f"no scenario folders (with logs.jsonl) under {scenarios_dir}")
    scenarios = {folder.name: score_scenario(folder, rules) for folder in folders}
    expected = sum(s["expected"] for s in scenarios.values())
    return {
        "top1": round(sum(s["top1"] for s in scenarios.values()) / expected, 4)
        if expected
        else None,
        "top3": round(sum(s["top3"] for s in scenarios.values()) / expected, 4)
        if expected
        else None,
        "missed": sum(s["missed"] for s in scenarios.values()),
        "extra": sum(s["extra"] for s in scenarios.values()),
        "scenarios": scenarios,
    }


def render(result: dict[str, Any]) -> str:
    rows = ["| scenario | expected | found | top-1 | top-3 | missed | extra |", "|---" * 7 + "|"]
    for name, s in result["scenarios"].items():
        rows.append(
            f"| {name} | {s['expected']} | {s['found']} | {s['top1']} | {s['top3']} "
            f"| {s['missed']} | {s['extra']} |"
        )
    expected = sum(s["expected"] for s in result["scenarios"].values())
    rows.append(
        f"| **all** | {expected} | {sum(s['found'] for s in result['scenarios'].values())} "
        f"| {_pct(result['top1'])} | {_pct(result['top3'])} | {result['missed']} "
        f"| {result['extra']} |"
    )
    return "\n".join(rows)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rca", description=__doc__.split("\n")[0])
    parser.add_argument("--scenarios", type=Path, required=True, help="folder of scenario folders")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    result = run(args.scenarios)
    sys.stdout.write(render(result) + "\n")
    sys.stdout.write(
        f"top-1 {_pct(result['top1'])}  top-3 {_pct(result['top3'])}  "
        f"missed {result['missed']}  extra {result['extra']}\n"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
