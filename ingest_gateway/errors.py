"""Refusals a source answers with: a client error naming the problem, or backpressure."""

from __future__ import annotations

from loginsight.bus import BusUnavailable


class IngestRefused(ValueError):
    """The request can never be accepted as sent (permanent: the client must not retry it)."""

    def __init__(self, reason: str, detail: str, status: int = 400) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason  # short machine-readable name: "malformed_json", "body_too_large" ...
        self.detail = detail
        self.status = status


class Backpressure(BusUnavailable):
    """The gateway holds as much as it may (the spool or the records in flight are at their
    bound): nothing of the request was accepted, the client should retry after `retry_after_s`.
    A BusUnavailable, so a source that knows only that still answers with a retryable error."""

    def __init__(self, reason: str, detail: str, status: int, retry_after_s: int) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason  # "spool_full" or "too_many_in_flight"
        self.detail = detail
        self.status = status  # 503 (spool full) or 429 (too much in flight)
        self.retry_after_s = retry_after_s
