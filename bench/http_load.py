"""The load generator of bench.ingest_http, run as its own process so that its CPU is not the
gateway's: keep-alive HTTP/1.1 connections posting prebuilt NDJSON bodies to /v1/ingest.

    python -m bench.http_load --url http://127.0.0.1:8080 --bodies DIR --connections 4 \
        --duration 15 [--rate 100] [--gzip]

Closed loop (no --rate): every connection posts its next body as soon as the last one is
acknowledged, which finds the peak. Open loop (--rate R requests/s): requests are due at fixed
times, and a request's latency runs from when it was due (so a stalled gateway is not hidden by
the generator waiting for it). Prints one JSON object of counts and latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


@dataclass
class Body:
    payload: bytes  # what goes on the wire
    raw_bytes: int  # NDJSON bytes before compression
    lines: int


@dataclass
class Tally:
    requests: int = 0
    lines: int = 0
    raw_bytes: int = 0
    wire_bytes: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)


def load_bodies(folder: Path, compress: bool) -> list[Body]:
    bodies = []
    for path in sorted(folder.glob("*.ndjson")):
        raw = path.read_bytes()
        payload = gzip.compress(raw, compresslevel=6) if compress else raw
        bodies.append(Body(payload, len(raw), raw.count(b"\n")))
    if not bodies:
        raise SystemExit(f"no *.ndjson bodies in {folder}")
    return bodies


def request_head(host: str, path: str, body: Body, compress: bool) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/x-ndjson",
        f"Content-Length: {len(body.payload)}",
        "Connection: keep-alive",
    ]
    if compress:
        lines.append("Content-Encoding: gzip")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    await reader.readexactly(length)
    return status


class Connection:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.netloc = parts.netloc
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, request: bytes) -> int:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        try:
            writer.write(request)
            await writer.drain()
            return await read_response(reader)
        except (OSError, asyncio.IncompleteReadError):
            writer.close()
            self._streams = None
            raise


async def run(args: argparse.Namespace) -> Tally:
    bodies = load_bodies(args.bodies, args.gzip)
    host = urlsplit(args.url).netloc
    requests = [request_head(host, "/v1/ingest", b, args.gzip) + b.payload for b in bodies]
    tally = Tally()
    start = time.perf_counter()
    stop = start + args.duration
    next_slot = 0

    def due() -> float | None:
        """When the next request is due (open loop), None when the run is over."""
        nonlocal next_slot
        moment = start + next_slot / args.rate if args.rate else time.perf_counter()
        next_slot += 1
        return moment if moment < stop else None

    async def worker(index: int) -> None:
        connection = Connection(args.url)
        turn = index
        while (moment := due()) is not None:
            delay = moment - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            which = turn % len(bodies)
            turn += args.connections
            try:
                status = await connection.post(requests[which])
            except (OSError, asyncio.IncompleteReadError) as exc:
                tally.failures[type(exc).__name__] = tally.failures.get(type(exc).__name__, 0) + 1
                continue
            if status != 200:
                tally.failures[str(status)] = tally.failures.get(str(status), 0) + 1
                continue
            tally.latencies_ms.append((time.perf_counter() - moment) * 1000)
            tally.requests += 1
            tally.lines += bodies[which].lines
            tally.raw_bytes += bodies[which].raw_bytes
            tally.wire_bytes += len(bodies[which].payload)

    await asyncio.gather(*(worker(i) for i in range(args.connections)))
    tally.latencies_ms.sort()
    args.elapsed = time.perf_counter() - start
    return tally


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--bodies", type=Path, required=True)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=0.0, help="requests/s; 0: closed loop")
    parser.add_argument("--gzip", action="store_true")
    args = parser.parse_args()
    tally = asyncio.run(run(args))
    seconds = args.elapsed
    result = {
        "seconds": seconds,
        "requests": tally.requests,
        "lines": tally.lines,
        "lines_per_s": tally.lines / seconds,
        "mb_per_s": tally.raw_bytes / seconds / 1e6,
        "wire_mb_per_s": tally.wire_bytes / seconds / 1e6,
        "requests_per_s": tally.requests / seconds,
        "p50_ms": percentile(tally.latencies_ms, 0.50),
        "p99_ms": percentile(tally.latencies_ms, 0.99),
        "max_ms": tally.latencies_ms[-1] if tally.latencies_ms else float("nan"),
        "failures": tally.failures,
    }
    print(json.dumps(result))  # noqa: T201 - the parent process reads this line


if __name__ == "__main__":
    main()
