"""Around every source, against real gateway processes: authentication with each protocol's own
header (401 / UNAUTHENTICATED, counted on /metrics), secure by default (no keys: loopback only),
TLS for HTTP and gRPC with a certificate the test makes, settings from a YAML file with
environment overrides, and every listener switched off (404 / UNIMPLEMENTED)."""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import httpx
import pytest
import yaml

from ingest_gateway.proto import ingest_pb2, ingest_pb2_grpc, loki_push_pb2
from loginsight.settings import CONFIG_FILE_ENV, GatewaySettings, Settings
from tests.source_support import metric, stats_by
from tests.support import REPO, free_port, make_settings, running_gateway

KEYS = {
    "http": "k-http",
    "sdk": "k-sdk",
    "datadog": "k-datadog",
    "firehose": "k-firehose",
    "loki": "k-loki",
}
REJECTED = "loginsight_requests_rejected_total"


def _firehose_body() -> bytes:
    control = {"messageType": "CONTROL_MESSAGE", "logGroup": "", "logEvents": []}
    data = base64.b64encode(gzip.compress(json.dumps(control).encode())).decode()
    return json.dumps({"requestId": "r-1", "timestamp": 1, "records": [{"data": data}]}).encode()


def _loki_body() -> bytes:
    return json.dumps(
        {"streams": [{"stream": {"app": "sec"}, "values": [[str(time.time_ns()), "hello"]]}]}
    ).encode()


# source label on /metrics -> (path, content type, body, headers presenting a key, success status)
HttpCase = tuple[str, str, bytes, Callable[[str], dict[str, str]], int]
HTTP_SOURCES: dict[str, tuple[str, HttpCase]] = {
    "http": (
        "http",
        (
            "/v1/ingest",
            "application/json",
            b'{"service": "sec", "message": "hello"}',
            lambda key: {"Authorization": f"Bearer {key}"},
            200,
        ),
    ),
    "datadog": (
        "datadog",
        (
            "/api/v2/logs",
            "application/json",
            b'[{"service": "sec", "message": "hello"}]',
            lambda key: {"DD-API-KEY": key},
            202,
        ),
    ),
    "cloudwatch": (
        "firehose",
        (
            "/v1/firehose",
            "application/json",
            _firehose_body(),
            lambda key: {"X-Amz-Firehose-Access-Key": key, "X-Amz-Firehose-Request-Id": "r-1"},
            200,
        ),
    ),
    "loki": (
        "loki",
        (
            "/loki/api/v1/push",
            "application/json",
            _loki_body(),
            lambda key: {"Authorization": f"Bearer {key}"},
            204,
        ),
    ),
}


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, httpx.Client]]:
    settings = make_settings(
        tmp_path_factory.mktemp("keys") / "data",
        gateway={"api_keys": {source: [key] for source, key in KEYS.items()}},
    )
    with running_gateway(settings) as running, httpx.Client(base_url=running.url) as http:
        yield running.grpc_target, http


@pytest.mark.parametrize("label", sorted(HTTP_SOURCES))
def test_http_sources_need_their_key(label: str, keyed: tuple[str, httpx.Client]) -> None:
    _, http = keyed
    key_source, (path, content_type, body, present, ok) = HTTP_SOURCES[label]
    before = metric(http, REJECTED, source=label, reason="unauthenticated")
    base = {"Content-Type": content_type}
    assert http.post(path, content=body, headers=base).status_code == 401
    wrong = http.post(path, content=body, headers={**base, **present("wrong")})
    assert wrong.status_code == 401
    another_sources_key = KEYS["loki" if key_source != "loki" else "http"]
    assert (
        http.post(path, content=body, headers={**base, **present(another_sources_key)}).status_code
        == 401
    )
    assert metric(http, REJECTED, source=label, reason="unauthenticated") - before == 3
    right = http.post(path, content=body, headers={**base, **present(KEYS[key_source])})
    assert right.status_code == ok, right.text


def _push(channel: grpc.Channel, metadata: tuple[tuple[str, str], ...] = ()) -> int:
    stub = ingest_pb2_grpc.LogIngestStub(channel)
    batch = ingest_pb2.LogBatch(entries=[ingest_pb2.LogEntry(service="sec", message="hello")])
    return stub.Push(iter([batch]), timeout=30, metadata=metadata).accepted


def test_native_grpc_needs_its_key_in_metadata(keyed: tuple[str, httpx.Client]) -> None:
    target, http = keyed
    before = metric(http, REJECTED, source="sdk", reason="unauthenticated")
    with grpc.insecure_channel(target) as channel:
        for metadata in ((), (("authorization", "Bearer wrong"),)):
            with pytest.raises(grpc.RpcError) as refused:
                _push(channel, metadata)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert _push(channel, (("authorization", f"Bearer {KEYS['sdk']}"),)) == 1
        assert _push(channel, (("x-api-key", KEYS["sdk"]),)) == 1
    assert metric(http, REJECTED, source="sdk", reason="unauthenticated") - before == 2


