"""`loginsight status`: what runs, where, how far behind the bus is, and what was found last.

Every probe is best effort and short: a part that is down is reported as down, never raised, so
the command answers even when nothing runs.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import httpx

from loginsight.client import GatewayError, fetch_stats, gateway_healthy
from loginsight.insight_lookup import dagster_url
from loginsight.launcher import UpRecord
from loginsight.settings import TOPIC_INSIGHTS_PROCESSED, TOPIC_LOGS_TO_ANALYZE, Settings
from loginsight.store import build_store

# The sensor that consumes each topic; its cursor is the consumer position.
SENSOR_OF_TOPIC = {
    TOPIC_LOGS_TO_ANALYZE: "logs_to_analyze_sensor",
    TOPIC_INSIGHTS_PROCESSED: "insights_processed_sensor",
}
ERROR_RATE_WINDOW_MIN = 5


def gather_status(settings: Settings) -> dict[str, Any]:
    """The whole status as one JSON-ready object (what `status --json` prints)."""
    up = UpRecord.read(settings)
    gateway_up = gateway_healthy(settings.gateway.base_url)
    dagster = dagster_url(settings)
    return {
        "data_dir": str(settings.data_dir),
        "up": {"running": up is not None, "pid": up.pid if up else None},
        "services": {
            "gateway": {
                "url": settings.gateway.base_url,
                "health": f"{settings.gateway.base_url}/healthz",
                "up": gateway_up,
            },
            "dagster": {
                "url": dagster,
                "health": f"{dagster}/server_info",
                "up": _answers(f"{dagster}/server_info"),
            },
        },
        "errors_per_minute": _errors_per_minute(settings) if gateway_up else None,
        "bus": _bus_lag(settings),
        "last_insight": _last_insight(settings),
    }


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _errors_per_minute(settings: Settings) -> float | None:
    try:
        body = fetch_stats(settings.gateway.base_url, f"{ERROR_RATE_WINDOW_MIN}m", "service")
    except GatewayError:
        return None
    return round(sum(int(row["errors"]) for row in body["rows"]) / ERROR_RATE_WINDOW_MIN, 2)


def _bus_lag(settings: Settings) -> dict[str, Any]:
    """End offsets per topic, and the lag behind each consuming sensor's cursor when the Dagster
    instance in `data_dir/dagster` has one."""
    if settings.bus == "sqlite" and not settings.bus_db_path.exists():
        return {"kind": settings.bus, "error": "no embedded bus yet (nothing was ingested)"}
    cursors = _sensor_cursors(settings)
    topics: dict[str, Any] = {}
    from loginsight.bus import build_bus

    try:
        with build_bus(settings) as bus:
            for topic, sensor in SENSOR_OF_TOPIC.items():
                topics[topic] = _topic_lag(bus.end_offsets(topic), cursors.get(sensor))
    except Exception as exc:  # a broker that is down is a status, not a crash
        return {"kind": settings.bus, "error": f"bus unavailable: {exc}"}
    return {"kind": settings.bus, "topics": topics}


def _topic_lag(end: dict[int, int], cursor: str | None) -> dict[str, Any]:
    total = sum(end.values())
    if cursor is None:
        return {"end_offsets": total, "lag": None, "sensor_cursor": False}
    from sensors.bus_batch_sensor import BatchCursor  # the sensor's own cursor format

    return {"end_offsets": total, "lag": BatchCursor.parse(cursor).lag(end), "sensor_cursor": True}


def _sensor_cursors(settings: Settings) -> dict[str, str]:
    """Sensor name -> cursor, from the Dagster instance `loginsight up` runs on, if any."""
    if not (settings.dagster_home / "dagster.yaml").exists():
        return {}
    import dagster as dg

    # Dagster logs instance warnings to stderr; status output stays one clean report.
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
                states = instance.all_instigator_state()
        except Exception:  # an unreadable instance means no cursors
            return {}
    cursors = {}
    for state in states:
        cursor = getattr(state.instigator_data, "cursor", None)
        if cursor:
            cursors[state.instigator_name] = cursor
    return cursors


def _last_insight(settings: Settings) -> dict[str, Any] | None:
    try:
        with build_store(settings) as store:
            latest = store.list_insights(1)
    except Exception as exc:  # a store that is down is a status, not a crash
        return {"error": f"insight store unavailable: {exc}"}
    if not latest:
        return None
    insight = latest[0]
    return {
        "id": insight.fingerprint,
        "service": insight.service,
        "title": insight.title,
        "last_seen": insight.last_seen.isoformat(),
    }
