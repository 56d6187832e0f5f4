"""Time windows as people type them on the command line: `15m`, `1h`, `7d`, or a timestamp."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_SPAN = re.compile(r"^(\d{1,6})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_SPAN = timedelta(days=366)


def parse_span(text: str) -> timedelta:
    """`30s`, `15m`, `1h`, `7d` -> timedelta (the gateway's window syntax, up to 366 days)."""
    match = _SPAN.match(text.strip())
    if not match:
        raise ValueError(f"window {text!r} must look like 30s, 15m, 1h or 7d")
    span = timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    if span <= timedelta(0) or span > MAX_SPAN:
        raise ValueError(f"window {text!r} must be positive and at most 366d")
    return span


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """A span back from now (`1h`) or an ISO 8601 time (`2024-05-01T10:00`, UTC unless it says)."""
    try:
        return (now or datetime.now(UTC)) - parse_span(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since {text!r} must be a span like 15m, 1h, 7d or a time like 2024-05-01T10:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
