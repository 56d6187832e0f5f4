"""CloudWatch Logs through Amazon Data Firehose against a real gateway, with payloads built as AWS
documents them: the HTTP endpoint delivery request (records[].data = base64 of a gzip-compressed
CloudWatch Logs subscription payload), its exact response shape, a control message, malformed
records, and retries of one request id (also across a gateway restart)."""

from __future__ import annotations

import base64
import gzip
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.source_support import bus_records, metric, stats_by
from tests.support import RunningGateway, make_settings, running_gateway

KEY = "firehose-access-key"
PATH = "/v1/firehose"
ARN = "arn:aws:firehose:us-east-1:123456789012:deliverystream/cwl-to-loginsight"
MAX_EVENTS = 500


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def subscription_payload(
    log_group: str, log_stream: str, messages: list[str], kind: str = "DATA_MESSAGE"
) -> dict[str, Any]:
    """A CloudWatch Logs subscription payload, as the subscription filter writes it."""
    base = now_ms()
    return {
        "messageType": kind,
        "owner": "123456789012",
        "logGroup": log_group,
        "logStream": log_stream,
        "subscriptionFilters": ["to-loginsight"],
        "logEvents": [
            {
                "id": f"3195310660696698337880902507980421114328961542429{i:05d}",
                "timestamp": base + i,
                "message": message,
            }
            for i, message in enumerate(messages)
        ],
    }


CONTROL = {
    "messageType": "CONTROL_MESSAGE",
    "owner": "CloudwatchLogs",
    "logGroup": "",
    "logStream": "",
    "subscriptionFilters": [],
    "logEvents": [
        {
            "id": "",
            "timestamp": 1432826855000,
            "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose.",
        }
    ],
}


def record_data(payload: dict[str, Any]) -> str:
    return base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()


@dataclass
class Gateway:
    running: RunningGateway
    http: httpx.Client

    def deliver(
        self,
        records: list[str],
        request_id: str | None = None,
        key: str = KEY,
        gzip_body: bool = False,
    ) -> tuple[str, httpx.Response]:
        """One Firehose delivery request, headers and body as the service sends them."""
        request_id = request_id or str(uuid.uuid4())
        body = json.dumps(
            {
                "requestId": request_id,
                "timestamp": now_ms(),
                "records": [{"data": d} for d in records],
            }
        ).encode()
        headers = {
            "X-Amz-Firehose-Protocol-Version": "1.0",
            "X-Amz-Firehose-Request-Id": request_id,
            "X-Amz-Firehose-Source-Arn": ARN,
            "X-Amz-Firehose-Access-Key": key,
            "Content-Type": "application/json",
        }
        if gzip_body:
            body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
        return request_id, self.http.post(PATH, content=body, headers=headers)

    def count(self) -> int:
        return stats_by(self.http, "source").get("cloudwatch", 0)


def assert_success(reply: httpx.Response, request_id: str) -> None:
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert set(body) == {"requestId", "timestamp"}
    assert body["requestId"] == request_id
    assert isinstance(body["timestamp"], int) and body["timestamp"] > 1_600_000_000_000


def assert_failure(reply: httpx.Response, request_id: str, status: int, reason: str) -> None:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"requestId", "timestamp", "errorMessage"}
    assert body["requestId"] == request_id
    assert body["errorMessage"].startswith(reason), body


def _settings(data_dir: Path) -> Any:
    return make_settings(
        data_dir,
        gateway={"api_keys": {"firehose": [KEY]}, "max_records_per_request": MAX_EVENTS},
    )


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    settings = _settings(tmp_path_factory.mktemp("firehose") / "data")
    with running_gateway(settings) as running, httpx.Client(base_url=running.url) as http:
        yield Gateway(running, http)


def test_delivery_with_a_control_message(gw: Gateway) -> None:
    lambda_logs = subscription_payload(
        "/aws/lambda/checkout-fn",
        "2024/05/01/[$LATEST]abcdef",
        [
            "START RequestId: 8f5 Version: $LATEST",
            "2024-05-01T10:00:00.000Z\t8f5\tERROR\tpayment declined: card expired",
            '{"level": "ERROR", "message": "inventory lookup failed"}',
        ],
    )
    request_id, reply = gw.deliver([record_data(CONTROL), record_data(lambda_logs)])
    assert_success(reply, request_id)
    assert gw.count() == 3  # the control message is acknowledged and dropped
    errors = [r for r in bus_records(gw.running.settings) if r.service == "checkout-fn"]
    assert len(errors) == 2
    first = errors[0]
    assert (first.source, first.level) == ("cloudwatch", "error")
    assert first.attributes["log_group"] == "/aws/lambda/checkout-fn"
    assert first.attributes["log_stream"] == "2024/05/01/[$LATEST]abcdef"
    assert first.attributes["owner"] == "123456789012"
    event = lambda_logs["logEvents"][1]
    assert first.event_time.timestamp() * 1000 == pytest.approx(event["timestamp"])


