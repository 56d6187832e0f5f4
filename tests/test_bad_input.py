"""Bad input against one real gateway process, over HTTP and gRPC.

Every refusal names its reason, counts nothing (a request is all-or-nothing) and leaves the
gateway serving: each test follows its refusal with a valid request, then checks that the
stats hold exactly the valid records sent so far.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest

from ingest_gateway.proto import ingest_pb2, ingest_pb2_grpc
from tests.support import RunningGateway, make_settings, running_gateway

MAX_BODY = 1_000_000
MAX_DECOMPRESSED = 4_000_000
MAX_RECORD = 64_000
PUSH = "/loginsight.v1.LogIngest/Push"
NDJSON = {"content-type": "application/x-ndjson"}
JSON = {"content-type": "application/json"}


@dataclass
class Gateway:
    running: RunningGateway
    http: httpx.Client
    # Valid records sent so far, per service: what the stats must show, no more, no less.
    expected: Counter[str] = field(default_factory=Counter)

    def post(self, content: Any, headers: dict[str, str]) -> httpx.Response:
        return self.http.post("/v1/ingest", content=content, headers=headers)

    def stats(self, **params: str) -> httpx.Response:
        return self.http.get("/v1/stats", params=params)

    def counted(self) -> dict[str, int]:
        reply = self.stats(window="1h", by="service")
        assert reply.status_code == 200, reply.text
        return {row["service"]: row["count"] for row in reply.json()["rows"]}

    def assert_http_serves(self) -> None:
        """A valid request still succeeds, and only valid records were ever counted."""
        line = {"service": "valid-http", "level": "info", "message": "request served"}
        reply = self.post(json.dumps(line), NDJSON)
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"accepted": 1, "matched": 0}
        self.expected["valid-http"] += 1
        assert self.counted() == dict(self.expected)

    def assert_grpc_serves(self, channel: grpc.Channel) -> None:
        stub = ingest_pb2_grpc.LogIngestStub(channel)
        batch = ingest_pb2.LogBatch(
            entries=[ingest_pb2.LogEntry(service="valid-grpc", message="pushed fine")]
        )
        reply = stub.Push(iter([batch]), timeout=30)
        assert (reply.accepted, reply.matched) == (1, 0)
        self.expected["valid-grpc"] += 1
        assert self.counted() == dict(self.expected)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    settings = make_settings(
        tmp_path_factory.mktemp("bad-input") / "data",
        gateway={
            "max_body_bytes": MAX_BODY,
            "max_decompressed_bytes": MAX_DECOMPRESSED,
            "max_record_bytes": MAX_RECORD,
        },
    )
    with running_gateway(settings) as running, httpx.Client(base_url=running.url, timeout=30) as c:
        yield Gateway(running, c)


@pytest.fixture
def channel(gw: Gateway) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(gw.running.grpc_target) as opened:
        yield opened


def refused_line(message: str = "ERROR would be counted") -> str:
    """A record that would be valid alone; sent only inside requests that must be refused."""
    return json.dumps({"service": "refused", "level": "error", "message": message})


def assert_refused(reply: httpx.Response, status: int, error: str) -> str:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert body["error"] == error, body
    assert isinstance(body["detail"], str) and body["detail"]
    return str(body["detail"])


# ============================================================================== HTTP refusals


def test_valid_requests_are_counted(gw: Gateway) -> None:
    records = [{"service": "valid-json", "message": f"order {n} placed"} for n in range(3)]
    reply = gw.post(json.dumps({"records": records}), JSON)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"accepted": 3, "matched": 0}
    gw.expected["valid-json"] += 3

    zipped = gzip.compress(b"\n".join(json.dumps(r).encode() for r in records[:2]))
    reply = gw.post(zipped, {**NDJSON, "content-encoding": "gzip"})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"accepted": 2, "matched": 0}
    gw.expected["valid-json"] += 2
    gw.assert_http_serves()


def test_malformed_json(gw: Gateway) -> None:
    body = (
        '[\n  {"service": "refused", "message": "a"},\n  {"service": "refused" "message": "b"}\n]'
    )
    detail = assert_refused(gw.post(body, JSON), 400, "malformed_json")
    assert detail.startswith("line 3 column 25:"), detail  # the missing comma
    gw.assert_http_serves()


def test_malformed_json_single_line(gw: Gateway) -> None:
    detail = assert_refused(gw.post('{"message": "x"', JSON), 400, "malformed_json")
    assert "line 1 column" in detail
    gw.assert_http_serves()


def test_malformed_ndjson_on_line_3(gw: Gateway) -> None:
    body = "\n".join([refused_line(), refused_line(), '{"service": "refused", "message": '])
    detail = assert_refused(gw.post(body, NDJSON), 400, "malformed_json")
    assert "line 3" in detail
    gw.assert_http_serves()


@pytest.mark.parametrize("content_type", ["text/html", "application/xml", "multipart/form-data"])
def test_wrong_content_type(gw: Gateway, content_type: str) -> None:
    reply = gw.post(refused_line(), {"content-type": content_type})
    detail = assert_refused(reply, 415, "unsupported_media_type")
    assert content_type in detail
    gw.assert_http_serves()


def test_missing_content_type(gw: Gateway) -> None:
    reply = gw.post(refused_line().encode(), {})
    assert "content-type" not in reply.request.headers
    detail = assert_refused(reply, 415, "unsupported_media_type")
    assert "(none)" in detail
    gw.assert_http_serves()


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress"])
def test_unsupported_content_encoding(gw: Gateway, encoding: str) -> None:
    reply = gw.post(refused_line(), {**NDJSON, "content-encoding": encoding})
    detail = assert_refused(reply, 415, "unsupported_encoding")
    assert encoding in detail
    gw.assert_http_serves()


def oversized_ndjson() -> bytes:
    line = refused_line("x" * 1000).encode()
    body = b"\n".join([line] * (MAX_BODY // len(line) + 10))
    assert MAX_BODY < len(body) < 2 * MAX_BODY
    return body


def test_oversized_body(gw: Gateway) -> None:
    detail = assert_refused(gw.post(oversized_ndjson(), NDJSON), 413, "body_too_large")
    assert str(MAX_BODY) in detail
    gw.assert_http_serves()


def test_oversized_chunked_body_without_length(gw: Gateway) -> None:
    body = oversized_ndjson()
    chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
    reply = gw.post(chunks, NDJSON)
    assert "content-length" not in reply.request.headers
    assert_refused(reply, 413, "body_too_large")
    gw.assert_http_serves()


def test_invalid_utf8(gw: Gateway) -> None:
    body = b'{"service": "refused", "message": "caf\xe9 au lait"}'
    detail = assert_refused(gw.post(body, JSON), 400, "invalid_utf8")
    assert "byte 38" in detail
    gw.assert_http_serves()


@pytest.mark.parametrize(
    "body",
    [
        b"this is not gzip at all",
        gzip.compress(refused_line().encode())[:-12],  # truncated stream
    ],
    ids=["garbage", "truncated"],
)
def test_invalid_gzip(gw: Gateway, body: bytes) -> None:
    reply = gw.post(body, {**NDJSON, "content-encoding": "gzip"})
    assert_refused(reply, 400, "invalid_gzip")
    gw.assert_http_serves()


def test_gzip_bomb(gw: Gateway) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip container
    chunk = b"\0" * 1_000_000
    bomb = b"".join(compressor.compress(chunk) for _ in range(50)) + compressor.flush()
    assert len(bomb) < MAX_BODY // 10  # small on the wire, 50 MB inflated
    reply = gw.post(bomb, {**NDJSON, "content-encoding": "gzip"})
    detail = assert_refused(reply, 413, "decompressed_body_too_large")
    assert str(MAX_DECOMPRESSED) in detail
    gw.assert_http_serves()


def test_record_with_too_long_message(gw: Gateway) -> None:
    just_fits = json.dumps({"service": "valid-big", "message": "y" * MAX_RECORD})
    reply = gw.post(just_fits, NDJSON)
    assert reply.status_code == 200, reply.text
    gw.expected["valid-big"] += 1

    body = "\n".join([refused_line(), refused_line("z" * (MAX_RECORD + 1))])
    detail = assert_refused(gw.post(body, NDJSON), 413, "record_too_large")
    assert detail.startswith("line 2:"), detail
    gw.assert_http_serves()


@pytest.mark.parametrize(
    ("body", "headers", "where"),
    [
        (json.dumps([json.loads(refused_line()), 5]), JSON, "record 1"),
        (json.dumps([json.loads(refused_line()), ["a"]]), JSON, "record 1"),
        (refused_line() + '\n"just a string"', NDJSON, "line 2"),
        ("42", JSON, None),
    ],
    ids=["number-in-array", "array-in-array", "string-line", "bare-number"],
)
def test_non_object_record(
    gw: Gateway, body: str, headers: dict[str, str], where: str | None
) -> None:
    detail = assert_refused(gw.post(body, headers), 400, "invalid_record")
    if where is not None:
        assert detail.startswith(where), detail
    gw.assert_http_serves()


@pytest.mark.parametrize("ts", ["yesterday", "2024-02-30T00:00:00Z", True, [2024]])
def test_bad_timestamp(gw: Gateway, ts: Any) -> None:
    bad = {"service": "refused", "ts": ts, "message": "ERROR boom"}
    body = json.dumps([json.loads(refused_line()), bad])
    detail = assert_refused(gw.post(body, JSON), 400, "invalid_timestamp")
    assert detail.startswith("record 1:"), detail
    gw.assert_http_serves()


def test_missing_message(gw: Gateway) -> None:
    body = json.dumps({"records": [{"service": "refused", "msg_text": "nope"}]})
    assert_refused(gw.post(body, JSON), 400, "missing_message")
    gw.assert_http_serves()


@pytest.mark.parametrize("window", ["1x", "0h", "400d", "", "-1h", "1.5h"])
def test_bad_stats_window(gw: Gateway, window: str) -> None:
    detail = assert_refused(gw.stats(window=window), 400, "invalid_window")
    assert "window" in detail
    gw.assert_http_serves()


@pytest.mark.parametrize("by", ["host", "", "SERVICE"])
def test_bad_stats_by(gw: Gateway, by: str) -> None:
    detail = assert_refused(gw.stats(by=by), 400, "invalid_request")
    assert "by" in detail
    gw.assert_http_serves()


# ============================================================================== gRPC refusals


def raw_push(channel: grpc.Channel, payload: bytes) -> ingest_pb2.PushResponse:
    """Push bytes exactly as given, undecodable or not."""
    call = channel.stream_unary(
        PUSH, request_serializer=None, response_deserializer=ingest_pb2.PushResponse.FromString
    )
    reply: ingest_pb2.PushResponse = call(iter([payload]), timeout=30)
    return reply


def test_grpc_raw_valid_bytes_accepted(gw: Gateway, channel: grpc.Channel) -> None:
    batch = ingest_pb2.LogBatch(entries=[ingest_pb2.LogEntry(service="valid-raw", message="AAAA")])
    reply = raw_push(channel, batch.SerializeToString())
    assert (reply.accepted, reply.matched) == (1, 0)
    gw.expected["valid-raw"] += 1
    gw.assert_grpc_serves(channel)


def test_grpc_invalid_utf8_in_string_field(gw: Gateway, channel: grpc.Channel) -> None:
    valid = ingest_pb2.LogBatch(
        entries=[ingest_pb2.LogEntry(service="refused", message="AAAA")]
    ).SerializeToString()
    assert valid.count(b"AAAA") == 1
    invalid = valid.replace(b"AAAA", b"\xff\xfe\xfd\xfc")
    with pytest.raises(grpc.RpcError) as failed:
        raw_push(channel, invalid)
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "UTF-8" in (failed.value.details() or "")
    gw.assert_grpc_serves(channel)


@pytest.mark.parametrize(
    "garbage",
    [b"\xff" * 16, b"this is not a protobuf", b"\x0a\x05abc"],
    ids=["ff", "text", "short-length"],
)
def test_grpc_garbage_bytes(gw: Gateway, channel: grpc.Channel, garbage: bytes) -> None:
    with pytest.raises(grpc.RpcError) as failed:
        raw_push(channel, garbage)
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cannot decode LogBatch" in (failed.value.details() or "")
    gw.assert_grpc_serves(channel)


def test_grpc_message_larger_than_max_body(gw: Gateway, channel: grpc.Channel) -> None:
    entries = [ingest_pb2.LogEntry(service="refused", message="b" * 40_000) for _ in range(30)]
    batch = ingest_pb2.LogBatch(entries=entries)
    assert batch.ByteSize() > MAX_BODY
    stub = ingest_pb2_grpc.LogIngestStub(channel)
    with pytest.raises(grpc.RpcError) as failed:
        stub.Push(iter([batch]), timeout=30)
    assert failed.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    gw.assert_grpc_serves(channel)


def test_grpc_entry_with_too_long_message(gw: Gateway, channel: grpc.Channel) -> None:
    stub = ingest_pb2_grpc.LogIngestStub(channel)
    batch = ingest_pb2.LogBatch(
        entries=[
            ingest_pb2.LogEntry(service="refused", message="ERROR fine alone"),
            ingest_pb2.LogEntry(service="refused", message="c" * (MAX_RECORD + 1)),
        ]
    )
    with pytest.raises(grpc.RpcError) as failed:
        stub.Push(iter([batch]), timeout=30)
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = failed.value.details() or ""
    assert "record_too_large" in details
    assert "entry 1" in details
    gw.assert_grpc_serves(channel)


def test_grpc_stream_keeps_batches_acknowledged_before_a_bad_one(
    gw: Gateway, channel: grpc.Channel
) -> None:
    """Batches are durable as they arrive; the bad batch counts nothing of its own."""
    stub = ingest_pb2_grpc.LogIngestStub(channel)
    good = ingest_pb2.LogBatch(entries=[ingest_pb2.LogEntry(service="valid-stream", message="a")])
    bad = ingest_pb2.LogBatch(
        entries=[
            ingest_pb2.LogEntry(service="refused", message="fine alone"),
            ingest_pb2.LogEntry(service="refused", message="d" * (MAX_RECORD + 1)),
        ]
    )
    with pytest.raises(grpc.RpcError) as failed:
        stub.Push(iter([good, bad]), timeout=30)
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "1 entries were accepted before it" in (failed.value.details() or "")
    gw.expected["valid-stream"] += 1
    gw.assert_grpc_serves(channel)


def test_lone_surrogates_in_json_are_replaced_not_a_server_error(gw: Gateway) -> None:
    body = '{"service": "surrogate", "message": "bad \\ud800 text", "attrs": {"k\\udc00": "v"}}'
    reply = gw.post(body, {"content-type": "application/json"})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"accepted": 1, "matched": 0}
    gw.expected["surrogate"] += 1
    gw.assert_http_serves()


# ================================================================================== at the end


def test_zz_gateway_alive_and_stats_hold_exactly_the_valid_records(gw: Gateway) -> None:
    assert gw.running.process.poll() is None, gw.running.log_tail()
    assert healthz_ok(gw)
    counted = gw.counted()
    assert "refused" not in counted
    assert counted == dict(gw.expected)
    by_source = {row["source"]: row["count"] for row in gw.stats(by="source").json()["rows"]}
    grpc_services = ("valid-grpc", "valid-raw", "valid-stream")
    assert by_source.get("sdk", 0) == sum(gw.expected[s] for s in grpc_services)
    assert by_source.get("http", 0) == sum(
        n for s, n in gw.expected.items() if s not in grpc_services
    )
    # Every refused request carried error-level records; the valid ones match no rule, so a
    # single leaked refused record would show up as an error here.
    errors = {row["service"]: row["errors"] for row in gw.stats(by="service").json()["rows"]}
    assert set(errors.values()) <= {0}


def healthz_ok(gw: Gateway) -> bool:
    return gw.http.get("/healthz").status_code == 200
