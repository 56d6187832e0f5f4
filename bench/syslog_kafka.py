"""Syslog TCP -> filter -> Kafka: the gateway against rsyslog and syslog-ng.

    bash scripts/bench_tools.sh                       # rsyslog + omkafka, syslog-ng + kafka-c()
    .venv/bin/python -m bench.syslog_kafka [--lines N] [--json OUT] [--peers all|none|...]

One generator (this process) sends the same bytes to each pipeline in turn: RFC 5424 messages,
octet-counted (RFC 6587), built from the Loghub samples (the `Content` column of every
`<Sys>_2k.log_structured.csv`), split over --connections TCP connections and written as fast as
the receiver reads. Each pipeline keeps the messages that contain one of the default rules'
keywords (error, panic, exception, critical, fatal, traceback, case-insensitive) and produces
them to Kafka: the gateway with its default rules to logs.to.analyze, the peers each to a fresh
topic. Per pipeline:

- lines/s end to end: lines sent / (first byte sent -> the topic's end offsets have grown by the
  expected match count);
- matched: the records that arrived, which must equal the count the generator expects (the
  table says when they do not); for the gateway, counted in its offset range by this run's host
  name, since logs.to.analyze is shared;
- CPU seconds of the daemon process (utime + stime from /proc/<pid>/stat, threads included)
  over the run, and its peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from rich.console import Console
from rich.table import Table

from bench import syslog_peers
from bench.machine import describe_machine, ratio, record_results
from bench.syslog_peers import KEYWORDS, RunningPipeline

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "loghub"
PARTITIONS = 3  # as the gateway creates logs.to.analyze
SETTLE_S = 2.0  # after the expected count arrived, wait this long for any surplus
SEVERITY = {"ERROR": 3, "FATAL": 2, "WARN": 4, "WARNING": 4, "INFO": 6, "DEBUG": 7}

CONTAINS = re.compile("|".join(KEYWORDS), re.IGNORECASE)
# The gateway's keyword rules match whole words; the peers' filters match substrings.
WHOLE_WORD = re.compile(rf"(?<![^\W_])(?:{'|'.join(KEYWORDS)})(?![^\W_])", re.IGNORECASE)


@dataclass(frozen=True)
class Corpus:
    payload: bytes  # every frame, octet-counted, back to back
    lines: int
    matches: int
    host: str  # this run's HOSTNAME, to tell its records on a shared topic


@dataclass
class Measurement:
    name: str
    lines: int
    expected: int
    matched: int
    seconds: float
    lines_per_s: float
    cpu_s: float
    peak_rss_mb: float

    @property
    def correct(self) -> bool:
        return self.matched == self.expected


def load_messages(data: Path) -> list[tuple[str, str, str]]:
    """(app name, level, content) of every Loghub sample line whose keyword match is the same
    for a substring and a whole-word filter (a few Mac lines, such as "kernel_error", are
    not), so all three pipelines must keep exactly the same lines."""
    messages = []
    for path in sorted(data.glob("*/*_2k.log_structured.csv")):
        system = path.parent.name
        with path.open(encoding="utf-8", errors="replace", newline="") as file:
            for row in csv.DictReader(file):
                content = row["Content"].replace("\n", " ")
                if bool(CONTAINS.search(content)) != bool(WHOLE_WORD.search(content)):
                    continue
                messages.append((system, row.get("Level") or "INFO", content))
    if not messages:
        raise SystemExit(f"no Loghub samples under {data}")
    random.Random(4).shuffle(messages)  # systems interleaved, the same order every run
    return messages


def build_corpus(messages: list[tuple[str, str, str]], lines: int) -> Corpus:
    """`lines` RFC 5424 frames cycling through `messages`. A matching line is sent with
    severity err, like an application logging an error; the others with their Loghub level."""
    host = f"bench-{uuid.uuid4().hex[:8]}"
    frames = []
    matches = 0
    for i in range(lines):
        app, level, content = messages[i % len(messages)]
        matched = CONTAINS.search(content) is not None
        matches += matched
        # A line without a keyword never gets err or worse: the gateway's level rule would keep
        # it, the peers' keyword filters would not.
        severity = 3 if matched else max(SEVERITY.get(level.upper(), 6), 4)
        second, micros = divmod(i, 1_000_000)
        stamp = f"2025-06-01T12:{second // 60 % 60:02d}:{second % 60:02d}.{micros:06d}Z"
        message = f"<{16 * 8 + severity}>1 {stamp} {host} {app} {1000 + i % 50} - - {content}"
        encoded = message.encode()
        frames.append(b"%d %s" % (len(encoded), encoded))
    return Corpus(b"".join(frames), lines, matches, host)


def split_on_frames(payload: bytes, parts: int) -> list[bytes]:
    """`payload` in `parts` pieces of about equal size, each made of whole frames."""
    pieces: list[bytes] = []
    start, target = 0, max(1, len(payload) // parts)
    while start < len(payload) and len(pieces) < parts - 1:
        position = start
        while position < len(payload) and position - start < target:
            space = payload.index(b" ", position)
            position = space + 1 + int(payload[position:space])
        pieces.append(payload[start:position])
        start = position
    pieces.append(payload[start:])
    return [piece for piece in pieces if piece]


def send(port: int, pieces: list[bytes]) -> float:
    """Send each piece over its own connection, all at once; returns when the first byte went."""
    barrier = threading.Barrier(len(pieces) + 1)
    errors: list[BaseException] = []

    def one(piece: bytes) -> None:
        try:
            with socket.create_connection(("127.0.0.1", port)) as sock:
                barrier.wait()
                sock.sendall(piece)
                sock.shutdown(socket.SHUT_WR)
                sock.recv(1)  # until the receiver closes: everything was read
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(piece,), daemon=True) for piece in pieces]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.monotonic()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"sending failed: {errors[0]!r}")
    return started


class Offsets:
    """End offsets of a topic, summed over its partitions."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4()}"}
        )

    def ends(self) -> dict[int, int]:
        ends = {}
        for partition in range(PARTITIONS):
            _, high = self.consumer.get_watermark_offsets(
                TopicPartition(self.topic, partition), timeout=10
            )
            ends[partition] = high
        return ends

    def total(self) -> int:
        return sum(self.ends().values())

    def count_host(self, start: dict[int, int], end: dict[int, int], host: str) -> int:
        """Records of `host` between `start` and `end` (gateway bus payloads)."""
        self.consumer.assign([TopicPartition(self.topic, p, start[p]) for p in start])
        remaining, found = sum(end[p] - start[p] for p in start), 0
        needle = f'"host":"{host}"'.encode()
        while remaining > 0:
            batch = self.consumer.consume(10_000, timeout=5)
            if not batch:
                break
            for message in batch:
                partition, offset = message.partition(), message.offset()
                if message.error() is None and partition is not None and offset is not None:
                    if offset >= end[partition]:
                        continue
                    remaining -= 1
                    found += needle in (message.value() or b"")
        return found

    def close(self) -> None:
        self.consumer.close()


