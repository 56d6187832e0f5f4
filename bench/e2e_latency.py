"""End-to-end latency: from an error line the gateway accepted to its insight in the store.

    .venv/bin/python -m bench.e2e_latency [--errors N] [--interval S] [--json OUT]

Runs the real stack as a user does, `loginsight up` (the gateway and `dagster dev` with its
webserver and daemon), on the embedded defaults in a fresh data folder: SQLite bus, SQLite
insight store, local analyzer, and every setting as shipped (the logs sensor's batch closes
after `sensor.max_batch_age_s`, the sensors tick every few seconds, each batch is one Dagster
run, and the insights sensor stores what that run published). Only the ports are free ones.

One warm-up error line goes first and is waited for (the first run pays for the code server's
imports; it is reported, not counted). Then every --interval seconds one error line of a new
service is POSTed to /v1/ingest, so each becomes an insight of its own: its latency runs from
the 200 of that request (acknowledged means durable) to the moment the insight store lists an
insight for that service, polled every --poll seconds. p50/p95 over --errors lines.

The goal (issue 4): p95 under 30 s with the default settings.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from bench.machine import describe_machine, ratio, record_results
from loginsight.settings import Settings
from loginsight.store import build_store

REPO = Path(__file__).resolve().parent.parent
LOGINSIGHT = str(Path(sys.executable).with_name("loginsight"))
GOAL_P95_S = 30.0
READY_TIMEOUT_S = 240.0  # `loginsight up` waits up to 180 s per service itself
WARMUP_TIMEOUT_S = 240.0
SAMPLE_TIMEOUT_S = 180.0  # after the last line is sent, how long its insight may take
STOP_TIMEOUT_S = 150.0  # `loginsight up` gives each child 20 s, then SIGKILLs it


@dataclass
class Sample:
    service: str
    acked_at: float
    stored_at: float | None = None

    @property
    def latency_s(self) -> float | None:
        return None if self.stored_at is None else self.stored_at - self.acked_at


def free_port() -> int:
    """A loopback port free for TCP and UDP (the syslog listener takes both)."""
    while True:
        with (
            socket.socket() as tcp,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
        ):
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def stack_env(data_dir: Path) -> dict[str, str]:
    """The shipped defaults: no LOGINSIGHT_* from this shell, only a data folder and ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGINSIGHT_")}
    ports = {
        "LOGINSIGHT_GATEWAY__HTTP_PORT": free_port(),
        "LOGINSIGHT_GATEWAY__GRPC_PORT": free_port(),
        "LOGINSIGHT_OTLP__HTTP_PORT": free_port(),
        "LOGINSIGHT_SYSLOG__PORT": free_port(),
        "LOGINSIGHT_DAGSTER_PORT": free_port(),
    }
    return env | {k: str(v) for k, v in ports.items()} | {"LOGINSIGHT_DATA_DIR": str(data_dir)}


