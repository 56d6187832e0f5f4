"""A private Kafka broker for fault tests: KRaft single node from the jars scripts/services.sh
fetched, on its own free ports and data folder, so a test can kill -9 it and start it again
without touching the shared broker on 9092 that every other test uses."""

from __future__ import annotations

import base64
import logging
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from tests.support import REPO, free_port

KAFKA_LIBS = REPO / ".services" / "kafka" / "libs"
KAFKA_LOG4J = REPO / "services" / "kafka" / "log4j2.yaml"
READY_TIMEOUT_S = 90.0

_CONFIG = """process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
num.partitions=3
auto.create.topics.enable=true
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# The controller fences a broker that vanished after this; a broker restarted after kill -9
# waits for its old session to expire (9 s by default) before it serves.
broker.session.timeout.ms=2000
broker.heartbeat.interval.ms=500
"""


def _java_command(logs: Path, *args: str) -> list[str]:
    java = shutil.which("java")
    if java is None or not any(KAFKA_LIBS.glob("kafka_2.13-*.jar")):
        raise RuntimeError(
            f"no java or no Kafka jars in {KAFKA_LIBS}: run `bash scripts/services.sh up` once"
        )
    return [
        java,
        *("-Xms128m", "-Xmx384m", "-XX:+UseSerialGC", "-Djava.awt.headless=true"),
        "-XX:TieredStopAtLevel=1",  # C1 only: a short-lived test broker starts faster
        f"-Dlog4j2.configurationFile={KAFKA_LOG4J}",
        f"-Dkafka.logs.dir={logs}",
        *("-cp", f"{KAFKA_LIBS}/*"),
        *args,
    ]


def _random_cluster_id() -> str:
    """Kafka's Uuid text form (what `StorageTool random-uuid` prints), without a JVM start;
    like Kafka, never one starting with "-", which the command line would take for an option."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class PrivateKafka:
    """One broker in `root`: `start()`, `kill()` (SIGKILL), `start()` again on the same ports and
    data, `stop()`. Formats its storage once, at construction."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.controller_port = free_port()
        self.data = root / "data"
        self.logs = root / "logs"
        self.config = root / "server.properties"
        self.process: subprocess.Popen[bytes] | None = None
        self.logs.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            _CONFIG.format(port=self.port, controller_port=self.controller_port, data=self.data)
        )
        cluster_id = _random_cluster_id()
        subprocess.run(
            _java_command(
                self.logs,
                *("kafka.tools.StorageTool", "format", "-t", cluster_id),
                *("-c", str(self.config), "--ignore-formatted"),
            ),
            capture_output=True,
            check=True,
            timeout=120,
        )

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, wait: bool = True) -> None:
        """Start the broker; with `wait`, return once it answers a metadata request."""
        if self.running:
            return
        with (self.logs / "stdout.log").open("ab") as out:
            self.process = subprocess.Popen(
                _java_command(self.logs, "kafka.Kafka", str(self.config)),
                cwd=self.root,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        quiet = logging.getLogger(f"tests.kafka.private.{uuid.uuid4().hex[:6]}")
        quiet.addHandler(logging.NullHandler())
        quiet.propagate = False
        config: dict[str, Any] = {"bootstrap.servers": self.bootstrap, "logger": quiet}
        admin = AdminClient(config)
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"private Kafka exited during start:\n{self.log_tail()}")
            try:
                if admin.list_topics(timeout=2).brokers:
                    return
            except KafkaException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"private Kafka not ready in {timeout_s}s:\n{self.log_tail()}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL: no controlled shutdown, no flush; the broker recovers its log at start."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self) -> str:
        text = ""
        for name in ("server.log", "stdout.log"):
            path = self.logs / name
            if path.exists():
                text += f"---- {name} ----\n" + path.read_text(errors="replace")[-3000:]
        return text