def create_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])[
        topic
    ].result(30)


def process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime, stime in clock ticks (USER_HZ)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(
    running: RunningPipeline,
    corpus: Corpus,
    connections: int,
    bootstrap: str,
    timeout_s: float,
) -> Measurement:
    offsets = Offsets(bootstrap, running.topic)
    try:
        start = offsets.ends()
        cpu_before = process_cpu_s(running.pid)
        sent_at = send(running.port, split_on_frames(corpus.payload, connections))
        deadline, grown = sent_at + timeout_s, 0
        while time.monotonic() < deadline:
            grown = offsets.total() - sum(start.values())
            if grown >= corpus.matches:
                break
            time.sleep(0.02)
        seconds = time.monotonic() - sent_at
        cpu_s = process_cpu_s(running.pid) - cpu_before
        rss = peak_rss_mb(running.pid)
        time.sleep(SETTLE_S)  # any duplicates or strays show up now
        end = offsets.ends()
        if running.topic == syslog_peers.GATEWAY_TOPIC:
            matched = offsets.count_host(start, end, corpus.host)
        else:
            matched = sum(end.values()) - sum(start.values())
    finally:
        offsets.close()
    return Measurement(
        running.name, corpus.lines, corpus.matches, matched, seconds,
        corpus.lines / seconds, cpu_s, rss,
    )  # fmt: skip


