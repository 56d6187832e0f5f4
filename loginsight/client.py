"""A small client of the gateway's HTTP API, used by the CLI."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

BATCH_LINES = 1000


class GatewayError(RuntimeError):
    """The gateway refused a call or could not be reached; the message says what to do."""


def _unreachable(base_url: str, exc: httpx.HTTPError) -> GatewayError:
    if isinstance(exc, httpx.TransportError):
        return GatewayError(
            f"no gateway at {base_url} ({type(exc).__name__}): start it with `loginsight up`, "
            "or pass --url"
        )
    return GatewayError(f"gateway call failed: {exc}")


def _refused(reply: httpx.Response) -> GatewayError:
    try:
        body = reply.json()
        detail = body.get("detail") if isinstance(body, dict) else None
    except ValueError:
        detail = None
    return GatewayError(f"gateway answered {reply.status_code}: {detail or reply.text[:500]}")


@dataclass
class SendTotals:
    accepted: int = 0
    matched: int = 0
    requests: int = 0


def records_of_file(path: Path, service: str) -> Iterator[dict[str, Any]]:
    """JSON-object lines pass as they are; any other line becomes `{"message": line}`."""
    with path.open("rb") as handle:
        yield from records_of_lines(handle, service)


def records_of_lines(
    lines: Iterable[bytes], service: str, on_line: Callable[[int], None] | None = None
) -> Iterator[dict[str, Any]]:
    """Records of raw lines (a file or stdin opened in binary); `on_line(bytes)` is told the
    size of every line read, blank ones included, so a caller can show progress."""
    for raw in lines:
        if on_line is not None:
            on_line(len(raw))
        text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
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
            try:
                reply = client.post(
                    "/v1/ingest",
                    content=gzip.compress(body),
                    headers={"content-type": "application/x-ndjson", "content-encoding": "gzip"},
                )
            except httpx.HTTPError as exc:
                raise _unreachable(base_url, exc) from exc
            if reply.status_code != 200:
                raise _refused(reply)
            result = reply.json()
            totals.accepted += int(result["accepted"])
            totals.matched += int(result["matched"])
            totals.requests += 1
    return totals


def _get_json(base_url: str, path: str, params: dict[str, Any], timeout_s: float) -> Any:
    try:
        reply = httpx.get(f"{base_url}{path}", params=params, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise _unreachable(base_url, exc) from exc
    if reply.status_code != 200:
        raise _refused(reply)
    return reply.json()


def fetch_stats(base_url: str, window: str, by: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """`GET /v1/stats`: totals per value of `by` over the window."""
    body: dict[str, Any] = _get_json(base_url, "/v1/stats", {"window": window, "by": by}, timeout_s)
    return body


def fetch_series(
    base_url: str, window: str, by: str, buckets: int = 60, timeout_s: float = 10.0
) -> dict[str, Any]:
    """`GET /v1/stats/series`: counts per value of `by` per time bucket over the window."""
    params = {"window": window, "by": by, "buckets": buckets}
    body: dict[str, Any] = _get_json(base_url, "/v1/stats/series", params, timeout_s)
    return body


def gateway_healthy(base_url: str, timeout_s: float = 2.0) -> bool:
    """True when the gateway answers `GET /healthz` with 200."""
    try:
        return httpx.get(f"{base_url}/healthz", timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False
