"""Headless Chromium from Debian's package (`scripts/test_tools.sh` installs it), driven by
Playwright. Playwright's own browser download is never used: nothing is fetched at test time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import BrowserContext, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # the tests run as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}


@contextmanager
def chromium(profile_dir: Path) -> Iterator[BrowserContext]:
    """A browser context on a fresh profile (`--user-data-dir`), closed on exit.

    Pages' Content-Security-Policy is bypassed: Playwright's waits evaluate script, and an
    XSS check must prove the escaping alone keeps log text inert, not the policy behind it."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run `bash scripts/test_tools.sh` first")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile_dir),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport=VIEWPORT,  # type: ignore[arg-type]
            bypass_csp=True,
        )
        try:
            yield context
        finally:
            context.close()
