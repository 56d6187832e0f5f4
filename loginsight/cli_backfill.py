"""`loginsight backfill --from … --to …`: re-analyze past hours from the gateway's archive.

Each hour is one partition of the analysis assets, run in process on the Dagster instance in
`<data_dir>/dagster` (see `loginsight_dagster.backfill` for why), with a progress bar of the
partitions done and failed. Each hour's insights replace what was stored for that hour before,
so running a backfill twice changes nothing the second time.
"""

from __future__ import annotations

import os
import warnings
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from loginsight.archive import HOUR_FORMAT
from loginsight.batch_keys import hour_key
from loginsight.cli_output import console, err, friendly
from loginsight.settings import Settings, load_settings
from loginsight.terminal_views import plain

if TYPE_CHECKING:
    from loginsight_dagster.backfill import PartitionOutcome

MAX_HOURS = 24 * 366  # a year of hours; more is surely a typo


def parse_hour(text: str) -> datetime:
    """An hour as written on the command line: `2026-03-02T10` (UTC), `2026-03-02T10:00+02:00`,
    `2026-03-02T10Z`; a time within an hour means that hour."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not an hour: write it like 2026-03-02T10 (UTC) or 2026-03-02T12+02:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hours_between(first: datetime, last: datetime, settings: Settings, now: datetime) -> list[str]:
    """The partition keys from `first` to `last`, both included; every one must be a partition
    (not before `dagster.partitions_start`, not after the current hour)."""
    if last < first:
        raise ValueError(f"--to {hour_key(last)} is before --from {hour_key(first)}")
    start = settings.dagster.partitions_start
    earliest = datetime(start.year, start.month, start.day, tzinfo=UTC)
    if first < earliest:
        raise ValueError(
            f"--from {hour_key(first)} is before the first partition {hour_key(earliest)} "
            "(LOGINSIGHT_DAGSTER__PARTITIONS_START)"
        )
    if last > now:
        raise ValueError(f"--to {hour_key(last)} is after the current hour {hour_key(now)}")
    count = int((last - first) / timedelta(hours=1)) + 1
    if count > MAX_HOURS:
        raise ValueError(f"{count} hours is more than {MAX_HOURS}; backfill a shorter range")
    return [(first + timedelta(hours=n)).strftime(HOUR_FORMAT) for n in range(count)]


def backfill(
    from_: Annotated[
        str,
        typer.Option(
            "--from", help="first hour, included: 2026-03-02T10 (UTC) or 2026-03-02T12+02:00"
        ),
    ],
    to: Annotated[str, typer.Option("--to", help="last hour, included")],
) -> None:
    """Re-analyze past hours from the gateway's archive and replace their insights."""
    settings = load_settings()
    with friendly("backfill"):
        hours = hours_between(parse_hour(from_), parse_hour(to), settings, datetime.now(UTC))
    outcomes = _run_with_progress(settings, hours)
    failed = [o for o in outcomes if not o.success]
    for outcome in failed:
        err.print(Text.assemble((f"{outcome.hour} failed: ", "bold red"), plain(outcome.error)))
    stored = sum(o.insights for o in outcomes)
    console.print(
        f"backfilled {len(outcomes) - len(failed)} of {len(outcomes)} hour(s), "
        f"{stored} insight(s) stored; {len(failed)} failed"
    )
    if failed:
        raise typer.Exit(1)


def _run_with_progress(settings: Settings, hours: list[str]) -> list[PartitionOutcome]:
    # Dagster is imported here: it takes seconds, and no other command needs it. Its beta and
    # preview notices are for developers, not for this command's output.
    warnings.filterwarnings("ignore", module=r"dagster\.")
    import dagster as dg

    from loginsight.launcher import prepare_dagster_home
    from loginsight_dagster.backfill import run_backfill

    home = prepare_dagster_home(settings)
    os.environ["DAGSTER_HOME"] = str(home)  # for anything Dagster resolves from the environment
    columns = (
        TextColumn("backfill {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        TimeElapsedColumn(),
    )
    with (
        dg.DagsterInstance.from_config(str(home)) as instance,
        Progress(*columns, console=console) as progress,
    ):
        task = progress.add_task(f"{hours[0]} … {hours[-1]}", total=len(hours), failed=0)
        failed = 0

        def done(outcome: PartitionOutcome) -> None:
            nonlocal failed
            failed += 0 if outcome.success else 1
            progress.update(task, advance=1, failed=failed)

        return run_backfill(settings, instance, hours, done)