@contextmanager
def running_stack(env: dict[str, str], out_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`loginsight up` until it says it is running; SIGTERM (bounded) on the way out."""
    with out_path.open("wb") as out:
        up = subprocess.Popen([LOGINSIGHT, "up"], env=env, cwd=REPO, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "running; Ctrl-C" not in out_path.read_text(errors="replace"):
            if up.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"loginsight up did not start:\n{out_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield up
    finally:
        stop_stack(up)


def stop_stack(up: subprocess.Popen[bytes]) -> None:
    if up.poll() is None:
        up.send_signal(signal.SIGTERM)
    try:
        up.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        up.kill()  # its children lead their own process groups: `up` had its chance to end them
        up.wait()


def send_error(client: httpx.Client, service: str) -> float:
    """POST one error line of `service`; the time its 200 arrived."""
    record = {
        "service": service,
        "level": "error",
        "host": "bench-e2e",
        "message": f"upstream {service}-db refused connection: pool exhausted after 3 retries",
    }
    reply = client.post("/v1/ingest", json=record)
    acked_at = time.time()
    if reply.status_code != 200 or reply.json().get("matched") != 1:
        raise SystemExit(f"ingest refused or not matched: {reply.status_code} {reply.text}")
    return acked_at


def stored_services(settings: Settings) -> set[str]:
    if not settings.store_db_path.exists():  # the first run creates it
        return set()
    with build_store(settings) as store:
        return {insight.service for insight in store.list_insights(limit=1_000)}


def wait_for(settings: Settings, samples: list[Sample], deadline: float, poll_s: float) -> None:
    """Mark each sample with when its service first appears in the store, until the deadline."""
    while time.monotonic() < deadline:
        pending = [s for s in samples if s.stored_at is None]
        if not pending:
            return
        seen = stored_services(settings)
        now = time.time()
        for sample in pending:
            if sample.service in seen:
                sample.stored_at = now
        time.sleep(poll_s)


def measure(args: argparse.Namespace, settings: Settings, env: dict[str, str]) -> dict[str, Any]:
    gateway_url = f"http://127.0.0.1:{env['LOGINSIGHT_GATEWAY__HTTP_PORT']}"
    dagster_url = f"http://127.0.0.1:{env['LOGINSIGHT_DAGSTER_PORT']}"
    run = uuid.uuid4().hex[:6]
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        warmup = Sample(f"e2e-{run}-warmup", send_error(client, f"e2e-{run}-warmup"))
        wait_for(settings, [warmup], time.monotonic() + WARMUP_TIMEOUT_S, args.poll)
        if warmup.stored_at is None:
            raise SystemExit(f"the warm-up insight did not appear in {WARMUP_TIMEOUT_S:.0f} s")
        samples: list[Sample] = []
        next_send = time.monotonic()
        while len(samples) < args.errors:
            if time.monotonic() >= next_send:
                service = f"e2e-{run}-{len(samples):03d}"
                samples.append(Sample(service, send_error(client, service)))
                next_send += args.interval
            wait_for(settings, samples, min(next_send, time.monotonic() + args.poll), args.poll)
    wait_for(settings, samples, time.monotonic() + SAMPLE_TIMEOUT_S, args.poll)
    return {"warmup": warmup, "samples": samples, "runs": run_durations(dagster_url)}


RUNS_QUERY = """{ runsOrError { ... on Runs { results {
    jobName status creationTime startTime endTime } } } }"""


def run_durations(dagster_url: str) -> dict[str, dict[str, float]]:
    """Per job, the mean wait of a run in the queue (created -> started) and its mean duration
    (started -> ended): where the time between the sensor and the store goes."""
    try:
        reply = httpx.post(f"{dagster_url}/graphql", json={"query": RUNS_QUERY}, timeout=30)
        runs = reply.json()["data"]["runsOrError"]["results"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return {}
    by_job: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        if run["status"] != "SUCCESS" or not (run["startTime"] and run["endTime"]):
            continue
        job = by_job.setdefault(run["jobName"], {"queued_s": [], "run_s": []})
        job["queued_s"].append(run["startTime"] - run["creationTime"])
        job["run_s"].append(run["endTime"] - run["startTime"])
    return {
        name: {"runs": len(job["run_s"])}
        | {key: round(statistics.mean(values), 1) for key, values in job.items()}
        for name, job in by_job.items()
    }


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def report(console: Console, result: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    samples: list[Sample] = result["samples"]
    latencies = sorted(s.latency_s for s in samples if s.latency_s is not None)
    missing = len(samples) - len(latencies)
    if not latencies:
        raise SystemExit("no insight appeared for any sample")
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    console.print(f"Machine: {describe_machine()}")
    console.print(
        f"loginsight up on embedded defaults (SQLite bus and store, local analyzer, default "
        f"sensor settings); {len(samples)} error lines, one every {args.interval:g} s, store "
        f"polled every {args.poll:g} s"
    )
    table = Table(title="End-to-end latency: 200 of POST /v1/ingest -> insight in the store")
    for column in ("figure", "seconds", "goal", "ratio to goal"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    table.add_row("p50", f"{p50:.1f}", "", "")
    table.add_row("p95", f"{p95:.1f}", f"< {GOAL_P95_S:.0f}", ratio(p95, GOAL_P95_S))
    table.add_row("min / max", f"{latencies[0]:.1f} / {latencies[-1]:.1f}", "", "")
    table.add_row("warm-up line (not counted)", f"{result['warmup'].latency_s:.1f}", "", "")
    console.print(table)
    for job, figures in sorted(result["runs"].items()):
        console.print(
            f"  {job}: {figures['runs']} runs, queued {figures['queued_s']:.1f} s and ran "
            f"{figures['run_s']:.1f} s on average"
        )
    console.print(f"  load average at the end: {os.getloadavg()[0]:.2f} (1 min)")
    met = p95 < GOAL_P95_S and not missing
    console.print(
        f"goal p95 < {GOAL_P95_S:.0f} s: {'met' if met else 'NOT met'}"
        + (f"; {missing} line(s) never reached the store in time" if missing else "")
    )
    return {
        "machine": describe_machine(),
        "errors": len(samples),
        "interval_s": args.interval,
        "missing": missing,
        "e2e_latency_p50_s": round(p50, 1),
        "e2e_latency_p95_s": round(p95, 1),
        "warmup_latency_s": round(result["warmup"].latency_s, 1),
        "runs": result["runs"],
        "load_average_1m": round(os.getloadavg()[0], 2),
        "samples": [asdict(s) | {"latency_s": s.latency_s} for s in samples],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", type=int, default=12, help="error lines measured")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between lines")
    parser.add_argument("--poll", type=float, default=0.25, help="seconds between store reads")
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument(
        "--no-record", action="store_true", help="leave bench/results/hotpath.json alone"
    )
    args = parser.parse_args(argv)
    if args.errors < 1:
        parser.error("--errors must be at least 1")
    console = Console()
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as folder:
        data_dir = Path(folder) / "data"
        env = stack_env(data_dir)
        settings = Settings(data_dir=data_dir, store="sqlite")  # what the stack writes
        console.print("starting loginsight up (gateway + dagster dev)…")
        with running_stack(env, Path(folder) / "up.out"):
            result = measure(args, settings, env)
    output = report(console, result, args)
    if args.json is not None:
        args.json.write_text(json.dumps(output, indent=2) + "\n")
    if not args.no_record:
        keys = ("e2e_latency_p50_s", "e2e_latency_p95_s")
        console.print(f"results merged into {record_results({k: output[k] for k in keys})}")
    return 0 if not output["missing"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