def test_lone_surrogates_are_replaced(gw: Gateway) -> None:
    payload = subscription_payload("/ecs/lone", "s\ud800", ["ERROR \udc80 here"])
    payload["logEvents"][0]["id"] = "\ud800"
    # json.dumps escapes the lone surrogates as \\ud800, as any JSON writer may
    request_id, reply = gw.deliver([record_data(payload)])
    assert_success(reply, request_id)
    [record] = [r for r in bus_records(gw.running.settings) if r.service == "lone"]
    assert record.message == "ERROR \ufffd here"
    assert record.attributes["log_stream"] == "s\ufffd"


def test_retried_request_id_is_not_ingested_twice(gw: Gateway) -> None:
    data = record_data(subscription_payload("/ecs/orders", "orders/1", ["ERROR retried once"]))
    before = gw.count()
    request_id, reply = gw.deliver([data], gzip_body=True)
    assert_success(reply, request_id)
    assert gw.count() == before + 1
    for _ in range(2):  # Firehose retries with the same request id when it missed our answer
        _, again = gw.deliver([data], request_id=request_id)
        assert_success(again, request_id)
    assert gw.count() == before + 1


def test_malformed_records_refuse_the_request_in_the_shape_firehose_retries(gw: Gateway) -> None:
    good = record_data(subscription_payload("/ecs/billing", "b/1", ["ERROR kept after fix"]))
    rejected_before = metric(gw.http, "loginsight_requests_rejected_total", source="cloudwatch")
    before = gw.count()
    request_id, reply = gw.deliver([good, "%%% not base64 %%%"])
    assert_failure(reply, request_id, 400, "invalid_base64: record 1")
    bad_gzip = base64.b64encode(b"\x1f\x8b\x08\x00garbage-after-the-magic").decode()
    _, reply = gw.deliver([good, bad_gzip], request_id=request_id)
    assert_failure(reply, request_id, 400, "invalid_gzip: record 1")
    not_a_payload = base64.b64encode(gzip.compress(b'{"hello": "world"}')).decode()
    _, reply = gw.deliver([not_a_payload], request_id=request_id)
    assert_failure(reply, request_id, 400, "invalid_record: record 0")
    assert gw.count() == before  # all-or-nothing
    after = metric(gw.http, "loginsight_requests_rejected_total", source="cloudwatch")
    assert after - rejected_before == 3
    # A failed request id is not remembered: the retry, once fixed, is delivered.
    _, reply = gw.deliver([good], request_id=request_id)
    assert_success(reply, request_id)
    assert gw.count() == before + 1


def test_too_many_events_is_permanent_413(gw: Gateway) -> None:
    payload = subscription_payload("/ecs/flood", "f/1", ["line"] * (MAX_EVENTS + 1))
    request_id, reply = gw.deliver([record_data(payload)])
    assert_failure(reply, request_id, 413, "too_many_records")


def test_wrong_access_key_is_401_in_firehose_shape(gw: Gateway) -> None:
    before = metric(
        gw.http, "loginsight_requests_rejected_total", source="cloudwatch", reason="unauthenticated"
    )
    request_id, reply = gw.deliver([record_data(CONTROL)], key="wrong")
    assert_failure(reply, request_id, 401, "unauthenticated")
    after = metric(
        gw.http, "loginsight_requests_rejected_total", source="cloudwatch", reason="unauthenticated"
    )
    assert after - before == 1


def test_delivered_request_ids_survive_a_restart(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "data")
    data = record_data(subscription_payload("/aws/lambda/restart-fn", "s", ["ERROR once only"]))
    with running_gateway(settings) as running, httpx.Client(base_url=running.url) as http:
        request_id, reply = Gateway(running, http).deliver([data])
        assert_success(reply, request_id)
    with running_gateway(settings) as running, httpx.Client(base_url=running.url) as http:
        gateway = Gateway(running, http)
        _, reply = gateway.deliver([data], request_id=request_id)
        assert_success(reply, request_id)
        assert gateway.count() == 1
    assert [r.message for r in bus_records(settings)] == ["ERROR once only"]
