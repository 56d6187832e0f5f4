"""Test support: run the real gateway as a subprocess on free ports, and drive the sensors."""

from __future__ import annotations

import json
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


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port free for both TCP and UDP now (syslog takes both), and never one this
    process handed out before: a gateway's several ports must not collide."""
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
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process load exactly these settings."""
    tls = {
        "LOGINSIGHT_GATEWAY__TLS_CERT_FILE": str(settings.gateway.tls_cert_file),
        "LOGINSIGHT_GATEWAY__TLS_KEY_FILE": str(settings.gateway.tls_key_file),
    }
    return (tls if settings.gateway.tls else {}) | {
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
        "LOGINSIGHT_OTLP": settings.otlp.model_dump_json(),
        "LOGINSIGHT_SYSLOG": settings.syslog.model_dump_json(),
        "LOGINSIGHT_FILE_TAIL": settings.file_tail.model_dump_json(),
        "LOGINSIGHT_SPOOL": settings.spool.model_dump_json(),
        "LOGINSIGHT_UI": settings.ui.model_dump_json(),
        "LOGINSIGHT_DAGSTER_PORT": str(settings.dagster_port),
        "LOGINSIGHT_GATEWAY__MAX_RECORDS_PER_REQUEST": str(
            settings.gateway.max_records_per_request
        ),
        "LOGINSIGHT_GATEWAY__NATIVE_HTTP_ENABLED": str(settings.gateway.native_http_enabled),
        "LOGINSIGHT_GATEWAY__NATIVE_GRPC_ENABLED": str(settings.gateway.native_grpc_enabled),
        "LOGINSIGHT_GATEWAY__DATADOG": settings.gateway.datadog.model_dump_json(),
        "LOGINSIGHT_GATEWAY__FIREHOSE": settings.gateway.firehose.model_dump_json(),
        "LOGINSIGHT_GATEWAY__LOKI": settings.gateway.loki.model_dump_json(),
        "LOGINSIGHT_GATEWAY__API_KEYS": json.dumps(
            {
                source: [key.get_secret_value() for key in keys]
                for source, keys in settings.gateway.api_keys.items()
            }
        ),
    }


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    gateway = {"http_port": free_port(), "grpc_port": free_port(), **overrides.pop("gateway", {})}
    overrides["otlp"] = {"http_port": free_port(), **overrides.get("otlp", {})}
    overrides["syslog"] = {"port": free_port(), **overrides.get("syslog", {})}
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
def running_gateway(
    settings: Settings, timeout_s: float = 60.0, env: Mapping[str, str] | None = None
) -> Iterator[RunningGateway]:
    """`python -m ingest_gateway` in its own process, ready (GET /healthz is 200) on entry.
    `env` replaces the settings' environment (e.g. to load them from a config file instead)."""
    log_path = settings.data_dir / "gateway.log"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **(settings_env(settings) if env is None else env)}
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
                verify = str(settings.gateway.tls_cert_file) if settings.gateway.tls else True
                healthz = httpx.get(f"{gateway.url}/healthz", timeout=1, verify=verify)
                if healthz.status_code == 200:
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
    available = dict(defs.resources or {})
    # Only what the sensor uses: opening every resource (an OpenAI client ...) is not its job.
    needed = {key: available[key] for key in sensor.required_resource_keys}
    with dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        definitions=defs,
        sensor_name=sensor_name,
        resources=needed,
    ) as context:
        data = sensor.evaluate_tick(context)
    skip = data.skip_message
    return list(data.run_requests or []), data.cursor, skip


def launch(
    defs: dg.Definitions, instance: dg.DagsterInstance, job_name: str, request: dg.RunRequest
) -> dg.ExecuteInProcessResult:
    """Run what a sensor requested, in process, tagged with its run key as the daemon would, in
    the partition it asked for (the analysis runs one event hour each)."""
    tags: Mapping[str, str] = {**request.tags, "dagster/run_key": request.run_key or ""}
    return defs.resolve_job_def(job_name).execute_in_process(
        run_config=request.run_config,
        instance=instance,
        tags=tags,
        partition_key=request.partition_key,
    )
