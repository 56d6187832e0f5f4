"""Grafana Loki push against a real gateway: JSON as httpx sends it, and snappy-compressed
protobuf built with the classes generated from Loki's push.proto; then the label parser."""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import cramjam
import httpx
import pytest

from ingest_gateway.errors import IngestRefused
from ingest_gateway.normalize.loki import parse_labels
from ingest_gateway.proto import loki_push_pb2
from tests.source_support import bus_records, metric, stats_by
from tests.support import RunningGateway, make_settings, running_gateway

KEY = "loki-token"
PUSH = "/loki/api/v1/push"
PROTOBUF = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {KEY}"}
MAX_RECORD = 2_000


@dataclass
class Gateway:
    running: RunningGateway
    http: httpx.Client

    def push_json(self, body: object, **headers: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {KEY}", **headers}
        return self.http.post(PUSH, json=body, headers=headers)

    def push_protobuf(self, request: loki_push_pb2.PushRequest) -> httpx.Response:
        body = bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
        return self.http.post(PUSH, content=body, headers=PROTOBUF)

    def records(self, service: str) -> list:
        return [r for r in bus_records(self.running.settings) if r.service == service]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    settings = make_settings(
        tmp_path_factory.mktemp("loki") / "data",
        gateway={"api_keys": {"loki": [KEY]}, "max_record_bytes": MAX_RECORD},
    )
    with running_gateway(settings) as running, httpx.Client(base_url=running.url) as http:
        yield Gateway(running, http)


def ns(offset: int = 0) -> str:
    return str(time.time_ns() + offset)


def test_json_push(gw: Gateway) -> None:
    body: dict[str, Any] = {
        "streams": [
            {
                "stream": {"service_name": "cart", "level": "error", "instance": "cart-7:9000"},
                "values": [
                    [ns(), "cart checkout failed: timeout"],
                    [ns(1), "retry failed", {"trace_id": "4bf92f3577b34da6", "user": "u1"}],
                ],
            },
            {"stream": {"job": "cart", "env": "prod"}, "values": [[ns(2), "cart ok"]]},
        ]
    }
    reply = gw.push_json(body, **{"X-Scope-OrgID": "team-a"})
    assert reply.status_code == 204, reply.text
    assert stats_by(gw.http, "source").get("loki", 0) >= 3
    first, second = gw.records("cart")  # the two error-level entries match a rule
    assert (first.source, first.level, first.host) == ("loki", "error", "cart-7:9000")
    assert first.attributes["tenant"] == "team-a"
    assert first.attributes["service_name"] == "cart"
    assert second.trace_id == "4bf92f3577b34da6"
    assert second.attributes["user"] == "u1"
    assert str(first.event_time.timestamp())[:10] == body["streams"][0]["values"][0][0][:10]


def test_gzip_json_push(gw: Gateway) -> None:
    body = {"streams": [{"stream": {"app": "gz"}, "values": [[ns(), "ERROR gz line"]]}]}
    reply = gw.http.post(
        PUSH,
        content=gzip.compress(json.dumps(body).encode()),
        headers={
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Authorization": f"Bearer {KEY}",
        },
    )
    assert reply.status_code == 204, reply.text
    assert [r.message for r in gw.records("gz")] == ["ERROR gz line"]


def test_snappy_protobuf_push(gw: Gateway) -> None:
    request = loki_push_pb2.PushRequest()
    stream = request.streams.add(labels='{app="billing", host="db-1", msg="say \\"hi\\""}')
    entry = stream.entries.add(line="ledger write failed: deadlock")
    entry.timestamp.FromNanoseconds(time.time_ns())
    entry.structuredMetadata.add(name="detected_level", value="error")
    quiet = stream.entries.add(line="ledger write ok")
    quiet.timestamp.FromNanoseconds(time.time_ns())
    reply = gw.push_protobuf(request)
    assert reply.status_code == 204, reply.text
    [record] = gw.records("billing")
    assert (record.level, record.host, record.message) == (
        "error",
        "db-1",
        "ledger write failed: deadlock",
    )
    assert record.attributes["msg"] == 'say "hi"'
    assert stats_by(gw.http, "service")["billing"] == 2


def test_basic_auth_password_is_the_key(gw: Gateway) -> None:
    token = base64.b64encode(f"12345:{KEY}".encode()).decode()
    body = {"streams": [{"stream": {"app": "basic"}, "values": [[ns(), "ok"]]}]}
    reply = gw.http.post(PUSH, json=body, headers={"Authorization": f"Basic {token}"})
    assert reply.status_code == 204, reply.text
    assert gw.http.post(PUSH, json=body).status_code == 401


def test_invalid_utf8_is_replaced_and_long_lines_truncated(gw: Gateway) -> None:
    # A hand-encoded EntryAdapter: field 2 (line) holds bytes that are not UTF-8.
    line = b"ERROR bad \xff\xfe bytes"
    entry = loki_push_pb2.EntryAdapter()
    entry.timestamp.FromNanoseconds(time.time_ns())
    entry_bytes = entry.SerializeToString() + b"\x12" + bytes([len(line)]) + line
    labels = b'{app="raw"}'
    stream = b"\x0a" + bytes([len(labels)]) + labels + b"\x12" + bytes([len(entry_bytes)])
    body = b"\x0a" + bytes([len(stream) + len(entry_bytes)]) + stream + entry_bytes
    reply = gw.http.post(PUSH, content=bytes(cramjam.snappy.compress_raw(body)), headers=PROTOBUF)
    assert reply.status_code == 204, reply.text
    [record] = gw.records("raw")
    assert record.message == "ERROR bad \ufffd\ufffd bytes"

    lone = b'{"streams": [{"stream": {"app": "lone\\ud800"}, "values": [["%d", "ERROR \\udc80"]]}]}'
    reply = gw.http.post(
        PUSH,
        content=lone % time.time_ns(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"},
    )
    assert reply.status_code == 204, reply.text
    [surrogate] = gw.records("lone\ufffd")
    assert surrogate.message == "ERROR \ufffd"

    long_line = "ERROR " + "x" * (MAX_RECORD * 2)
    body_json = {"streams": [{"stream": {"app": "long"}, "values": [[ns(), long_line]]}]}
    assert gw.push_json(body_json).status_code == 204
    [cut] = gw.records("long")
    assert len(cut.message) == MAX_RECORD
    assert cut.attributes["truncated"] == "true"


def test_bad_pushes_are_refused_and_counted(gw: Gateway) -> None:
    before = metric(gw.http, "loginsight_requests_rejected_total", source="loki")
    bad_snappy = gw.http.post(PUSH, content=b"\xff\xff\xff\xff\x0fnot snappy", headers=PROTOBUF)
    assert bad_snappy.status_code == 413  # declares a 4 GiB output: refused before any work
    garbage = gw.http.post(
        PUSH, content=bytes(cramjam.snappy.compress_raw(b"\xff\xff\xff")), headers=PROTOBUF
    )
    assert garbage.json()["error"] == "invalid_protobuf"
    bomb = bytes(cramjam.snappy.compress_raw(b"\x00" * 60_000_000))
    assert gw.http.post(PUSH, content=bomb, headers=PROTOBUF).status_code == 413
    bad_ts = {"streams": [{"stream": {"app": "x"}, "values": [["yesterday", "line"]]}]}
    assert gw.push_json(bad_ts).json()["error"] == "invalid_timestamp"
    bad_labels = loki_push_pb2.PushRequest()
    bad_labels.streams.add(labels="{app=unquoted}").entries.add(line="l")
    assert gw.push_protobuf(bad_labels).json()["error"] == "invalid_labels"
    after = metric(gw.http, "loginsight_requests_rejected_total", source="loki")
    assert after - before == 5


def test_label_parser() -> None:
    assert parse_labels("{}") == {}
    assert parse_labels('{a="1",b="two words", c="x\\ny\\\\z\\u00e9",}') == {
        "a": "1",
        "b": "two words",
        "c": "x\ny\\zé",
    }
    assert parse_labels('{ job = "api" , level="warn" }') == {"job": "api", "level": "warn"}
    assert parse_labels('{q="{\\"nested\\": 1}"}') == {"q": '{"nested": 1}'}
    for bad in ('app="x"', '{app="x}', '{1app="x"}', '{app="x" b="y"}'):
        with pytest.raises(IngestRefused):
            parse_labels(bad)
