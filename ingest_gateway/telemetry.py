"""Named telemetry of the gateway, one place for every counter (served at `GET /metrics`).

Label `source` is the record's source kind (http, sdk, otlp, syslog, file, datadog, cloudwatch,
loki); `reason` is the short refusal name a client also sees (malformed_json, body_too_large ...).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge

from ingest_gateway.errors import IngestRefused

RECORDS_RECEIVED = Counter(
    "loginsight_records_received", "Records parsed from requests, before filtering", ["source"]
)
RECORDS_ACCEPTED = Counter(
    "loginsight_records_accepted", "Records made durable and acknowledged", ["source"]
)
RECORDS_MATCHED = Counter(
    "loginsight_records_matched", "Accepted records matched by a filter rule", ["source"]
)
REQUESTS_REJECTED = Counter(
    "loginsight_requests_rejected", "Requests or records refused, by reason", ["source", "reason"]
)
BYTES_RECEIVED = Counter(
    "loginsight_bytes_received", "Request body bytes as received (compressed)", ["source"]
)
BUS_DELIVERY_FAILED = Counter(
    "loginsight_bus_delivery_failed",
    "Batches the bus did not confirm in time (spooled; answered 503 when there is no spool)",
    ["source"],
)
RECORDS_SPOOLED = Counter(
    "loginsight_records_spooled",
    "Matched records fsynced to the local spool instead of the bus, to be drained in order",
    ["source"],
)
SPOOL_DRAINED = Counter(
    "loginsight_spool_drained", "Spooled records the bus confirmed, let go by the spool"
)
SPOOL_RECORDS = Gauge("loginsight_spool_records", "Records waiting in the local spool")
RECORDS_TRUNCATED = Counter(
    "loginsight_records_truncated", "Records cut at the size limit and marked truncated", ["source"]
)
PARSE_FALLBACK = Counter(
    "loginsight_parse_fallback",
    "Records kept as raw text because their wire format did not parse",
    ["source"],
)


def rejected(source: str, reason: str, count: int = 1) -> None:
    REQUESTS_REJECTED.labels(source=source, reason=reason).inc(count)


@contextmanager
def counting_refusals(source: str) -> Iterator[None]:
    """`with counting_refusals("datadog"): ...` counts an IngestRefused by reason, re-raising it."""
    try:
        yield
    except IngestRefused as exc:
        if exc.reason != "unauthenticated":  # KeyChecker counts those itself
            rejected(source, exc.reason)
        raise
