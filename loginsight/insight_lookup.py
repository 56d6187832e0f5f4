"""Finding insights for people: filters, ids typed as short prefixes, links into Dagster."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

import httpx

from loginsight.insight import StoredInsight
from loginsight.model import Level
from loginsight.settings import Settings
from loginsight.store import InsightStore
from loginsight.terminal_views import InsightView

# The store lists by recency; filters apply to this many of the latest insights.
SCAN_LIMIT = 10_000
MIN_ID_PREFIX = 4
FINGERPRINT_CHARS = 32
RCA_ASSET = "rca_insights"
RUN_KEY_TAG = "dagster/run_key"

_RUN_BY_KEY_QUERY = """
query RunByKey($key: String!) {
  runsOrError(filter: {tags: [{key: "dagster/run_key", value: $key}]}, limit: 1) {
    ... on Runs { results { runId } }
  }
}
"""


class InsightNotFound(LookupError):
    """No insight (or more than one) has the id a person typed; the message says what to do."""


@dataclass(frozen=True)
class InsightFilter:
    """Keeps insights last seen at or after `since`, of `service`, at `severity` or worse."""

    since: datetime | None = None
    service: str | None = None
    severity: Level | None = None

    def keeps(self, view: InsightView) -> bool:
        if self.since is not None and view.last_seen < self.since:
            return False
        if self.service is not None and view.service != self.service:
            return False
        return self.severity is None or view.severity >= self.severity.severity_number


def parse_severity(text: str | None) -> Level | None:
    if text is None:
        return None
    level = Level.parse(text)
    if level is None:
        names = ", ".join(level.value for level in Level)
        raise ValueError(f"--severity {text!r} is not a level; use one of {names}")
    return level


def select_insights(store: InsightStore, keep: InsightFilter, limit: int) -> list[StoredInsight]:
    """The latest insights the filter keeps, at most `limit`."""
    found = []
    for insight in store.list_insights(SCAN_LIMIT):
        if keep.keeps(InsightView.of(insight)):
            found.append(insight)
            if len(found) == limit:
                break
    return found


def find_insight(store: InsightStore, ident: str) -> StoredInsight:
    """The insight whose fingerprint is `ident` or starts with it (git-style short ids)."""
    wanted = ident.strip().lower()
    if len(wanted) < MIN_ID_PREFIX:
        raise InsightNotFound(
            f"id {ident!r} is too short: give at least {MIN_ID_PREFIX} characters of an id "
            "from `loginsight insights list`"
        )
    exact = store.get_insight(wanted) if len(wanted) == FINGERPRINT_CHARS else None
    if exact is not None:
        return exact
    matches = [i for i in store.list_insights(SCAN_LIMIT) if i.fingerprint.startswith(wanted)]
    if not matches:
        raise InsightNotFound(
            f"no insight with id {ident!r}; `loginsight insights list` shows the ids"
        )
    if len(matches) > 1 and not any(i.fingerprint == wanted for i in matches):
        raise InsightNotFound(f"id {ident!r} matches {len(matches)} insights; type more of it")
    return next((i for i in matches if i.fingerprint == wanted), matches[0])


def dagster_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.dagster_port}"


def dagster_links(settings: Settings, batch_key: str | None) -> dict[str, str]:
    """Links to the RCA asset and to the run that analyzed the insight's latest batch: the run's
    own page when Dagster is up and knows it, else its runs list filtered by the run key."""
    base = dagster_url(settings)
    links = {"asset": f"{base}/assets/{RCA_ASSET}"}
    if batch_key:
        run_id = _run_id_of(base, batch_key)
        links["run"] = (
            f"{base}/runs/{run_id}"
            if run_id
            else f"{base}/runs?q%5B0%5D={quote(f'tag:{RUN_KEY_TAG}={batch_key}', safe='')}"
        )
    return links


def _run_id_of(base: str, batch_key: str) -> str | None:
    try:
        reply = httpx.post(
            f"{base}/graphql",
            json={"query": _RUN_BY_KEY_QUERY, "variables": {"key": batch_key}},
            timeout=3,
        )
        results = reply.json()["data"]["runsOrError"]["results"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None  # Dagster is not running here, or answered something else
    return str(results[0]["runId"]) if results else None
