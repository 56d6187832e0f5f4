"""`loginsight tui`: a live terminal view of error rates, incidents and their evidence.

Data is loaded in a worker thread on an interval and applied to the widgets in place (sparkline
data, table cells), so a refresh never clears the screen. Log text reaches widgets only as rich
`Text` (see `terminal_views`), never as markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Sparkline, Static

from loginsight.client import GatewayError, fetch_series
from loginsight.insight_lookup import dagster_links
from loginsight.settings import Settings
from loginsight.store import build_store
from loginsight.terminal_views import (
    InsightView,
    Series,
    insight_detail,
    level_text,
    plain,
)

INCIDENTS_SHOWN = 200
CHART_BUCKETS = 60
COLUMNS = ("id", "service", "level", "count", "last seen", "title")


@dataclass(frozen=True)
class Snapshot:
    """One refresh worth of data, or what went wrong fetching it."""

    series: Series | None
    insights: list[InsightView]
    problems: list[str] = field(default_factory=list)


def load_snapshot(settings: Settings, gateway_url: str, window: str) -> Snapshot:
    problems: list[str] = []
    series = None
    try:
        series = Series.of_body(fetch_series(gateway_url, window, "service", CHART_BUCKETS))
    except GatewayError as exc:
        problems.append(str(exc))
    views: list[InsightView] = []
    try:
        with build_store(settings) as store:
            views = [InsightView.of(i) for i in store.list_insights(INCIDENTS_SHOWN)]
    except Exception as exc:  # shown in the status line; the next refresh retries
        problems.append(f"insight store unavailable: {exc}")
    return Snapshot(series, views, problems)


class RateRow(Horizontal):
    """One service: name, a sparkline of errors per bucket, and the window's total."""

    DEFAULT_CSS = """
    RateRow { height: 1; }
    RateRow .rate-name { width: 24; }
    RateRow Sparkline { width: 1fr; height: 1; }
    RateRow .rate-total { width: 12; text-align: right; }
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        self.service = name
        self.chart = Sparkline([0], summary_function=max)
        self.total = Static(classes="rate-total")

    def compose(self) -> ComposeResult:
        yield Static(plain(self.service), classes="rate-name")
        yield self.chart
        yield self.total

    def show(self, errors: list[int]) -> None:
        self.chart.data = errors or [0]
        self.total.update(Text(f"{sum(errors)} errors", style="red" if sum(errors) else "dim"))


class IncidentTable(DataTable[Text]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]


class IncidentScreen(Screen[None]):
    """One incident in full; Escape goes back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,backspace,h", "app.pop_screen", "Back"),
        Binding("j", "scroll('down')", "Down", show=False),
        Binding("k", "scroll('up')", "Up", show=False),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, view: InsightView, settings: Settings) -> None:
        super().__init__()
        self.view = view
        self.settings = settings
        self.detail = Static(insight_detail(view), id="detail")

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="detail-scroll"):
            yield self.detail
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.view.id
        self.load_links()

    def action_scroll(self, direction: str) -> None:
        scroller = self.query_one("#detail-scroll", VerticalScroll)
        scroller.scroll_relative(y=1 if direction == "down" else -1, animate=False)

    @work(thread=True, exclusive=True)
    def load_links(self) -> None:
        try:
            with build_store(self.settings) as store:
                keys = store.batch_keys(self.view.id, limit=1)
        except Exception:  # the detail is shown without links then
            return
        links = dagster_links(self.settings, keys[0] if keys else None)
        self.app.call_from_thread(self.detail.update, insight_detail(self.view, links))


