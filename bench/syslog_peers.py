"""The three pipelines bench.syslog_kafka compares, each TCP syslog -> contains-filter -> Kafka:
the Log Insight gateway, rsyslog (imtcp + omkafka) and syslog-ng (network() + kafka-c()).

Each runs as its own foreground process with a private configuration and work folder, on a free
port, and is stopped (SIGTERM, then SIGKILL) when its context ends. rsyslog comes from Debian's
packages; syslog-ng from the Debian packages scripts/bench_tools.sh unpacked into
.services/syslog-ng/root (syslog-ng-core conflicts with rsyslog, so both cannot be installed).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SYSLOG_NG_ROOT = REPO / ".services" / "syslog-ng" / "root"
GATEWAY_TOPIC = "logs.to.analyze"  # the product's topic contract; the peers get fresh topics
KEYWORDS = ("error", "panic", "exception", "critical", "fatal", "traceback")
READY_TIMEOUT_S = 60.0

# What every peer's Kafka producer is told, as the gateway's (loginsight/bus/kafka.py) is: every
# record acknowledged by all in-sync replicas, batches compressed with lz4, keyed by service.
PRODUCER_SETTINGS = {"acks": "all", "compression.codec": "lz4", "linger.ms": "5"}


@dataclass(frozen=True)
class RunningPipeline:
    name: str
    pid: int
    port: int
    topic: str
    log_path: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(name: str, process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on {port} after {READY_TIMEOUT_S}s: {log_path}")
        time.sleep(0.1)


@contextmanager
def _foreground(
    name: str, command: list[str], port: int, topic: str, work: Path, env: dict[str, str]
) -> Iterator[RunningPipeline]:
    log_path = work / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=work, env=env, stdout=log, stderr=log)
    try:
        _wait_listening(name, process, port, log_path)
        yield RunningPipeline(name, process.pid, port, topic, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def gateway(work: Path, bootstrap: str, rules_file: Path | None) -> Iterator[RunningPipeline]:
    """`python -m ingest_gateway` with the syslog source (TCP only) and bus=kafka, fresh data dir.
    Its matches go to logs.to.analyze, as in production."""
    port = free_port()
    env = {
        **os.environ,
        "LOGINSIGHT_DATA_DIR": str(work / "data"),
        "LOGINSIGHT_BUS": "kafka",
        "LOGINSIGHT_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "LOGINSIGHT_GATEWAY__HTTP_PORT": str(free_port()),
        "LOGINSIGHT_GATEWAY__GRPC_PORT": str(free_port()),
        "LOGINSIGHT_OTLP": json.dumps({"enabled": False, "http_port": free_port()}),
        "LOGINSIGHT_SYSLOG": json.dumps({"port": port, "udp_enabled": False}),
    }
    if rules_file is not None:
        env["LOGINSIGHT_GATEWAY__RULES_FILE"] = str(rules_file)
    command = [sys.executable, "-m", "ingest_gateway"]
    with _foreground("gateway", command, port, GATEWAY_TOPIC, work, env) as running:
        yield running


def rsyslog_config(port: int, bootstrap: str, topic: str, work: Path) -> str:
    condition = " or ".join(f'$msg contains_i "{word}"' for word in KEYWORDS)
    conf_params = ", ".join(f'"{key}={value}"' for key, value in PRODUCER_SETTINGS.items())
    return f"""\
global(workDirectory="{work}")
module(load="imtcp")
module(load="omkafka")
template(name="bench_json" type="string" string="%jsonmesg%")
template(name="bench_key" type="string" string="%app-name%")
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="bench")
ruleset(name="bench") {{
  if ({condition}) then {{
    action(type="omkafka" broker=["{bootstrap}"] topic="{topic}" template="bench_json"
           key="bench_key" dynaKey="on" confParam=[{conf_params}])
  }}
}}
"""


@contextmanager
def rsyslog(work: Path, bootstrap: str, topic: str) -> Iterator[RunningPipeline]:
    """rsyslogd -n with imtcp, a `contains_i` filter on the message and omkafka; no
    imuxsock/imklog (the configuration loads only what it names)."""
    binary = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    port = free_port()
    conf = work / "rsyslog.conf"
    conf.write_text(rsyslog_config(port, bootstrap, topic, work))
    command = [binary, "-n", "-f", str(conf), "-i", str(work / "rsyslogd.pid")]
    with _foreground("rsyslog", command, port, topic, work, dict(os.environ)) as running:
        yield running


def syslog_ng_module_path() -> Path:
    found = sorted(SYSLOG_NG_ROOT.glob("usr/lib/syslog-ng/*/libkafka.so"))
    if not found:
        raise RuntimeError(f"no syslog-ng under {SYSLOG_NG_ROOT}: run scripts/bench_tools.sh")
    return found[-1].parent


def syslog_ng_config(port: int, bootstrap: str, topic: str) -> str:
    words = "|".join(KEYWORDS)
    config = " ".join(f'"{key}" => "{value}"' for key, value in PRODUCER_SETTINGS.items())
    # flow-control: when Kafka is slower than the sender, stop reading instead of dropping from
    # the destination queue (syslog-ng's default for network sources), as the others do.
    return f"""\
@version: 3.38
options {{ stats-freq(0); }};
source s_bench {{
  network(ip("127.0.0.1") port({port}) transport("framed") flags(syslog-protocol)
          max-connections(64));
}};
filter f_keywords {{ message("{words}" flags(ignore-case)); }};
destination d_kafka {{
  kafka-c(bootstrap-servers("{bootstrap}") topic("{topic}") key("${{PROGRAM}}")
          message("$(format-json --scope rfc5424 --scope nv-pairs)")
          config({config}));
}};
log {{ source(s_bench); filter(f_keywords); destination(d_kafka); flags(flow-control); }};
"""


@contextmanager
def syslog_ng(work: Path, bootstrap: str, topic: str) -> Iterator[RunningPipeline]:
    """syslog-ng -F with a network() source, a message() filter and kafka-c()."""
    modules = syslog_ng_module_path()
    port = free_port()
    conf = work / "syslog-ng.conf"
    conf.write_text(syslog_ng_config(port, bootstrap, topic))
    command = [
        str(SYSLOG_NG_ROOT / "usr" / "sbin" / "syslog-ng"),
        *("-F", "-f", str(conf), f"--module-path={modules}"),
        *(f"--persist-file={work / 'syslog-ng.persist'}", f"--pidfile={work / 'syslog-ng.pid'}"),
        *(f"--control={work / 'syslog-ng.ctl'}", "--stderr"),
    ]
    env = {**os.environ, "LD_LIBRARY_PATH": str(modules.parent)}
    with _foreground("syslog-ng", command, port, topic, work, env) as running:
        yield running
