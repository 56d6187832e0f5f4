"""`loginsight report`: the latest insight report, as the `insight_report_*` assets wrote it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markdown import Markdown
from rich.text import Text

from loginsight.cli_output import JsonFlag, console, fail
from loginsight.insight_report import report_name
from loginsight.report_render import LATEST_JSON, LATEST_MARKDOWN
from loginsight.settings import load_settings

Cadence = Literal["daily", "weekly"]


def newest_report(reports_dir: Path, cadence: Cadence | None, suffix: str) -> Path | None:
    """The newest report file: of any cadence (`latest.*`), or of one cadence by period."""
    if cadence is None:
        latest = reports_dir / (LATEST_JSON if suffix == ".json" else LATEST_MARKDOWN)
        return latest if latest.is_file() else None
    # Period labels sort by date, so the last name is the newest period.
    found = sorted(reports_dir.glob(f"{report_name(cadence)}-*{suffix}"))
    return found[-1] if found else None


def report(
    cadence: Annotated[
        Cadence | None, typer.Option(help="daily or weekly; the newest of either by default")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Render the latest insight report in the terminal (--json: the report's data)."""
    settings = load_settings()
    path = newest_report(settings.reports_dir, cadence, ".json" if as_json else ".md")
    if path is None:
        which = f"{cadence} " if cadence else ""
        fail(
            f"no {which}insight report in {settings.reports_dir} yet: materialize "
            "insight_report_daily in the Dagster UI, or wait for its schedule"
        )
    text = path.read_text(encoding="utf-8")
    if as_json:
        typer.echo(text)
        return
    console.print(Text(str(path), style="dim"), soft_wrap=True)
    # Log text in the report sits in code spans (see report_render), so Markdown renders it as
    # text; Rich markup in it is not interpreted by the Markdown renderer.
    console.print(Markdown(text))
