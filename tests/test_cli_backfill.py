"""`loginsight backfill --from … --to …`: a real CLI process backfills hours from the archive into
the Dagster instance in the data folder, shows its progress, fails loudly for a broken hour, and
replaces (never adds to) an hour's insights when run again."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest

from ingest_gateway.sinks.archive import ArchiveWriter
from loginsight.cli_backfill import hours_between, parse_hour
from loginsight.settings import Settings
from loginsight_dagster.backfill import BACKFILL_TAG
from tests.hour_records import H1, H2, database_incident, disk_incident, totals
from tests.support import REPO

LOGINSIGHT = str(Path(sys.executable).with_name("loginsight"))
NOW = datetime(2026, 11, 30, 2, 46, tzinfo=UTC)


def _backfill(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOGINSIGHT_DATA_DIR": str(data_dir), "COLUMNS": "120"}
    env.pop("DAGSTER_HOME", None)
    return subprocess.run(
        [LOGINSIGHT, "backfill", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_backfill_two_hours_fail_one_then_replay(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    writer = ArchiveWriter(settings.archive_dir)
    writer.append(database_incident(H1))
    writer.close()
    broken = settings.archive_dir / f"hour={H2}" / "part-broken.parquet"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not parquet")

    first = _backfill(settings.data_dir, "--from", H1, "--to", "2026-03-02T12+01:00")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "1/2" not in first.stderr  # progress goes to stdout, errors to stderr
    assert "2/2" in first.stdout and "1 failed" in first.stdout
    assert f"{H2} failed: error_events" in first.stderr
    assert totals(settings) == {"too many connections (max <*>)": (10, 1)}

    # The archive of hour 2 is repaired; the whole range runs again.
    broken.unlink()
    writer = ArchiveWriter(settings.archive_dir)
    writer.append(disk_incident(H2))
    writer.close()
    second = _backfill(settings.data_dir, "--from", H1, "--to", H2)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "backfilled 2 of 2 hour(s), 2 insight(s) stored; 0 failed" in second.stdout
    # Hour 1, backfilled twice, counts its lines once.
    assert totals(settings) == {
        "too many connections (max <*>)": (10, 1),
        "disk full on <*> write failed": (7, 1),
    }

    # The runs are in the instance `loginsight up` uses, one per partition and attempt.
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="analyze_logs"))
        assert sorted(run.tags.get("dagster/partition") for run in runs) == [H1, H1, H2, H2]
        assert all(BACKFILL_TAG in run.tags for run in runs)
        assert len({run.tags[BACKFILL_TAG] for run in runs}) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", H2, "--to", H1], f"--to {H1} is before --from {H2}"),
        (["--from", "yesterday", "--to", H1], "'yesterday' is not an hour"),
        (["--from", "2020-01-01T00", "--to", H1], "is before the first partition"),
    ],
)
def test_a_bad_range_is_one_line_and_exit_1(tmp_path: Path, args: list[str], message: str) -> None:
    result = _backfill(tmp_path / "data", *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data" / "dagster").exists()  # nothing was started


def test_hours_are_parsed_in_utc_or_with_their_offset() -> None:
    assert parse_hour("2026-03-02T10") == datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert parse_hour("2026-03-02T12+02:00") == datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert parse_hour("2026-03-02T10:59:59Z") == datetime(2026, 3, 2, 10, tzinfo=UTC)
    settings = Settings(dagster={"partitions_start": date(2026, 3, 1)})
    assert hours_between(parse_hour(H1), parse_hour("2026-03-02T13"), settings, NOW) == [
        H1,
        H2,
        "2026-03-02T12",
        "2026-03-02T13",
    ]
    with pytest.raises(ValueError, match="after the current hour 2026-11-30T02"):
        hours_between(parse_hour(H1), parse_hour("2026-11-30T03"), settings, NOW)