def pipelines(
    names: list[str], work: Path, bootstrap: str
) -> Iterator[tuple[str, Callable[[], AbstractContextManager[RunningPipeline]]]]:
    """(name, start) of each pipeline; the peers' fresh topics are created here."""
    run = uuid.uuid4().hex[:8]
    for name in names:
        folder = work / name
        folder.mkdir(parents=True)
        if name == "gateway":
            yield name, partial(syslog_peers.gateway, folder, bootstrap, None)
            continue
        topic = f"bench.syslog.{name}.{run}"
        create_topic(bootstrap, topic)
        peer = syslog_peers.rsyslog if name == "rsyslog" else syslog_peers.syslog_ng
        yield name, partial(peer, folder, bootstrap, topic)


def report(results: list[Measurement], console: Console) -> None:
    table = Table(title=f"Syslog TCP -> filter -> Kafka ({describe_machine()})")
    for column in ("pipeline", "lines", "matched", "seconds", "lines/s", "CPU s", "peak RSS MB"):
        table.add_column(column, justify="left" if column == "pipeline" else "right")
    for r in results:
        matched = f"{r.matched:,}" + ("" if r.correct else f" (expected {r.expected:,})")
        table.add_row(
            r.name, f"{r.lines:,}", matched, f"{r.seconds:.2f}", f"{r.lines_per_s:,.0f}",
            f"{r.cpu_s:.2f}", f"{r.peak_rss_mb:.0f}",
        )  # fmt: skip
    console.print(table)
    gateway = next((r for r in results if r.name == "gateway"), None)
    peers = [r for r in results if r.name != "gateway"]
    if gateway is not None and peers:
        fastest = max(peers, key=lambda r: r.lines_per_s)
        met = gateway.lines_per_s * 2 >= fastest.lines_per_s
        console.print(
            f"gateway / {fastest.name} (the faster peer): lines/s "
            f"{ratio(gateway.lines_per_s, fastest.lines_per_s)}, CPU s "
            f"{ratio(gateway.cpu_s, fastest.cpu_s)}, peak RSS "
            f"{ratio(gateway.peak_rss_mb, fastest.peak_rss_mb)}; goal: lines/s within 2x "
            f"(ratio >= 0.50): {'met' if met else 'NOT met'}"
        )
    same = len({r.matched for r in results}) == 1 and all(r.correct for r in results)
    console.print(
        f"matched counts: {', '.join(f'{r.name} {r.matched:,}' for r in results)}; expected "
        f"{results[0].expected:,}: {'all equal' if same else 'MISMATCH'}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=500_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--peers", default="all", help="all, none, or a comma list of rsyslog,syslog-ng"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="per pipeline, seconds")
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument(
        "--no-record", action="store_true", help="leave bench/results/hotpath.json alone"
    )
    args = parser.parse_args(argv)
    peers = {"all": ["rsyslog", "syslog-ng"], "none": []}.get(args.peers, args.peers.split(","))
    console = Console()
    corpus = build_corpus(load_messages(args.data), args.lines)
    console.print(
        f"{corpus.lines:,} lines, {len(corpus.payload) / 1e6:.1f} MB, {corpus.matches:,} "
        f"matching ({corpus.matches / corpus.lines:.1%}), {args.connections} connections"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-syslog-") as tmp:
        for name, start in pipelines(["gateway", *peers], Path(tmp), args.bootstrap):
            with start() as running:
                results.append(
                    measure(running, corpus, args.connections, args.bootstrap, args.timeout)
                )
            console.print(f"{name}: {results[-1].lines_per_s:,.0f} lines/s")
    report(results, console)
    figures = {r.name: r for r in results}
    output: dict[str, Any] = {
        "machine": describe_machine(),
        "lines": corpus.lines,
        "bytes": len(corpus.payload),
        "expected_matches": corpus.matches,
        "connections": args.connections,
        "results": [asdict(r) | {"correct": r.correct} for r in results],
    }
    keys = {"gateway": "syslog", "rsyslog": "rsyslog", "syslog-ng": "syslog_ng"}
    values = {f"{keys[n]}_lines_per_s": round(r.lines_per_s) for n, r in figures.items()}
    output.update(values)
    if args.json is not None:
        args.json.write_text(json.dumps(output, indent=2) + "\n")
    if not args.no_record:
        record_results(values)
    return 0 if all(r.correct for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
