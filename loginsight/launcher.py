"""Start and stop the processes of `loginsight up`: the gateway and `dagster dev`.

Each child runs in a session (process group) of its own, so stopping one ends everything it
spawned: `dagster dev` forks a webserver, a daemon and code servers, and only ending its whole
group leaves no orphans.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from loginsight.settings import Settings

DAGSTER_YAML = """\
# Written by `loginsight up` on first start; edit freely. Storage: SQLite files in this folder
# (for Postgres, see deploy/dagster.postgres.yaml).
concurrency:
  # Runs queue so a burst of batches cannot starve a small machine: two at a time, of which at
  # most one backfill run and one report, so sensor-driven analysis always gets a slot.
  runs:
    max_concurrent_runs: 2
    tag_concurrency_limits:
      - key: dagster/backfill
        limit: 1
      - key: loginsight/kind
        value: report
        limit: 1
  # Steps in a pool (pool="duckdb_warehouse": the writers of warehouse.duckdb) run one at a time.
  pools:
    default_limit: 1
    granularity: op
telemetry:
  enabled: false
"""

STOP_GRACE_S = 20.0


@dataclass
class ManagedProcess:
    name: str
    process: subprocess.Popen[bytes]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM the whole process group, then SIGKILL what is left after the grace period."""
        pgid = self.process.pid  # start_new_session: the child leads its own group
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                self.process.poll()
                if not _group_alive(pgid):
                    return
                time.sleep(0.2)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Stack:
    """The processes `loginsight up` started, stopped in reverse order."""

    processes: list[ManagedProcess] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.processes.append(ManagedProcess(name, process))

    def dead(self) -> ManagedProcess | None:
        return next((p for p in self.processes if not p.alive()), None)

    def stop(self) -> None:
        for managed in reversed(self.processes):
            managed.stop()


def prepare_dagster_home(settings: Settings) -> Path:
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    return home


def gateway_argv() -> list[str]:
    return [sys.executable, "-m", "ingest_gateway"]


def dagster_argv(settings: Settings, workspace: Path | None) -> list[str]:
    dagster = str(Path(sys.executable).with_name("dagster"))
    target = ["-w", str(workspace)] if workspace else ["-m", "loginsight_dagster.definitions"]
    return [dagster, "dev", *target, "-h", "127.0.0.1", "-p", str(settings.dagster_port)]


def wait_until_up(url: str, stack: Stack, timeout_s: float) -> bool:
    """Poll `url` until it answers 200, a child dies, or the timeout passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if stack.dead() is not None:
            return False
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


UP_RECORD_FILE = "up.json"


@dataclass(frozen=True)
class UpRecord:
    """What a running `loginsight up` left in the data folder for `down` and `status`."""

    pid: int
    gateway_url: str
    dagster_url: str
    started_at: float

    @classmethod
    def path_in(cls, settings: Settings) -> Path:
        return settings.data_dir / UP_RECORD_FILE

    def write(self, settings: Settings) -> None:
        path = self.path_in(settings)
        temp = path.with_suffix(".tmp")
        temp.write_text(json.dumps(asdict(self)))
        temp.replace(path)  # readers never see half a file

    @classmethod
    def read(cls, settings: Settings) -> UpRecord | None:
        """The record of a `loginsight up` that is still running, else None."""
        try:
            record = cls(**json.loads(cls.path_in(settings).read_text()))
        except (OSError, ValueError, TypeError):
            return None
        return record if process_running(record.pid) else None

    def remove(self, settings: Settings) -> None:
        path = self.path_in(settings)
        with contextlib.suppress(OSError, ValueError):
            if json.loads(path.read_text()).get("pid") == self.pid:
                path.unlink()


def process_running(pid: int) -> bool:
    """True while `pid` is a live `loginsight` process: an exited one (a zombie its parent has not
    reaped yet) or a recycled pid now used by another program does not count."""
    proc = Path("/proc") / str(pid)
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X") and b"loginsight" in cmdline


def stop_process(pid: int, timeout_s: float) -> bool:
    """SIGTERM `pid` and wait until it has exited; False when it is still running at the end."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while process_running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True
