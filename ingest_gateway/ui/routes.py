"""The web dashboard, mounted on the gateway under `/ui`: server-rendered pages (Jinja with
autoescape on) and the JSON they poll for live refresh. Read-only: hot stats from the gateway's
own `StatsWriter`, insights from the insight store, topic sizes from the bus."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, StrictUndefined

from ingest_gateway.ui import views
from loginsight.bus import Bus
from loginsight.insight import StoredInsight
from loginsight.model import Level
from loginsight.redact import redact
from loginsight.settings import TOPIC_INSIGHTS_PROCESSED, TOPIC_LOGS_TO_ANALYZE, Settings
from loginsight.store import InsightStore, build_store

log = logging.getLogger(__name__)

# Insights read per page view; filters apply to these, the most recently seen.
MAX_INSIGHTS_READ = 1_000
MAX_FINGERPRINT_CHARS = 128

# Defence in depth under the escaping: no inline script or style can run even if some text
# slipped through unescaped, and nothing is loaded from anywhere but the gateway.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

STATIC_FILES = {
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
}

_templates = Jinja2Templates(
    env=Environment(
        loader=PackageLoader("ingest_gateway.ui", "templates"),
        autoescape=True,  # every value is HTML-escaped unless a template says otherwise
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
)


class StoreUnavailable(RuntimeError):
    """The insight store could not be read; the page says so and shows the rest."""


class InsightReader:
    """The insight store, opened on first use and reopened after a failure: a store that is down
    costs a notice on the dashboard, never a gateway that will not start."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._store: InsightStore | None = None
        self._lock = threading.Lock()

    def _call(self, read: str, *args: Any) -> Any:
        with self._lock:
            try:
                if self._store is None:
                    self._store = build_store(self._settings)
                return getattr(self._store, read)(*args)
            except Exception as exc:  # any adapter's error: sqlite3, psycopg, OSError ...
                log.warning("dashboard: insight store read failed: %s", exc)
                self._close_locked()
                raise StoreUnavailable(redact(str(exc)) or type(exc).__name__) from exc

    def list_insights(self, limit: int) -> list[StoredInsight]:
        return list(self._call("list_insights", limit))

    def get_insight(self, fingerprint: str) -> StoredInsight | None:
        found: StoredInsight | None = self._call("get_insight", fingerprint)
        return found

    def insight_batches(self, fingerprint: str) -> list[Any]:
        return list(self._call("insight_batches", fingerprint))

    def _close_locked(self) -> None:
        if self._store is not None:
            try:
                self._store.close()
            finally:
                self._store = None

    def close(self) -> None:
        with self._lock:
            self._close_locked()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Runs inside the gateway's lifespan, after app.state.settings is set.
    reader = InsightReader(app.state.settings)
    app.state.ui_insights = reader
    try:
        yield
    finally:
        await asyncio.to_thread(reader.close)


router = APIRouter(prefix=views.UI_PREFIX, lifespan=_lifespan, include_in_schema=False)


def _bus_topics(bus: Bus) -> dict[str, Any]:
    """Messages on each topic so far (end offsets summed over partitions). The gateway does not
    know the Dagster sensors' cursors, so this is what was published, not what is left to read."""
    topics = []
    for topic in (TOPIC_LOGS_TO_ANALYZE, TOPIC_INSIGHTS_PROCESSED):
        ends = bus.end_offsets(topic)
        topics.append({"topic": topic, "messages": sum(ends.values()), "partitions": len(ends)})
    return {"topics": topics, "error": None}


async def _bus_state(request: Request) -> dict[str, Any]:
    try:
        return await asyncio.to_thread(_bus_topics, request.app.state.pipeline.bus)
    except Exception as exc:  # BusUnavailable, or a broker that went away
        return {"topics": [], "error": redact(str(exc)) or type(exc).__name__}


async def _overview_data(request: Request, filters: views.Filters) -> dict[str, Any]:
    state = request.app.state
    now = datetime.now(UTC)
    stats_error = None
    try:
        series = await asyncio.to_thread(
            state.stats.series, filters.window, "service", views.SERIES_BUCKETS
        )
    except Exception as exc:  # the page still shows the insights
        log.warning("dashboard: stats read failed: %s", exc)
        series, stats_error = {"rows": [], "buckets": 0, "step_s": 60}, str(exc)
    store_error = None
    try:
        insights = await asyncio.to_thread(state.ui_insights.list_insights, MAX_INSIGHTS_READ)
    except StoreUnavailable as exc:
        insights, store_error = [], str(exc)
    bus = await _bus_state(request)
    return views.overview(filters, series, insights, bus, now, store_error, stats_error)


