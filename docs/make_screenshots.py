"""Screenshots of the web dashboard for the README, from a real run of the pipeline.

    .venv/bin/python docs/make_screenshots.py [--out docs/screenshots]

Starts a gateway on free ports with a throwaway data folder, sends an hour of made-up traffic
(two incidents, one of them twice, and routine warnings), runs the Dagster sensors and jobs in
process, and photographs the pages in headless Chromium (`/usr/bin/chromium`, Debian's package).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SERVICES = ("api-gateway", "checkout", "payments-db", "search", "auth")


def traffic(now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """An hour of logs in two parts: until 20 minutes ago, and since."""
    rng = random.Random(7)
    records: list[dict[str, Any]] = []

    def log(minutes_ago: float, service: str, level: str, message: str) -> None:
        ts = now - timedelta(minutes=minutes_ago)
        records.append(
            {"ts": ts.isoformat(), "service": service, "level": level, "message": message}
        )

    for minute in range(60):
        for service in SERVICES:
            for _ in range(rng.randint(3, 9) + (6 if service == "api-gateway" else 0)):
                log(
                    minute + rng.random(),
                    service,
                    "info",
                    f"GET /v1/{service} 200 {rng.randint(3, 90)}ms",
                )
    for minute in (52, 37, 21, 8):
        log(minute, "auth", "warn", "token refresh: ERROR upstream idp slow, retried")
    for ago, size in ((34.0, 6), (5.0, 4)):  # the connection pool runs out, twice
        for n in range(size):
            log(
                ago - n / 12,
                "payments-db",
                "error",
                f"FATAL: sorry, too many clients already ({100 + n})",
            )
            log(
                ago - n / 12 - 0.02,
                "checkout",
                "error",
                f"payment failed: upstream payments-db timeout after {3000 + 50 * n}ms",
            )
        for n in range(size // 2):
            log(
                ago - n / 10 - 0.05,
                "api-gateway",
                "error",
                "502 Bad Gateway from checkout: upstream reset",
            )
    for n in range(7):  # search runs out of heap
        log(
            26 - n / 15,
            "search",
            "error",
            f"java.lang.OutOfMemoryError: Java heap space (shard {n % 3})",
        )
    cut = (now - timedelta(minutes=20)).isoformat()
    return [r for r in records if r["ts"] < cut], [r for r in records if r["ts"] >= cut]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))  # tests/ holds the gateway and browser helpers
    from tests.browser import chromium
    from tests.dashboard_pipeline import PipelineDriver, send_logs
    from tests.support import make_settings, running_gateway

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        settings = make_settings(
            Path(scratch) / "data", sensor={"max_batch_records": 5000, "max_batch_age_s": 0}
        )
        driver = PipelineDriver(settings)
        with running_gateway(settings) as gateway, chromium(Path(scratch) / "profile") as browser:
            for part in traffic(datetime.now(UTC)):
                send_logs(gateway.url, part)
                driver.analyze()
            page = browser.new_page()
            ui = f"{gateway.url}/ui"
            page.goto(f"{ui}/?since=1h")
            href = page.locator(
                '#incidents tr[data-service="payments-db"] td.title a'
            ).get_attribute("href")
            shots = {
                "overview": f"{ui}/?since=1h",
                "incident": f"{gateway.url}{href}",
                "filtered": f"{ui}/?since=1h&service=checkout&severity=error",
            }
            for name, url in shots.items():
                page.goto(url)
                path = args.out / f"{name}.png"
                page.screenshot(path=str(path), full_page=True)
                sys.stdout.write(
                    f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}\n"
                )


if __name__ == "__main__":
    main()
