"""HTTP NDJSON bulk ingest, end to end, against a real gateway process.

    .venv/bin/python -m bench.ingest_http                      # short run, embedded defaults
    .venv/bin/python -m bench.ingest_http --duration 300       # the 5-minute RSS-flat run
    .venv/bin/python -m bench.ingest_http --bus kafka          # Kafka at 127.0.0.1:9092

One gateway process (`python -m ingest_gateway`, embedded defaults: SQLite bus, DuckDB stats,
Parquet archive, spool on) gets 1,000-line NDJSON requests built from the Loghub samples plus
synthetic lines, from a load generator in a separate process (`bench.http_load`, several
keep-alive connections). Every request goes through normalize + filter + stats + archive + bus
and is acknowledged only when durable. Per configuration:

1. peak: closed loop for --duration seconds, plain and gzip bodies: lines/s, MB/s (NDJSON bytes);
2. latency: open loop at half the plain peak rate for --duration seconds: p50/p99 from when a
   request was due to its 200;
3. RSS of the gateway process (VmRSS sampled from /proc every 0.5 s): peak, and the mean of the
   first and last tenth of the run, to see it stays flat.

The peer is the same gateway on its per-record path of before this columnar one
(`LOGINSIGHT_GATEWAY__COLUMNAR_INGEST=false`), measured in the same run on the same bodies.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from bench.machine import describe_machine, ratio, record_results

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "loghub"
SERVICES = ["checkout", "payments", "search", "auth", "inventory", "gateway", "mailer", "db"]
LEVELS = ["info", "info", "info", "debug", "warn", "error"]
SYNTHETIC = [
    "GET /api/v1/orders/{n} 200 {ms}ms",
    "user {n} logged in from 10.0.{a}.{b}",
    "cache miss for key session:{n}",
    "payment {n} authorized amount={ms}.00 EUR",
    "ERROR upstream timeout after {ms}ms calling inventory",
    "retrying job {n} (attempt {a})",
    "java.lang.IllegalStateException: order {n} already shipped",
    "slow query took {ms}ms: SELECT * FROM orders WHERE id = {n}",
]


def build_bodies(data: Path, folder: Path, count: int, lines_per_body: int) -> None:
    """`count` NDJSON bodies of `lines_per_body` records: Loghub lines and synthetic ones, with
    the fields shippers send (time, service, host, level on most)."""
    loghub: list[str] = []
    for path in sorted(data.glob("*/*_2k.log")):
        loghub.extend(path.read_text(encoding="utf-8", errors="replace").splitlines())
    if not loghub:
        raise SystemExit(f"no Loghub samples (*/*_2k.log) under {data}")
    rng = random.Random(42)
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for index in range(count):
        lines = []
        for _ in range(lines_per_body):
            if rng.random() < 0.6:
                message = rng.choice(loghub)
            else:
                message = rng.choice(SYNTHETIC).format(
                    n=rng.randrange(1_000_000),
                    ms=rng.randrange(2_000),
                    a=rng.randrange(9),
                    b=rng.randrange(255),
                )
            moment = base + timedelta(
                seconds=rng.randrange(3_600), microseconds=rng.randrange(10**6)
            )
            record: dict[str, Any] = {
                "ts": moment.isoformat().replace("+00:00", "Z"),
                "service": rng.choice(SERVICES),
                "host": f"web-{rng.randrange(20)}",
                "message": message,
            }
            if rng.random() < 0.7:
                record["level"] = rng.choice(LEVELS)
            lines.append(json.dumps(record, ensure_ascii=False))
        (folder / f"body-{index:03d}.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RssSampler:
    pid: int
    samples: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _run(self) -> None:
        status = Path(f"/proc/{self.pid}/status")
        while not self._stop.wait(0.5):
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        self.samples.append(int(line.split()[1]) / 1024)
            except OSError:
                return

    def __enter__(self) -> RssSampler:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()


@dataclass
class Gateway:
    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def gateway_process(columnar: bool, bus: str, data_dir: Path) -> Iterator[Gateway]:
    port = free_port()
    env = {
        **os.environ,
        "LOGINSIGHT_DATA_DIR": str(data_dir),
        "LOGINSIGHT_BUS": bus,
        "LOGINSIGHT_GATEWAY__HTTP_PORT": str(port),
        "LOGINSIGHT_GATEWAY__GRPC_PORT": str(free_port()),
        "LOGINSIGHT_GATEWAY__COLUMNAR_INGEST": str(columnar).lower(),
        "LOGINSIGHT_OTLP__ENABLED": "false",
        "LOGINSIGHT_SYSLOG__ENABLED": "false",
        "LOGINSIGHT_KAFKA__CLIENT_ID": f"bench-{port}",
    }
    log = (data_dir / "gateway.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "ingest_gateway"], cwd=REPO, env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"gateway exited: see {data_dir / 'gateway.log'}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("gateway not ready in 60 s")
            time.sleep(0.2)
        yield Gateway(url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def load(url: str, bodies: Path, args: argparse.Namespace, **options: Any) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.http_load",
        "--url",
        url,
        "--bodies",
        str(bodies),
        "--connections",
        str(args.connections),
        "--duration",
        str(options["duration"]),
    ]
    if options.get("rate"):
        command += ["--rate", str(options["rate"])]
    if options.get("gzip"):
        command.append("--gzip")
    done = subprocess.run(command, cwd=REPO, capture_output=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result


def measure(columnar: bool, bodies: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Peak (plain, gzip), latency at half the plain peak, RSS: one gateway, one data folder."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-gw-") as folder,
        gateway_process(columnar, args.bus, Path(folder)) as gateway,
        RssSampler(gateway.process.pid) as rss,
    ):
        load(gateway.url, bodies, args, duration=2)  # warm-up: imports, first files
        warm = len(rss.samples)
        plain = load(gateway.url, bodies, args, duration=args.duration)
        packed = load(gateway.url, bodies, args, duration=args.duration, gzip=True)
        half = plain["requests_per_s"] / 2
        paced = load(gateway.url, bodies, args, duration=args.duration, rate=half)
    run = rss.samples[warm:] or rss.samples
    tenth = max(1, len(run) // 10)
    return {
        "plain": plain,
        "gzip": packed,
        "paced": paced,
        "rss_peak_mb": max(rss.samples, default=0.0),
        "rss_first_mb": sum(run[:tenth]) / tenth,
        "rss_last_mb": sum(run[-tenth:]) / tenth,
    }


def fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def report(ours: dict[str, Any], peer: dict[str, Any] | None, args: argparse.Namespace) -> None:
    console = Console()
    console.print(f"Machine: {describe_machine()}")
    console.print(
        f"bus={args.bus}, {args.connections} connections, 1,000-line requests, "
        f"{args.duration:g} s per phase"
    )
    table = Table(title="HTTP NDJSON bulk ingest, one gateway process")
    table.add_column("figure")
    table.add_column("columnar (now)", justify="right")
    if peer is not None:
        table.add_column("per-record (before)", justify="right")
        table.add_column("ratio", justify="right")
    rows: list[tuple[str, float, float | None, int]] = []
    for name, key, phase in (
        ("lines/s (plain)", "lines_per_s", "plain"),
        ("MB/s (plain)", "mb_per_s", "plain"),
        ("lines/s (gzip)", "lines_per_s", "gzip"),
        ("MB/s (gzip, uncompressed)", "mb_per_s", "gzip"),
    ):
        rows.append((name, ours[phase][key], peer[phase][key] if peer else None, 1))
    for name, key in (("ack p50 ms @ half peak", "p50_ms"), ("ack p99 ms @ half peak", "p99_ms")):
        rows.append((name, ours["paced"][key], peer["paced"][key] if peer else None, 1))
    rows.append(
        (
            "half-peak rate achieved (lines/s)",
            ours["paced"]["lines_per_s"],
            peer["paced"]["lines_per_s"] if peer else None,
            0,
        )
    )
    for name, key in (
        ("peak RSS MB", "rss_peak_mb"),
        ("RSS MB, first tenth", "rss_first_mb"),
        ("RSS MB, last tenth", "rss_last_mb"),
    ):
        rows.append((name, ours[key], peer[key] if peer else None, 0))
    for name, mine, theirs, digits in rows:
        cells = [name, fmt(mine, digits)]
        if theirs is not None:
            cells += [fmt(theirs, digits), ratio(mine, theirs)]
        table.add_row(*cells)
    console.print(table)
    failures = {
        f"{name} {phase}": result[phase]["failures"]
        for name, result in (("columnar", ours), ("per-record", peer))
        if result is not None
        for phase in ("plain", "gzip", "paced")
        if result[phase]["failures"]
    }
    if failures:
        console.print(f"[red]failed requests: {failures}[/red]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per phase")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--bodies", type=int, default=40, help="distinct request bodies")
    parser.add_argument("--bus", choices=["sqlite", "kafka"], default="sqlite")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the per-record peer (not recommended)"
    )
    parser.add_argument("--no-record", action="store_true", help="do not write hotpath.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-bodies-") as folder:
        bodies = Path(folder)
        build_bodies(args.data, bodies, args.bodies, 1_000)
        ours = measure(True, bodies, args)
        peer = None if args.no_baseline else measure(False, bodies, args)
    report(ours, peer, args)
    if not args.no_record:
        values = {
            "http_bulk_lines_per_s": round(ours["plain"]["lines_per_s"]),
            "http_bulk_mb_per_s": round(ours["plain"]["mb_per_s"], 1),
            "http_bulk_gzip_lines_per_s": round(ours["gzip"]["lines_per_s"]),
            "http_ack_p50_ms": round(ours["paced"]["p50_ms"], 1),
            "http_ack_p99_ms": round(ours["paced"]["p99_ms"], 1),
            "http_peak_rss_mb": round(ours["rss_peak_mb"], 1),
            "http_bus": args.bus,
        }
        if peer is not None:
            values["http_bulk_lines_per_s_per_record_path"] = round(peer["plain"]["lines_per_s"])
        Console().print(f"results merged into {record_results(values)}")


if __name__ == "__main__":
    main()