def _render(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    settings: Settings = request.app.state.settings
    page = {
        "dagster_url": settings.dagster_url,
        "refresh_ms": int(settings.ui.refresh_s * 1000),
        "prefix": views.UI_PREFIX,
        **context,
    }
    return _templates.TemplateResponse(
        request, template, page, status_code=status, headers=SECURITY_HEADERS
    )


def _problem_page(request: Request, status: int, title: str, detail: str) -> Response:
    return _render(request, "problem.html", {"title": title, "detail": detail}, status)


def _json(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=SECURITY_HEADERS)


FilterParam = Annotated[str | None, Query(max_length=views.MAX_QUERY_CHARS)]


@router.get("")
async def ui_root() -> RedirectResponse:
    return RedirectResponse(f"{views.UI_PREFIX}/", status_code=308)


@router.get("/")
async def overview_page(
    request: Request,
    service: FilterParam = None,
    severity: FilterParam = None,
    since: FilterParam = None,
    q: FilterParam = None,
) -> Response:
    """Ingest and error rates per service, incidents, bus topics; filterable."""
    try:
        filters = views.Filters.parse(service, severity, since, q)
    except ValueError as exc:
        return _problem_page(request, 400, "Bad filter", str(exc))
    data = await _overview_data(request, filters)
    return _render(
        request,
        "overview.html",
        {
            "data": data,
            "since_choices": views.SINCE_CHOICES,
            "severities": [level.value for level in Level],
            "api_url": f"{views.UI_PREFIX}/api/overview",
        },
    )


@router.get("/api/overview")
async def overview_json(
    request: Request,
    service: FilterParam = None,
    severity: FilterParam = None,
    since: FilterParam = None,
    q: FilterParam = None,
) -> JSONResponse:
    """The overview's data, for live refresh and scripts."""
    try:
        filters = views.Filters.parse(service, severity, since, q)
    except ValueError as exc:
        return _json({"error": "invalid_filter", "detail": str(exc)}, 400)
    return _json(await _overview_data(request, filters))


async def _incident_data(request: Request, fingerprint: str) -> dict[str, Any] | None:
    reader: InsightReader = request.app.state.ui_insights
    insight = await asyncio.to_thread(reader.get_insight, fingerprint)
    if insight is None:
        return None
    batches = await asyncio.to_thread(reader.insight_batches, fingerprint)
    settings: Settings = request.app.state.settings
    return views.incident(insight, batches, settings.dagster_url, datetime.now(UTC))


@router.get("/incidents/{fingerprint}")
async def incident_page(request: Request, fingerprint: str) -> Response:
    """One incident: root cause, evidence, blast radius, next steps, occurrences, links."""
    if len(fingerprint) > MAX_FINGERPRINT_CHARS:
        return _problem_page(request, 404, "No such incident", "That fingerprint is too long.")
    try:
        data = await _incident_data(request, fingerprint)
    except StoreUnavailable as exc:
        return _problem_page(request, 503, "Insight store unavailable", str(exc))
    if data is None:
        return _problem_page(
            request, 404, "No such incident", f"No insight has the fingerprint {fingerprint!r}."
        )
    return _render(
        request,
        "incident.html",
        {"data": data, "api_url": views.incident_url(fingerprint, api=True)},
    )


@router.get("/api/incidents/{fingerprint}")
async def incident_json(request: Request, fingerprint: str) -> JSONResponse:
    """One incident's data, for live refresh and scripts."""
    if len(fingerprint) > MAX_FINGERPRINT_CHARS:
        return _json({"error": "not_found", "detail": "fingerprint too long"}, 404)
    try:
        data = await _incident_data(request, fingerprint)
    except StoreUnavailable as exc:
        return _json({"error": "store_unavailable", "detail": str(exc)}, 503)
    if data is None:
        return _json({"error": "not_found", "detail": "no insight has this fingerprint"}, 404)
    return _json(data)


_static = resources.files("ingest_gateway.ui") / "static"


@router.get("/static/{name}")
async def static_file(name: str) -> Response:
    """The dashboard's own CSS and JS (nothing else is served from here)."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        return Response("not found", status_code=404, media_type="text/plain")
    body = (_static / name).read_bytes()
    return Response(body, media_type=media_type, headers={"Cache-Control": "no-cache"})
