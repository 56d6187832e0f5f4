"""A small client of the gateway's HTTP API, used by the CLI."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

BATCH_LINES = 1000


class GatewayError(RuntimeError):
    pass


@dataclass
class SendTotals:
    accepted: int = 0
    matched: int = 0
    requests: int = 0


def records_of_file(path: Path, service: str) -> Iterator[dict[str, Any]]:
    """JSON-object lines pass as they are; any other line becomes `{"message": line}`."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            record: Any = None
            if text.lstrip().startswith("{"):
                try:
                    record = json.loads(text)
                except json.JSONDecodeError:
                    record = None
            if not isinstance(record, dict):
                record = {"message": text}
            record.setdefault("service", service)
            yield record


def _batches(records: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for record in records:
        batch.append(record)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def send_records(
    base_url: str, records: Iterable[dict[str, Any]], timeout_s: float = 30.0
) -> SendTotals:
    """POST records as gzip NDJSON in batches; stops at the first refusal."""
    totals = SendTotals()
    with httpx.Client(base_url=base_url, timeout=timeout_s) as client:
        for batch in _batches(records, BATCH_LINES):
            body = "\n".join(json.dumps(r, ensure_ascii=False) for r in batch).encode()
            reply = client.post(
                "/v1/ingest",
                content=gzip.compress(body),
                headers={"content-type": "application/x-ndjson", "content-encoding": "gzip"},
            )
            if reply.status_code != 200:
                raise GatewayError(f"gateway answered {reply.status_code}: {reply.text[:500]}")
            result = reply.json()
            totals.accepted += int(result["accepted"])
            totals.matched += int(result["matched"])
            totals.requests += 1
    return totals


def fetch_stats(base_url: str, window: str, by: str) -> dict[str, Any]:
    reply = httpx.get(f"{base_url}/v1/stats", params={"window": window, "by": by}, timeout=10)
    if reply.status_code != 200:
        raise GatewayError(f"gateway answered {reply.status_code}: {reply.text[:500]}")
    body: dict[str, Any] = reply.json()
    return body
