"""Test support: run the real gateway as a subprocess on free ports, and drive the sensors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import httpx

from loginsight.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process load exactly these settings."""
    return {
        "LOGINSIGHT_DATA_DIR": str(settings.data_dir),
        "LOGINSIGHT_BUS": settings.bus,
        "LOGINSIGHT_STORE": settings.store,
        "LOGINSIGHT_GATEWAY__HTTP_PORT": str(settings.gateway.http_port),
        "LOGINSIGHT_GATEWAY__GRPC_PORT": str(settings.gateway.grpc_port),
        "LOGINSIGHT_GATEWAY__MAX_BODY_BYTES": str(settings.gateway.max_body_bytes),
        "LOGINSIGHT_GATEWAY__MAX_DECOMPRESSED_BYTES": str(settings.gateway.max_decompressed_bytes),
        "LOGINSIGHT_GATEWAY__MAX_RECORD_BYTES": str(settings.gateway.max_record_bytes),
        "LOGINSIGHT_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "LOGINSIGHT_POSTGRES__DSN": settings.postgres.dsn.get_secret_value(),
    }


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    gateway = {"http_port": free_port(), "grpc_port": free_port(), **overrides.pop("gateway", {})}
    return Settings(data_dir=data_dir, gateway=gateway, **overrides)


@dataclass
class RunningGateway:
    settings: Settings
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return self.settings.gateway.base_url

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.settings.gateway.grpc_port}"

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@contextmanager
def running_gateway(settings: Settings, timeout_s: float = 60.0) -> Iterator[RunningGateway]:
    """`python -m ingest_gateway` in its own process, ready (GET /healthz is 200) on entry."""
    log_path = settings.data_dir / "gateway.log"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **settings_env(settings)}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ingest_gateway"], cwd=REPO, env=env, stdout=log, stderr=log
        )
    gateway = RunningGateway(settings, process, log_path)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"gateway exited with {process.returncode}:\n{gateway.log_tail()}"
                )
            try:
                if httpx.get(f"{gateway.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gateway not ready in {timeout_s}s:\n{gateway.log_tail()}")
            time.sleep(0.2)
        yield gateway
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tick(
    defs: dg.Definitions, instance: dg.DagsterInstance, sensor_name: str, cursor: str | None
) -> tuple[list[dg.RunRequest], str | None, str | None]:
    """Evaluate one sensor tick: (run requests, new cursor, skip message)."""
    sensor = defs.get_sensor_def(sensor_name)
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        definitions=defs,
        sensor_name=sensor_name,
        resources=dict(defs.resources or {}),
    )
    data = sensor.evaluate_tick(context)
    skip = data.skip_message
    return list(data.run_requests or []), data.cursor, skip


def launch(
    defs: dg.Definitions, instance: dg.DagsterInstance, job_name: str, request: dg.RunRequest
) -> dg.ExecuteInProcessResult:
    """Run what a sensor requested, in process, tagged with its run key as the daemon would."""
    tags: Mapping[str, str] = {**request.tags, "dagster/run_key": request.run_key or ""}
    return defs.resolve_job_def(job_name).execute_in_process(
        run_config=request.run_config, instance=instance, tags=tags
    )