class LogInsightApp(App[None]):
    """Error rate per service, the incident list, and each incident's detail."""

    TITLE = "Log Insight"
    CSS = """
    #rates { height: auto; max-height: 14; border: round $primary; border-title-align: left; }
    #incidents { height: 1fr; border: round $secondary; }
    #status { height: 1; padding: 0 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("r", "refresh_now", "Refresh"),
        Binding("enter", "open_incident", "Open", show=True),
    ]

    def __init__(
        self, settings: Settings, gateway_url: str, window: str = "1h", refresh_s: float = 3.0
    ) -> None:
        super().__init__()
        self.settings = settings
        self.gateway_url = gateway_url
        self.window = window
        self.refresh_s = refresh_s
        self.rate_rows: dict[str, RateRow] = {}
        self.views: dict[str, InsightView] = {}
        self.refreshes = 0  # applied snapshots; tests wait on it

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            rates = Vertical(id="rates")
            rates.border_title = f"errors per service, last {self.window}"
            yield rates
            table = IncidentTable(id="incidents", cursor_type="row", zebra_stripes=True)
            table.border_title = "incidents (enter: open, j/k: move, q: quit)"
            yield table
        yield Static(id="status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(IncidentTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        table.focus()
        self.refresh_data()
        self.set_interval(self.refresh_s, self.refresh_data)

    def action_refresh_now(self) -> None:
        self.refresh_data()

    @work(thread=True, exclusive=True, group="refresh")
    def refresh_data(self) -> None:
        snapshot = load_snapshot(self.settings, self.gateway_url, self.window)
        self.call_from_thread(self.apply, snapshot)

    def apply(self, snapshot: Snapshot) -> None:
        if snapshot.series is not None:
            self._apply_rates(snapshot.series)
        self._apply_incidents(snapshot.insights)
        status = self.query_one("#status", Static)
        if snapshot.problems:
            status.update(plain(" · ".join(snapshot.problems), "yellow"))
        else:
            status.update(
                Text(
                    f"{len(snapshot.insights)} incidents · gateway {self.gateway_url} · "
                    f"refreshed {datetime.now():%H:%M:%S}"
                )
            )
        self.refreshes += 1

    def _apply_rates(self, series: Series) -> None:
        rates = self.query_one("#rates", Vertical)
        for key in series.keys_by_errors():
            row = self.rate_rows.get(key)
            if row is None:
                row = self.rate_rows[key] = RateRow(key)
                rates.mount(row)
            row.show(series.errors[key])
        for key, row in self.rate_rows.items():
            if key not in series.errors:
                row.show([])

    def _apply_incidents(self, views: list[InsightView]) -> None:
        table = self.query_one(IncidentTable)
        selected = self._selected_id()
        wanted = {view.id: view for view in views}
        for key in [k for k in self.views if k not in wanted]:
            table.remove_row(key)
        for view in views:
            cells = self._cells(view)
            if view.id in self.views:
                for column, cell in zip(COLUMNS, cells, strict=True):
                    table.update_cell(view.id, column, cell)
            else:
                table.add_row(*cells, key=view.id)
        self.views = wanted
        if [key.value for key in table.rows] != list(wanted):
            # Newest first, as the store lists them; rows move, none is redrawn from scratch.
            order = {view.id[:12]: n for n, view in enumerate(views)}
            table.sort("id", key=lambda cell: order.get(cell.plain, len(order)))
        if selected in wanted:
            table.move_cursor(row=table.get_row_index(selected), scroll=False)

    @staticmethod
    def _cells(view: InsightView) -> tuple[Text, ...]:
        return (
            Text(view.id[:12], style="cyan"),
            plain(view.service),
            level_text(view.level),
            Text(str(view.count), justify="right"),
            Text(f"{view.last_seen:%Y-%m-%d %H:%M:%S}"),
            plain(view.title),
        )

    def _selected_id(self) -> str | None:
        table = self.query_one(IncidentTable)
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return row_key.value

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self._open(event.row_key.value)

    def action_open_incident(self) -> None:
        self._open(self._selected_id())

    def _open(self, ident: str | None) -> None:
        view = self.views.get(ident or "")
        if view is not None and not isinstance(self.screen, IncidentScreen):
            self.push_screen(IncidentScreen(view, self.settings))
