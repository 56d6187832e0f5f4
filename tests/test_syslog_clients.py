"""Syslog against one real gateway process, sent by clients no one here wrote: util-linux's
`logger`, a real rsyslogd forwarding (TCP RFC 5424 octet-counted, UDP RFC 3164), and Python's
`logging.handlers.SysLogHandler`. Bad bytes get no answer (syslog has none) but never stop
the listener: every such test ends with valid messages that must still arrive.

Every message is an error, so it lands on the bus topic `logs.to.analyze`, where each test
finds its own messages by a unique token.
"""

from __future__ import annotations

import logging
import logging.handlers
import random
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loginsight.model import Level
from tests.bus_records import records_containing, wait_for
from tests.support import RunningGateway, free_port, make_settings, running_gateway

MAX_MESSAGE = 2048
MAX_CONNECTIONS = 8
IDLE_TIMEOUT_S = 2.0
LOGGER = shutil.which("logger") or "/usr/bin/logger"
RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
TOOLS_HINT = "run `bash scripts/test_tools.sh` (the Makefile's test target does)"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    settings = make_settings(
        tmp_path_factory.mktemp("syslog") / "data",
        syslog={
            "max_message_bytes": MAX_MESSAGE,
            "max_connections": MAX_CONNECTIONS,
            "idle_timeout_s": IDLE_TIMEOUT_S,
        },
    )
    with running_gateway(settings) as running:
        yield running


def token() -> str:
    return f"tok-{uuid.uuid4().hex[:12]}"


def port_of(gateway: RunningGateway) -> str:
    return str(gateway.settings.syslog.port)


