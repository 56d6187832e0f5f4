"""The columnar hot path gives exactly what the per-record path gives: the same records, rule
matches, stats, archive rows and bus messages, over Loghub sample lines and edge cases; and the
columnar parts on their own (multi-pattern filter, ids, group commit, stats downsampling)."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from ingest_gateway.errors import IngestRefused
from ingest_gateway.filter import RuleFilter, load_rules
from ingest_gateway.group_commit import GroupCommit
from ingest_gateway.normalize.native_columns import (
    NotColumnar,
    decode_json,
    decode_ndjson,
    new_record_ids,
    normalize_columns,
)
from ingest_gateway.pipeline import IngestPipeline
from ingest_gateway.sinks.archive import ArchiveWriter, records_from_table, records_to_table
from ingest_gateway.sinks.stats import DIMENSIONS, StatsWriter
from ingest_gateway.sources.http_ingest import ingest_columns, parse_records
from loginsight.archive import read_hours
from loginsight.bus.sqlite import SQLiteBus
from loginsight.model import Level, LogRecord
from loginsight.settings import TOPIC_LOGS_TO_ANALYZE, GatewaySettings

LOGHUB = Path(__file__).resolve().parents[2] / "shared" / "data" / "loghub"
NDJSON = "application/x-ndjson"
SETTINGS = GatewaySettings()
RECEIVED = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)

EDGE_MESSAGES = [
    "DB_ERROR raised",
    "error_code=7",
    "Traceback: fatal Exception then ERROR and a panic",
    "ERRORé is not a word boundary",
    "éerror neither",
    "K: TRACEBACK with a Kelvin sign",  # matches only through Unicode case folding
    "0 errors",
    "first line\nerror on the second",
    "error\n",
    "e",
    " ",
    "[WARN] disk 91% full",
    "E0101 12:00:00 starting",
    "  ERROR: boom",
    "résumé: CRITICAL failure",
    "x\x1cERROR after a file separator",
    "info\u00a0error",
    "😀 panic",
]


def loghub_lines() -> list[str]:
    lines: list[str] = []
    for path in sorted(LOGHUB.glob("*/*_2k.log")):
        lines.extend(path.read_text(encoding="utf-8", errors="replace").splitlines())
    assert len(lines) >= 16_000, f"Loghub samples missing under {LOGHUB}"
    return lines


def varied_objects(seed: int, count: int) -> list[dict[str, Any]]:
    """Native records in the shapes shippers send, each field drawn independently."""
    rng = random.Random(seed)
    messages = loghub_lines() + EDGE_MESSAGES
    times: list[Any] = [
        "2026-03-02T10:15:00Z",
        "2026-03-02T10:15:00.123456Z",
        "2026-03-02T11:59:59.5+02:00",
        "2026-03-02 10:15:07",
        "2026-03-02T10:15:07.1-05:30",
        "2026-03-02T10:15",
        " 2026-03-02T10:15:07Z ",
        1772446500,
        1772446500.25,
        1772446500123,
        1772446500123456,
        1772446500123456789,
        1772446500.9999996,
        None,
    ]
    levels: list[Any] = ["error", "WARNING", "Info", "err", "crit", "notice", "debug", "bogus", 3]
    out = []
    for _ in range(count):
        obj: dict[str, Any] = {rng.choice(["message", "message", "msg", "log", "body"]): ""}
        key = next(iter(obj))
        obj[key] = rng.choice(messages)
        if (moment := rng.choice(times)) is not None:
            obj[rng.choice(["ts", "timestamp", "time", "@timestamp", "event_time"])] = moment
        if rng.random() < 0.5:
            obj[rng.choice(["level", "severity", "status", "levelname"])] = rng.choice(levels)
        if rng.random() < 0.8:
            obj["service"] = rng.choice(["api", "db", "worker", "", "checkout"])
        if rng.random() < 0.3:
            obj["host"] = rng.choice(["web-1", "", "db-2"])
        if rng.random() < 0.2:
            obj["env"] = "prod"
        if rng.random() < 0.1:
            obj["trace_id"] = "4bf92f3577b34da6a3ce929d0e0e4736"
            obj["span_id"] = "00f067aa0ba902b7"
        if rng.random() < 0.2:
            obj[rng.choice(["attrs", "attributes", "labels", "tags"])] = {"region": "eu", "k": "v"}
        if rng.random() < 0.05:
            obj["extra"] = {"ignored": [1, 2]}
        out.append(obj)
    return out


def ndjson(objects: Sequence[dict[str, Any]]) -> str:
    return "".join(json.dumps(obj, ensure_ascii=False) + "\n" for obj in objects)


def comparable(record: LogRecord) -> dict[str, Any]:
    """A record without what is assigned at ingest (id, received time); times as instants."""
    body = record.model_dump(exclude={"id", "received_time"})
    # A record without a time takes its received time: compare that fact, not the moment.
    missing = record.event_time == record.received_time
    body["event_time"] = "received" if missing else record.event_time.astimezone(UTC)
    return body


def columnar_records(text: str, rules: RuleFilter, json_body: bool = False) -> list[LogRecord]:
    decoded = (decode_json if json_body else decode_ndjson)(text, 100_000)
    table = normalize_columns(
        decoded, source="http", received=RECEIVED, max_message_bytes=SETTINGS.max_record_bytes
    )
    table = table.set_column(
        table.schema.get_field_index("matched_rules"),
        "matched_rules",
        rules.match_column(table["message"], table["level"]),
    )
    return records_from_table(table)


@pytest.fixture(scope="module")
def rules() -> RuleFilter:
    return RuleFilter(load_rules(None))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_columnar_records_equal_the_per_record_ones(rules: RuleFilter, seed: int) -> None:
    text = ndjson(varied_objects(seed, 3_000))
    expected = rules.apply(parse_records(text, NDJSON, SETTINGS, "http"))
    got = columnar_records(text, rules)
    assert len(got) == len(expected) == 3_000
    for position, (mine, theirs) in enumerate(zip(got, expected, strict=True)):
        assert comparable(mine) == comparable(theirs), f"line {position + 1}"
    assert any(record.matched_rules for record in got)
    assert len({record.id for record in got}) == len(got)


def test_json_bodies_take_the_columnar_path_too(rules: RuleFilter) -> None:
    objects = varied_objects(7, 200)
    for text in (json.dumps(objects), json.dumps({"records": objects}), json.dumps(objects[0])):
        expected = rules.apply(parse_records(text, "application/json", SETTINGS, "http"))
        got = columnar_records(text, rules, json_body=True)
        assert [comparable(r) for r in got] == [comparable(r) for r in expected]


@pytest.mark.parametrize(
    "text",
    [
        '{"message": 17}\n',  # a number where text is expected: str() it, per record
        '{"message": "a"}\n\n{"message": "b"}\n',  # a blank line
        '{"message": "a", "status": {"code": 1}}\n',
        '{"message": "a\\ud800"}\n',  # a lone surrogate, replaced per record
        '{"message": "a", "ts": true}\n',
        '{"message": "a"}\r{"message": "b"}\n',
        '{"message": "a\u2028b"}\n',
        "",
    ],
)
def test_bodies_the_fast_parser_declines_go_per_record(text: str) -> None:
    with pytest.raises(NotColumnar):
        normalize_columns(
            decode_ndjson(text, 100_000),
            source="http",
            received=RECEIVED,
            max_message_bytes=SETTINGS.max_record_bytes,
        )


def build_pipeline(root: Path, columnar: bool) -> IngestPipeline:
    return IngestPipeline(
        RuleFilter(load_rules(None)),
        StatsWriter(root / "stats.duckdb"),
        SQLiteBus(root / "bus.sqlite"),
        ArchiveWriter(root / "archive", roll_after_s=3600),
        columnar=columnar,
    )


def outcome(pipeline: IngestPipeline, root: Path) -> dict[str, Any]:
    """What a pipeline left behind: stats by every dimension, archive rows, bus records."""
    assert pipeline.archive is not None
    pipeline.archive.close()
    stats = {
        by: pipeline.stats.query(timedelta(days=3650), by, now=RECEIVED + timedelta(days=1))
        for by in DIMENSIONS
    }
    archived = read_hours(
        root / "archive", datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    )
    rows = sorted(
        json.dumps(
            {k: v for k, v in row.items() if k not in ("id", "received_time")}
            | {"event_time": row["event_time"] == row["received_time"] or row["event_time"]},
            default=str,
            sort_keys=True,
        )
        for row in archived.to_pylist()
    )
    bus = pipeline.bus
    published = bus.read(TOPIC_LOGS_TO_ANALYZE, {0: 0}, bus.end_offsets(TOPIC_LOGS_TO_ANALYZE))
    records = [comparable(LogRecord.from_bus(message.value)) for message in published]
    return {"stats": stats, "archive": rows, "bus": records}


def test_gateway_paths_leave_the_same_stats_archive_and_bus(tmp_path: Path) -> None:
    bodies = [ndjson(varied_objects(seed, 700)) for seed in (11, 12, 13)]
    bodies.append('{"message": 17, "service": "api"}\n{"message": "error again"}\n')  # fallback
    per_record = build_pipeline(tmp_path / "old", columnar=False)
    columnar = build_pipeline(tmp_path / "new", columnar=True)
    for text in bodies:
        old = per_record.ingest(parse_records(text, NDJSON, SETTINGS, "http"))
        new = ingest_columns(text, NDJSON, SETTINGS, columnar)
        assert (new.accepted, new.matched) == (old.accepted, old.matched)
    # The other sources' entry point, on the columnar internals.
    extra = [
        LogRecord(event_time=RECEIVED, source="syslog", service="db", message=m)
        for m in ("panic: out of disk", "all fine")
    ]
    assert columnar.ingest(extra).matched == per_record.ingest(extra).matched == 1
    old_outcome = outcome(per_record, tmp_path / "old")
    new_outcome = outcome(columnar, tmp_path / "new")
    assert new_outcome["stats"] == old_outcome["stats"]
    assert new_outcome["archive"] == old_outcome["archive"]
    assert new_outcome["bus"] == old_outcome["bus"]
    rule_rows = {row["rule"]: row["count"] for row in new_outcome["stats"]["rule"]}
    assert rule_rows["panic"] >= 1 and set(rule_rows) <= set(columnar.rules.rule_names)


def test_refusals_of_the_columnar_path_name_the_line(tmp_path: Path) -> None:
    pipeline = build_pipeline(tmp_path, columnar=True)
    with pytest.raises(IngestRefused, match="line 2 column 13"):
        ingest_columns('{"message": "a"}\n{"message": x}\n', NDJSON, SETTINGS, pipeline)
    with pytest.raises(IngestRefused, match="line 1: a record needs a 'message' field"):
        ingest_columns('{"msg": null, "level": "error"}\n', NDJSON, SETTINGS, pipeline)
    with pytest.raises(IngestRefused, match="line 1: ts='yesterday' is not RFC 3339"):
        ingest_columns('{"message": "a", "ts": "yesterday"}\n', NDJSON, SETTINGS, pipeline)
    small = SETTINGS.model_copy(update={"max_records_per_request": 2})
    with pytest.raises(IngestRefused, match="more than 2 records"):
        ingest_columns('{"message": "a"}\n' * 3, NDJSON, small, pipeline)


def test_match_column_equals_matches_row_by_row(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n"
        "  - name: timeouts\n    keywords: [timeout, 'timed out', e]\n"
        "  - name: oom\n    regex: '(?i)out of memory|\\bOOM\\b'\n"
        "  - name: unicode\n    keywords: [ошибка]\n"
        "  - name: dollar\n    regex: 'done$'\n"
        "  - name: warned\n    levels: [warn, error]\n"
    )
    custom = RuleFilter(load_rules(path))
    default = RuleFilter(load_rules(None))
    messages = loghub_lines() + EDGE_MESSAGES + ["ОШИБКА диска", "done\n", "OOM", "e", "timed out"]
    rng = random.Random(5)
    levels = [rng.choice(list(Level)) for _ in messages]
    for rules in (default, custom):
        assert rules.engine == "hyperscan"
        got = rules.match_column(pa.array(messages), pa.array([lv.value for lv in levels]))
        expected = [list(rules.matches(m, lv)) for m, lv in zip(messages, levels, strict=True)]
        assert got.to_pylist() == expected
    assert (
        default.match_column(pa.array([], pa.string()), pa.array([], pa.string())).to_pylist() == []
    )


def test_record_ids_are_unique_uuid7_in_time_order() -> None:
    ids = new_record_ids(10_000).to_pylist()
    assert len(set(ids)) == 10_000
    parsed = [uuid.UUID(value) for value in ids]
    assert {u.version for u in parsed} == {7} and {u.variant for u in parsed} == {uuid.RFC_4122}
    millis = parsed[0].int >> 80
    assert abs(millis / 1000 - datetime.now(UTC).timestamp()) < 3600
    assert new_record_ids(1).to_pylist()[0] > ids[0][:8]


def test_group_commit_writes_every_item_and_reports_failures() -> None:
    written: list[list[int]] = []
    gate = threading.Event()

    def write(items: Sequence[int]) -> None:
        gate.wait(5)
        if -1 in items:
            raise RuntimeError("disk full")
        written.append(list(items))

    commits: GroupCommit[int] = GroupCommit(write)
    errors: list[BaseException] = []

    def submit(item: int) -> None:
        try:
            commits.submit(item)
        except RuntimeError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join(10)
    assert sorted(i for batch in written for i in batch) == list(range(20))
    assert len(written) < 20  # waiting callers shared writes
    with pytest.raises(RuntimeError, match="disk full"):
        commits.submit(-1)
    assert errors == []


def stats_table(at: datetime, service: str, rules: tuple[str, ...] = ()) -> pa.Table:
    record = LogRecord(
        event_time=at, source="http", service=service, message="m", matched_rules=rules
    )
    return records_to_table([record])


def test_minutes_fold_into_hours_after_the_retention(tmp_path: Path) -> None:
    writer = StatsWriter(tmp_path / "s.duckdb", timedelta(hours=2), timedelta(days=2))
    now = datetime(2026, 3, 2, 12, 30, tzinfo=UTC)
    for minutes_ago in (30, 90, 200, 210, 300):
        writer.add_table(stats_table(now - timedelta(minutes=minutes_ago), "api", ("error",)))
    writer.add_table(stats_table(now - timedelta(minutes=210), "db"))
    before = writer.query(timedelta(days=1), "service", now=now)
    before_rules = writer.query(timedelta(days=1), "rule", now=now)
    writer.compact(now)
    writer.compact(now)  # idempotent
    assert writer.query(timedelta(days=1), "service", now=now) == before
    assert writer.query(timedelta(days=1), "rule", now=now) == before_rules
    minutes = writer._conn.execute("SELECT minute FROM stats_minute ORDER BY 1").fetchall()
    hours = writer._conn.execute(
        "SELECT minute, service, count FROM stats_hour ORDER BY 1, 2"
    ).fetchall()
    # Cut-off: whole hours before now - 2h = 10:30, so minutes before 10:00 are folded.
    assert [m.astimezone(UTC) for (m,) in minutes] == [
        now - timedelta(minutes=90),
        now - timedelta(minutes=30),
    ]
    assert [(h.astimezone(UTC).hour, s, c) for h, s, c in hours] == [
        (7, "api", 1),
        (9, "api", 2),
        (9, "db", 1),
    ]
    # Hourly rows go once older than the hour retention.
    writer.compact(now + timedelta(days=2) - timedelta(minutes=150))
    assert writer._conn.execute("SELECT count(*) FROM stats_hour").fetchone() == (2,)
    writer.compact(now + timedelta(days=5))
    assert writer.query(timedelta(days=366), "service", now=now + timedelta(days=5)) == []
    writer.close()


CRASHING_WRITER = """
import os, signal, sys
from datetime import UTC, datetime
from pathlib import Path
from ingest_gateway.sinks.archive import records_to_table
from ingest_gateway.sinks.stats import StatsWriter
from loginsight.model import LogRecord

writer = StatsWriter(Path(sys.argv[1]))
at = datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
for batch in range(3):
    records = [
        LogRecord(event_time=at, source="http", service="api", message="m",
                  matched_rules=("error",) if i % 2 else ())
        for i in range(10)
    ]
    writer.add_table(records_to_table(records))  # acknowledged once this returns
    if batch == 0:
        writer.fold()
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_acknowledged_counts_survive_a_kill_and_count_once(tmp_path: Path) -> None:
    path = tmp_path / "stats.duckdb"
    done = subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(path)], check=False)
    assert done.returncode == -signal.SIGKILL
    journal = tmp_path / "stats.duckdb.journal"
    assert list(journal.glob("seg-*.arrows")), "the unfolded batches wait in the journal"
    now = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    for _ in range(2):  # replayed once, not again on the next start
        writer = StatsWriter(path)
        assert writer.query(timedelta(days=1), "service", now=now) == [
            {"service": "api", "count": 30, "errors": 15}
        ]
        assert writer.query(timedelta(days=1), "rule", now=now) == [
            {"rule": "error", "count": 15, "errors": 15}
        ]
        writer.close()
    assert not list(journal.glob("seg-*.arrows"))