def _gateway_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGINSIGHT_")}
    return env | {
        "LOGINSIGHT_DATA_DIR": str(data_dir),
        "LOGINSIGHT_GATEWAY__HTTP_PORT": str(free_port()),
        "LOGINSIGHT_GATEWAY__GRPC_PORT": str(free_port()),
        **extra,
    }


def test_beyond_loopback_without_keys_refuses_to_start(tmp_path: Path) -> None:
    env = _gateway_env(tmp_path / "data", LOGINSIGHT_GATEWAY__HOST="0.0.0.0")
    process = subprocess.run(
        [sys.executable, "-m", "ingest_gateway"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode != 0
    assert "refusing to start" in process.stderr
    assert "listens beyond loopback: configure gateway.api_keys" in process.stderr
    assert "Traceback" not in process.stderr


def test_no_keys_means_loopback_and_any_key(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    assert settings.gateway.host == "127.0.0.1"
    with running_gateway(settings) as running, httpx.Client(base_url=running.url) as http:
        reply = http.post(
            "/loki/api/v1/push",
            content=_loki_body(),
            headers={"Content-Type": "application/json", "Authorization": "Bearer anything"},
        )
        assert reply.status_code == 204


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def test_tls_on_http_and_grpc(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    settings = make_settings(
        tmp_path / "data", gateway={"tls_cert_file": cert, "tls_key_file": key}
    )
    with running_gateway(settings) as running:
        assert running.url.startswith("https://127.0.0.1:")
        with httpx.Client(base_url=running.url, verify=str(cert)) as https:
            reply = https.post("/api/v2/logs", json=[{"service": "tls", "message": "over TLS"}])
            assert reply.status_code == 202, reply.text
            with pytest.raises(httpx.ConnectError):  # an unverified client is refused
                httpx.get(f"{running.url}/healthz")
            credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
            with grpc.secure_channel(running.grpc_target, credentials) as channel:
                assert _push(channel) == 1
            with grpc.insecure_channel(running.grpc_target) as plain:
                with pytest.raises(grpc.RpcError) as refused:
                    _push(plain)
                assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert stats_by(https, "source") == {"datadog": 1, "sdk": 1}


def test_yaml_config_with_env_override_and_listeners_off(tmp_path: Path) -> None:
    http_port, grpc_port = free_port(), free_port()
    config = {
        "data_dir": str(tmp_path / "data"),
        "gateway": {
            "http_port": http_port,
            "grpc_port": grpc_port,
            "native_http_enabled": False,
            "native_grpc_enabled": False,
            "datadog": {"enabled": False},
            "firehose": {"enabled": False},
            "loki": {"enabled": False},
        },
        "otlp": {"enabled": False},
        "syslog": {"enabled": False},
    }
    config_file = tmp_path / "loginsight.yaml"
    config_file.write_text(yaml.safe_dump(config))
    settings = Settings(
        data_dir=tmp_path / "data",
        gateway=GatewaySettings(http_port=http_port, grpc_port=grpc_port),
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGINSIGHT_")} | {
        CONFIG_FILE_ENV: str(config_file),
        "LOGINSIGHT_GATEWAY__LOKI__ENABLED": "true",  # the environment overrides the file
    }
    with running_gateway(settings, env=env) as running, httpx.Client(base_url=running.url) as http:
        for path in ("/v1/ingest", "/api/v2/logs", "/v1/webhooks/datadog", "/v1/firehose"):
            assert http.post(path, json={}).status_code == 404, path
        loki = http.post(
            "/loki/api/v1/push", content=_loki_body(), headers={"Content-Type": "application/json"}
        )
        assert loki.status_code == 204, loki.text
        with grpc.insecure_channel(running.grpc_target) as channel:
            with pytest.raises(grpc.RpcError) as off:
                _push(channel)
            assert off.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert stats_by(http, "source") == {"loki": 1}
    assert (tmp_path / "data" / "stats.duckdb").exists()  # data_dir came from the file


def test_loki_protobuf_classes_match_lokis_field_numbers() -> None:
    fields = {
        message.name: {field.name: field.number for field in message.fields}
        for message in loki_push_pb2.DESCRIPTOR.message_types_by_name.values()
    }
    assert fields["PushRequest"] == {"streams": 1, "format": 2}
    assert fields["StreamAdapter"] == {"labels": 1, "entries": 2, "hash": 3}
    assert fields["EntryAdapter"] == {
        "timestamp": 1,
        "line": 2,
        "structuredMetadata": 3,
        "parsed": 4,
    }
    assert fields["LabelPairAdapter"] == {"name": 1, "value": 2}
