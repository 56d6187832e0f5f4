"""`loginsight tui` driven by Textual's pilot against a real gateway and the insights the real
pipeline stored: the chart, the incident list, keyboard navigation, the detail with its evidence,
hostile log text shown literally, and refreshes that update rows in place."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator

import httpx
import pytest
from textual.pilot import Pilot
from textual.widget import Widget

from loginsight.tui import IncidentScreen, IncidentTable, LogInsightApp
from tests.pipeline_data import PipelineData, pipeline_data

SIZE = (160, 50)
PAUSES = 300  # pilot pauses to wait for a worker's data before an assertion fails


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipelineData]:
    with pipeline_data(tmp_path_factory.mktemp("tui") / "data") as ready:
        yield ready


def screen_text(widget: Widget) -> str:
    """What `widget` shows on screen, line by line, as plain characters."""
    return "\n".join(widget.render_line(y).text for y in range(widget.size.height))


async def until(pilot: Pilot[None], condition: Callable[[], bool]) -> None:
    for _ in range(PAUSES):
        if condition():
            return
        await pilot.pause(0.05)
    assert condition()


def test_tui_lists_incidents_opens_detail_and_shows_log_text_literally(
    data: PipelineData,
) -> None:
    async def scenario() -> None:
        app = LogInsightApp(data.settings, data.gateway.url, "1h", refresh_s=0.5)
        async with app.run_test(size=SIZE) as pilot:
            table = app.query_one(IncidentTable)
            await until(pilot, lambda: table.row_count == 2 and len(app.rate_rows) >= 3)

            assert sum(app.rate_rows["payments-db"].chart.data or []) == 6
            assert sum(app.rate_rows["ledger"].chart.data or []) == 5
            assert sum(app.rate_rows["checkout"].chart.data or []) == 0
            listed = screen_text(table)
            assert "payments-db" in listed and "ledger" in listed
            assert "[red]x[/red] [link=https://evil.example]click[/link]" in listed
            assert "\\x1b[2J" in listed

            # Newest first: ledger, then payments-db. j moves down, k up, enter opens.
            assert table.cursor_row == 0
            await pilot.press("j")
            assert table.cursor_row == 1
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, IncidentScreen))
            assert isinstance(app.screen, IncidentScreen)
            assert app.screen.view.service == "payments-db"
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, IncidentScreen))

            await pilot.press("k", "enter")
            await until(pilot, lambda: isinstance(app.screen, IncidentScreen))
            detail_screen = app.screen
            assert isinstance(detail_screen, IncidentScreen)
            await until(pilot, lambda: "/assets/rca_insights" in screen_text(detail_screen.detail))
            detail = screen_text(detail_screen.detail)
            for heading in ("Root cause", "Evidence", "Blast radius", "Next steps", "Links"):
                assert heading in detail
            assert "ledger [red]x[/red] [link=https://evil.example]click[/link]" in detail
            assert "\x1b" not in detail
            await pilot.press("q")
        assert app.return_code == 0

    asyncio.run(scenario())


def test_tui_refresh_updates_rows_in_place(data: PipelineData) -> None:
    async def scenario() -> None:
        app = LogInsightApp(data.settings, data.gateway.url, "1h", refresh_s=0.5)
        async with app.run_test(size=SIZE) as pilot:
            table = app.query_one(IncidentTable)
            await until(pilot, lambda: table.row_count == 2 and "ledger" in app.rate_rows)
            rows_before = dict(app.rate_rows)
            charts_before = {key: row.chart for key, row in rows_before.items()}
            seen = app.refreshes
            reply = httpx.post(
                f"{data.gateway.url}/v1/ingest",
                content=json.dumps({"service": "ledger", "level": "error", "message": "late"}),
                headers={"content-type": "application/x-ndjson"},
            )
            assert reply.json()["matched"] == 1
            await until(pilot, lambda: sum(app.rate_rows["ledger"].chart.data or []) == 6)
            assert app.refreshes > seen
            # The same widgets got new data: nothing was torn down and rebuilt.
            assert all(app.rate_rows[key].chart is chart for key, chart in charts_before.items())
            assert table.row_count == 2
            await pilot.press("q")

    asyncio.run(scenario())


def test_tui_without_a_gateway_says_so_and_still_lists_incidents(data: PipelineData) -> None:
    async def scenario() -> None:
        app = LogInsightApp(data.settings, "http://127.0.0.1:9", "1h", refresh_s=0.5)
        async with app.run_test(size=SIZE) as pilot:
            table = app.query_one(IncidentTable)
            await until(pilot, lambda: table.row_count == 2)
            status = screen_text(app.query_one("#status", Widget))
            assert "no gateway at http://127.0.0.1:9" in status
            assert app.rate_rows == {}
            await pilot.press("q")

    asyncio.run(scenario())