def run_logger(*args: str) -> None:
    if not Path(LOGGER).exists():
        pytest.fail(f"util-linux logger is missing; {TOOLS_HINT}", False)
    done = subprocess.run([LOGGER, *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def metric(gateway: RunningGateway, line_start: str) -> float:
    text = httpx.get(f"{gateway.url}/metrics", timeout=10).text
    values = [
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start)
    ]
    return sum(values)


def test_logger_tcp_octet_counting_rfc5424(gateway: RunningGateway) -> None:
    mark = token()
    run_logger(
        "--tcp", "--octet-count", "--rfc5424", "-n", "127.0.0.1", "-P", port_of(gateway),
        "-t", "payments", "-p", "local3.err", "--msgid", "PAY42",
        "--sd-id", "order@32473", "--sd-param", 'id="A-17"',
        f"ERROR charge failed {mark}",
    )  # fmt: skip
    record = records_containing(gateway.settings, {mark})[mark]
    assert (record.source, record.service, record.level) == ("syslog", "payments", Level.ERROR)
    assert record.host  # logger sends the machine's hostname
    assert record.message == f"ERROR charge failed {mark}"
    attributes = record.attributes
    assert attributes["syslog.format"] == "rfc5424"
    assert attributes["syslog.facility"] == "local3"
    assert attributes["syslog.severity"] == "err"
    assert attributes["syslog.msgid"] == "PAY42"
    assert attributes["syslog.sd.order@32473.id"] == "A-17"
    assert attributes["syslog.transport"] == "tcp"


def test_logger_udp_rfc3164_and_tcp_newline_framing(gateway: RunningGateway) -> None:
    udp, tcp = token(), token()
    port = port_of(gateway)
    run_logger("--udp", "--rfc3164", "-n", "127.0.0.1", "-P", port, "-t", "cron", "-i",
               "-p", "cron.crit", f"job exploded {udp}")  # fmt: skip
    run_logger("--tcp", "--rfc3164", "-n", "127.0.0.1", "-P", port, "-t", "mailer",
               "-p", "mail.err", f"relay refused {tcp}")  # fmt: skip
    found = records_containing(gateway.settings, {udp, tcp})
    assert found[udp].service == "cron"
    assert found[udp].level is Level.FATAL  # crit
    assert found[udp].attributes["syslog.format"] == "rfc3164"
    assert found[udp].attributes["syslog.transport"] == "udp"
    assert found[udp].attributes["syslog.procid"].isdigit()  # -i: logger's own pid
    assert found[udp].message == f"job exploded {udp}"
    assert (found[tcp].service, found[tcp].level) == ("mailer", Level.ERROR)
    assert found[tcp].attributes["syslog.facility"] == "mail"


@pytest.mark.parametrize("socktype", [socket.SOCK_DGRAM, socket.SOCK_STREAM], ids=["udp", "tcp"])
def test_python_sysloghandler(gateway: RunningGateway, socktype: socket.SocketKind) -> None:
    # Over TCP, Python ends each message with NUL and does no octet counting, so a newline
    # inside a message would end the frame (RFC 6587 non-transparent framing): UDP only.
    marks = [token() for _ in range(3 if socktype == socket.SOCK_DGRAM else 2)]
    handler = logging.handlers.SysLogHandler(
        address=("127.0.0.1", gateway.settings.syslog.port),
        facility=logging.handlers.SysLogHandler.LOG_LOCAL2,
        socktype=socktype,
    )
    handler.ident = "inventory: "
    app_log = logging.getLogger(f"tests.syslog.{uuid.uuid4().hex}")
    app_log.propagate = False
    app_log.addHandler(handler)
    try:
        app_log.error("stock sync failed %s", marks[0])
        app_log.critical("database gone %s", marks[1])
        if socktype == socket.SOCK_DGRAM:
            app_log.error("multi\nline %s", marks[2])
    finally:
        handler.close()
    found = records_containing(gateway.settings, set(marks))
    assert {r.service for r in found.values()} == {"inventory"}
    assert found[marks[0]].level is Level.ERROR
    assert found[marks[1]].level is Level.FATAL
    assert found[marks[0]].attributes["syslog.facility"] == "local2"
    if socktype == socket.SOCK_DGRAM:  # one datagram is one message, newlines and all
        assert found[marks[2]].message == f"multi\nline {marks[2]}"
    else:
        assert found[marks[0]].attributes["syslog.transport"] == "tcp"


def wait_listening(port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    def probe() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"rsyslogd exited: {log_path.read_text(errors='replace')}")
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    wait_for(probe, bool, f"rsyslogd listening on {port}", 30)


RSYSLOG_CONF = """
global(workDirectory="{work}")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{to_tcp}" ruleset="forward_tcp")
input(type="imtcp" address="127.0.0.1" port="{to_udp}" ruleset="forward_udp")
ruleset(name="forward_tcp") {{
  action(type="omfwd" target="127.0.0.1" port="{gateway}" protocol="tcp"
         TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
}}
ruleset(name="forward_udp") {{
  action(type="omfwd" target="127.0.0.1" port="{gateway}" protocol="udp"
         template="RSYSLOG_TraditionalForwardFormat")
}}
"""


def test_rsyslog_forwards_tcp_rfc5424_octet_counted_and_udp_rfc3164(
    gateway: RunningGateway, tmp_path: Path
) -> None:
    if not Path(RSYSLOGD).exists():
        pytest.fail(f"rsyslogd is missing; {TOOLS_HINT}", False)
    to_tcp, to_udp = free_port(), free_port()
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(
        RSYSLOG_CONF.format(work=tmp_path, to_tcp=to_tcp, to_udp=to_udp, gateway=port_of(gateway))
    )
    log_path = tmp_path / "rsyslogd.log"
    with log_path.open("wb") as out:
        # -n: foreground; no imuxsock is loaded, so the system's /dev/log is left alone.
        rsyslogd = subprocess.Popen(
            [RSYSLOGD, "-n", "-f", str(conf), "-i", str(tmp_path / "rsyslogd.pid")],
            stdout=out,
            stderr=out,
        )
    try:
        wait_listening(to_tcp, rsyslogd, log_path)
        wait_listening(to_udp, rsyslogd, log_path)
        over_tcp = [token() for _ in range(5)]
        over_udp = [token() for _ in range(5)]
        for port, tag, priority, marks in (
            (to_tcp, "checkout", "local5.err", over_tcp),
            (to_udp, "search", "user.warning", over_udp),
        ):
            for mark in marks:
                run_logger("--tcp", "--rfc3164", "-n", "127.0.0.1", "-P", str(port),
                           "-t", tag, "-p", priority, f"ERROR via rsyslog {mark}")  # fmt: skip
        found = records_containing(gateway.settings, set(over_tcp + over_udp))
    finally:
        rsyslogd.terminate()
        rsyslogd.wait(timeout=30)
    for mark in over_tcp:
        record = found[mark]
        assert (record.service, record.level) == ("checkout", Level.ERROR)
        assert record.attributes["syslog.format"] == "rfc5424"
        assert record.attributes["syslog.transport"] == "tcp"
        assert record.attributes["syslog.facility"] == "local5"
        assert record.message == f"ERROR via rsyslog {mark}"
    for mark in over_udp:
        record = found[mark]
        assert (record.service, record.level) == ("search", Level.WARN)
        assert record.attributes["syslog.format"] == "rfc3164"
        assert record.attributes["syslog.transport"] == "udp"
        assert record.message == f"ERROR via rsyslog {mark}"
    rows = httpx.get(f"{gateway.url}/v1/stats", params={"by": "source"}, timeout=10).json()["rows"]
    syslog_rows = [row for row in rows if row["source"] == "syslog"]
    assert syslog_rows and syslog_rows[0]["count"] >= len(found)


def octet(message: bytes) -> bytes:
    return str(len(message)).encode() + b" " + message


def test_mixed_framing_oversized_and_garbage_on_one_connection(gateway: RunningGateway) -> None:
    counted, newline, big, after = token(), token(), token(), token()
    truncated_before = metric(gateway, 'loginsight_records_truncated_total{source="syslog"}')
    stream = (
        octet(f"<11>1 - host-a api - - - ERROR {counted}".encode())
        + f"<11>Mar  3 10:00:00 host-b api: ERROR {newline}\n".encode()
        + octet(f"<11>1 - host-c api - - - ERROR {big} ".encode() + b"x" * 10_000)
        + random.Random(7).randbytes(3000)
        + b"\n"
        + octet(f"<11>1 - host-d api - - - ERROR {after} ".encode() + b"caf\xc3 end")
    )
    with socket.create_connection(("127.0.0.1", gateway.settings.syslog.port), timeout=10) as sock:
        for start in range(0, len(stream), 1000):  # frames split across reads
            sock.sendall(stream[start : start + 1000])
    found = records_containing(gateway.settings, {counted, newline, big, after})
    assert found[counted].host == "host-a"
    assert found[newline].attributes["syslog.format"] == "rfc3164"
    assert found[big].attributes["truncated"] == "true"
    assert len(found[big].message.encode()) <= MAX_MESSAGE
    assert "truncated" not in found[after].attributes
    assert found[after].message.endswith("caf\ufffd end")
    assert metric(gateway, 'loginsight_records_truncated_total{source="syslog"}') > truncated_before


def test_garbage_datagrams_and_oversized_datagram_keep_udp_serving(gateway: RunningGateway) -> None:
    big, after = token(), token()
    fallback_before = metric(gateway, 'loginsight_parse_fallback_total{source="syslog"}')
    rng = random.Random(11)
    port = gateway.settings.syslog.port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _ in range(50):
            sock.sendto(rng.randbytes(rng.randint(1, 1500)), ("127.0.0.1", port))
        sock.sendto(b"\xff\xfe not syslog at all", ("127.0.0.1", port))
        sock.sendto(
            f"<11>Mar  3 10:00:00 h app: ERROR {big} ".encode() + b"y" * 9000, ("127.0.0.1", port)
        )
        sock.sendto(f"<11>Mar  3 10:00:00 h app: ERROR {after}".encode(), ("127.0.0.1", port))
    found = records_containing(gateway.settings, {big, after})
    assert found[big].attributes["truncated"] == "true"
    assert "truncated" not in found[after].attributes
    assert metric(gateway, 'loginsight_parse_fallback_total{source="syslog"}') > fallback_before


def test_connection_limit_and_idle_timeout(gateway: RunningGateway) -> None:
    port = gateway.settings.syslog.port
    rejected_before = metric(
        gateway, 'loginsight_requests_rejected_total{reason="too_many_connections",source="syslog"}'
    )
    held = [
        socket.create_connection(("127.0.0.1", port), timeout=10)
        for _ in range(MAX_CONNECTIONS + 1)
    ]
    try:
        # The server closes what it cannot take at once, and idle ones after the idle timeout:
        # every one of them ends (EOF) without a byte sent, and the refusal is counted.
        for sock in held:
            sock.settimeout(IDLE_TIMEOUT_S + 20)
            assert sock.recv(1) == b""
    finally:
        for sock in held:
            sock.close()
    assert (
        metric(
            gateway,
            'loginsight_requests_rejected_total{reason="too_many_connections",source="syslog"}',
        )
        > rejected_before
    )
    mark = token()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"<11>1 - h app - - - ERROR {mark}\n".encode())
    records_containing(gateway.settings, {mark})
    assert gateway.process.poll() is None, gateway.log_tail()
