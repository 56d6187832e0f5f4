"""The web dashboard end to end, in headless Chromium: a real gateway serves `/ui`, the insights
come from the real pipeline (HTTP ingest -> bus -> Dagster sensors and jobs -> insight store),
and the browser checks what a person would see: data on the overview, the evidence of an
incident, filters that hide other services, live refresh, and log text that stays text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page

from loginsight.settings import Settings
from tests.browser import chromium
from tests.dashboard_pipeline import PipelineDriver, send_logs
from tests.support import RunningGateway, make_settings, running_gateway

XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_IMG = "<img src=x onerror=window.__xss=1>"
XSS_LINE = f"{XSS_SCRIPT} login failed for {XSS_IMG}"
DAGSTER_URL = "http://dagster.example.test:3999"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")

NOW = datetime.now(UTC).replace(microsecond=0)


def runs_for(batch: list[dict[str, Any]]) -> int:
    """The runs a batch makes: one analyze run per event hour it spans, and one store run."""
    hours = {datetime.fromisoformat(line["ts"]).strftime("%Y-%m-%dT%H") for line in batch}
    return len(hours) + 1


def at(minutes_ago: float, plus_s: float = 0) -> str:
    return (NOW - timedelta(minutes=minutes_ago, seconds=-plus_s)).isoformat()


# Three things happened: a connection-pool incident in payments-db that checkout felt 40
# minutes ago, a burst of hostile lines from web-frontend 10 minutes ago, and one routine
# warning from auth in between (background, not an incident).
FIRST_BATCH: list[dict[str, Any]] = [
    *(
        {
            "ts": at(40, 5 * n),
            "service": "payments-db",
            "host": "db-1",
            "level": "error",
            "message": f"too many connections (max {100 + n})",
        }
        for n in range(4)
    ),
    *(
        {
            "ts": at(40, 3 + 5 * n),
            "service": "checkout",
            "level": "error",
            "message": f"upstream payments-db timeout after {3000 + 100 * n}ms",
        }
        for n in range(3)
    ),
    *(
        {"ts": at(40, 7 * n), "service": "checkout", "level": "info", "message": f"order {n} ok"}
        for n in range(5)
    ),
    *(
        {"ts": at(10, 4 * n), "service": "web-frontend", "level": "error", "message": XSS_LINE}
        for n in range(5)
    ),
    {"ts": at(25), "service": "auth", "level": "warn", "message": "token refresh: ERROR expired"},
]
# The payments-db incident again, two minutes ago: the same fingerprint, a second batch.
LATER_BATCH: list[dict[str, Any]] = [
    {
        "ts": at(2, 4 * n),
        "service": "payments-db",
        "level": "error",
        "message": f"too many connections (max {200 + n})",
    }
    for n in range(5)
]


@dataclass
class Dashboard:
    gateway: RunningGateway
    driver: PipelineDriver

    @property
    def url(self) -> str:
        return f"{self.gateway.url}/ui/"

    def fingerprint_of(self, service: str) -> str:
        rows = httpx.get(f"{self.gateway.url}/ui/api/overview").json()["incidents"]
        [fingerprint] = [row["fingerprint"] for row in rows if row["service"] == service]
        return str(fingerprint)


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    settings: Settings = make_settings(
        tmp_path_factory.mktemp("dashboard") / "data",
        sensor={"max_batch_records": 1000, "max_batch_age_s": 0},
        ui={"refresh_s": 1.0, "dagster_url": DAGSTER_URL},
    )
    with running_gateway(settings) as gateway:
        assert send_logs(gateway.url, FIRST_BATCH) == {"accepted": 18, "matched": 13}
        driver = PipelineDriver(settings)
        # One analyze run per event hour the batch spans, then one store run.
        assert driver.analyze() == runs_for(FIRST_BATCH)
        yield Dashboard(gateway, driver)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    opened = browser.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    opened.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def cells(page: Page, selector: str) -> list[str]:
    return [text.strip() for text in page.locator(selector).all_inner_texts()]


def row_services(page: Page, table: str) -> list[str]:
    rows = page.locator(f"#{table} tbody tr[data-service]")
    return [str(name) for name in rows.evaluate_all("rows => rows.map(r => r.dataset.service)")]


def test_overview_shows_the_pipelines_data(dashboard: Dashboard, page: Page) -> None:
    reply = page.goto(dashboard.url)
    assert reply is not None and reply.status == 200
    assert "script-src 'self'" in reply.headers["content-security-policy"]

    assert sorted(row_services(page, "services")) == [
        "auth",
        "checkout",
        "payments-db",
        "web-frontend",
    ]
    assert page.locator('[data-total="records"]').inner_text() == "18"
    assert page.locator('[data-total="errors"]').inner_text() == "13"
    checkout = cells(page, '#services tr[data-service="checkout"] td.num')
    assert (checkout[1], checkout[3]) == ("8", "3")  # records, errors

    # Most recently seen first; each with its line count; the cross-service one names checkout.
    assert row_services(page, "incidents") == ["web-frontend", "auth", "payments-db"]
    assert cells(page, "#incidents tbody td.num") == ["5", "1", "7"]
    payments = page.locator('#incidents tr[data-service="payments-db"]')
    assert "connection" in payments.locator("td.title a").inner_text()
    assert payments.locator(".affected").inner_text() == "also checkout"
    assert page.locator('#incidents tr[data-service="auth"] .badge.kind').text_content() == (
        "background"
    )
    assert cells(page, "#bus td.name") == ["logs.to.analyze", "ai.insights.processed"]
    assert cells(page, "#bus td.num")[0] == "13"  # every match was published


def test_incident_page_shows_root_cause_and_evidence(dashboard: Dashboard, page: Page) -> None:
    page.goto(dashboard.url)
    page.locator('#incidents tr[data-service="payments-db"] td.title a').click()
    page.wait_for_url(re.compile(r"/ui/incidents/[0-9a-f]{32}$"))

    root_cause = page.locator("#root-cause").inner_text()
    assert "payments-db" in root_cause and "%" in root_cause  # with its confidence
    assert "too many connections (max <*>)" in cells(page, "pre.log")
    evidence = list(
        zip(
            cells(page, "#evidence tbody td.time"),
            cells(page, "#evidence tbody td.name"),
            cells(page, "#evidence tbody td code.log"),
            strict=True,
        )
    )
    assert (at_utc(at(40)), "payments-db", "too many connections (max 100)") in evidence
    assert all(TIMESTAMP.match(ts) for ts, _, _ in evidence), evidence
    assert cells(page, "#blast-radius td.name") == ["payments-db", "checkout"]
    assert cells(page, "#blast-radius td.num") == ["4", "3"]
    assert page.locator("#next-steps li").count() >= 1
    assert "payments-db" in page.locator("#summary").inner_text()

    asset = page.locator("#asset-link")
    assert asset.get_attribute("href") == f"{DAGSTER_URL}/assets/rca_insights"
    run = page.locator("#run-link").get_attribute("href") or ""
    assert run.startswith(f"{DAGSTER_URL}/runs?q%5B%5D=tag%3Adagster%2Frun_key%3Dlogs.to.analyze")
    assert cells(page, "#occurrences tbody td.num")[0] == "7"


def test_service_severity_and_search_filters(dashboard: Dashboard, page: Page) -> None:
    page.goto(dashboard.url)
    page.select_option("#filter-service", "web-frontend")
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(r"service=web-frontend"))
    assert row_services(page, "incidents") == ["web-frontend"]
    assert row_services(page, "services") == ["web-frontend"]
    assert page.locator("#incidents").get_by_text("payments-db").count() == 0

    # A service is involved in an incident as its root cause or in its blast radius.
    page.goto(f"{dashboard.url}?service=checkout")
    assert row_services(page, "incidents") == ["payments-db"]
    assert row_services(page, "services") == ["checkout"]

    page.goto(f"{dashboard.url}?severity=error")
    assert row_services(page, "incidents") == ["web-frontend", "payments-db"]  # auth is warn
    page.goto(f"{dashboard.url}?severity=fatal")
    assert row_services(page, "incidents") == []
    assert "No incidents match" in page.locator("#incidents").inner_text()

    page.goto(f"{dashboard.url}?since=15m")
    assert row_services(page, "incidents") == ["web-frontend"]
    page.goto(f"{dashboard.url}?q=connections")
    assert row_services(page, "incidents") == ["payments-db"]

    bad = page.goto(f"{dashboard.url}?since=yesterday")
    assert bad is not None and bad.status == 400
    assert "must look like" in page.locator(".problem").inner_text()


def test_log_text_is_shown_as_text_and_never_runs(dashboard: Dashboard, page: Page) -> None:
    incident = f"{dashboard.gateway.url}/ui/incidents/{dashboard.fingerprint_of('web-frontend')}"
    for url in (dashboard.url, incident):
        page.goto(url)
        # Wait for one live refresh, so the rows the script rebuilt are checked too.
        page.wait_for_function("Number(document.body.dataset.refreshes || 0) >= 1")
        assert page.evaluate("typeof window.__xss") == "undefined"
        assert XSS_SCRIPT in page.locator("main").inner_text()
        assert page.locator('img[src="x"]').count() == 0
        assert page.locator("main script").count() == 0
    assert XSS_LINE in cells(page, "#evidence tbody td code.log")
    assert XSS_SCRIPT in page.title()


def test_live_refresh_shows_new_data_without_reload(dashboard: Dashboard, page: Page) -> None:
    page.goto(dashboard.url)
    page.evaluate("window.__loaded = 'this page'")
    assert send_logs(dashboard.gateway.url, LATER_BATCH) == {"accepted": 5, "matched": 5}
    assert dashboard.driver.analyze() == runs_for(LATER_BATCH)

    page.wait_for_function(
        "document.querySelector('[data-total=\"records\"]').textContent === '23'"
    )
    page.wait_for_function(
        "document.querySelector('#incidents tbody tr').dataset.service === 'payments-db'"
    )
    assert cells(page, '#incidents tr[data-service="payments-db"] td.num') == ["12"]
    assert page.evaluate("window.__loaded") == "this page"  # updated in place, not reloaded

    page.goto(f"{dashboard.gateway.url}/ui/incidents/{dashboard.fingerprint_of('payments-db')}")
    assert page.locator("#occurrences tbody tr").count() == 2
    assert cells(page, "#occurrences tbody td.num")[::2] == ["7", "5"]  # lines per batch


def test_screenshots_of_each_page(dashboard: Dashboard, page: Page, tmp_path: Path) -> None:
    fingerprint = dashboard.fingerprint_of("payments-db")
    pages = {
        "overview": dashboard.url,
        "incident": f"{dashboard.gateway.url}/ui/incidents/{fingerprint}",
        "filtered": f"{dashboard.url}?service=checkout",
    }
    for name, url in pages.items():
        page.goto(url)
        shot = tmp_path / f"{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert shot.stat().st_size > 10_000  # a rendered page, not a blank one


def at_utc(iso: str) -> str:
    """An ISO time as the dashboard writes it."""
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
