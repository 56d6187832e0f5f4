"""The Datadog source against a real gateway: `datadog-api-client`'s LogsApi pointed at it, then
Datadog's limits (1,000 logs, 5 MB uncompressed, 1 MB per log truncated), and monitor webhooks."""

from __future__ import annotations

import gzip
import json
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import cramjam
import httpx
import pytest
from datadog_api_client import ApiClient, Configuration
from datadog_api_client.v2.api.logs_api import LogsApi
from datadog_api_client.v2.model.content_encoding import ContentEncoding
from datadog_api_client.v2.model.http_log import HTTPLog
from datadog_api_client.v2.model.http_log_item import HTTPLogItem

from tests.source_support import bus_records, metric, stats_by
from tests.support import RunningGateway, make_settings, running_gateway

KEY = "dd-test-key"
INTAKE = "/api/v2/logs"
WEBHOOK = "/v1/webhooks/datadog"


@dataclass
class Gateway:
    running: RunningGateway
    http: httpx.Client

    def intake(self, body: bytes, **headers: str) -> httpx.Response:
        headers = {"DD-API-KEY": KEY, "Content-Type": "application/json", **headers}
        return self.http.post(INTAKE, content=body, headers=headers)

    def records(self, service: str) -> list:
        return [r for r in bus_records(self.running.settings) if r.service == service]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    settings = make_settings(
        tmp_path_factory.mktemp("datadog") / "data", gateway={"api_keys": {"datadog": [KEY]}}
    )
    with running_gateway(settings) as running, httpx.Client(base_url=running.url) as http:
        yield Gateway(running, http)


def _client_config(url: str) -> Configuration:
    config = Configuration(host=url)
    config.api_key["apiKeyAuth"] = KEY
    config.return_http_data_only = False  # so the test sees the status code
    return config


def test_datadog_api_client_submits_logs(gw: Gateway) -> None:
    items = [
        HTTPLogItem(
            ddsource="nginx",
            ddtags="env:prod,version:5,canary",
            hostname="web-1",
            service="checkout",
            message="upstream timed out while reading response header",
            status="error",
        ),
        HTTPLogItem(ddsource="nginx", hostname="web-1", service="checkout", message="GET / 200"),
    ]
    with ApiClient(_client_config(gw.running.url)) as client:
        body, status, _headers = LogsApi(client).submit_log(
            HTTPLog(items), content_encoding=ContentEncoding.GZIP, ddtags="team:payments"
        )
    assert (status, body) == (202, {})
    assert stats_by(gw.http, "source").get("datadog", 0) >= 2
    [record] = gw.records("checkout")  # only the error matches a filter rule
    assert (record.source, record.host, record.environment) == ("datadog", "web-1", "prod")
    assert (record.level, record.message) == ("error", items[0].message)
    assert record.attributes["version"] == "5"
    assert record.attributes["team"] == "payments"  # from the ddtags query parameter
    assert record.attributes["ddsource"] == "nginx"
    assert "canary" in record.attributes


def test_statuses_map_onto_levels(gw: Gateway) -> None:
    statuses = {"emergency": "fatal", "critical": "fatal", "err": "error", "warn": "warn"}
    statuses |= {
        "warning": "warn",
        "notice": "info",
        "info": "info",
        "debug": "debug",
        "ok": "info",
    }
    logs = [{"service": f"svc-{status}", "status": status, "message": "m"} for status in statuses]
    reply = gw.intake(gzip.compress(json.dumps(logs).encode()), **{"Content-Encoding": "gzip"})
    assert reply.status_code == 202, reply.text
    levels = {row: n for row, n in stats_by(gw.http, "service").items() if row.startswith("svc-")}
    assert set(levels) == {f"svc-{status}" for status in statuses}
    fatal = [r for r in bus_records(gw.running.settings) if r.service == "svc-emergency"]
    assert [r.level for r in fatal] == ["fatal"]


def test_deflate_zstd_single_object_and_text(gw: Gateway) -> None:
    one = {"service": "enc", "message": "ERROR one", "timestamp": int(time.time() * 1000)}
    reply = gw.intake(zlib.compress(json.dumps(one).encode()), **{"Content-Encoding": "deflate"})
    assert reply.status_code == 202, reply.text
    zstd_body = bytes(cramjam.zstd.compress(json.dumps([one]).encode()))
    assert gw.intake(zstd_body, **{"Content-Encoding": "zstd"}).status_code == 202
    text = gw.http.post(
        INTAKE,
        params={"service": "enc", "ddsource": "plain"},
        content=b"ERROR two\nERROR three\n",
        headers={"DD-API-KEY": KEY, "Content-Type": "text/plain"},
    )
    assert text.status_code == 202, text.text
    assert sorted(r.message for r in gw.records("enc")) == [
        "ERROR one",
        "ERROR one",
        "ERROR three",
        "ERROR two",
    ]


def test_limits_of_the_intake(gw: Gateway) -> None:
    too_many = [{"service": "limits", "message": "x"}] * 1001
    reply = gw.intake(json.dumps(too_many).encode())
    assert reply.status_code == 413
    assert reply.json()["error"] == "too_many_records"

    big = json.dumps([{"service": "limits", "message": "y" * 900_000}] * 6).encode()
    reply = gw.intake(gzip.compress(big), **{"Content-Encoding": "gzip"})
    assert reply.status_code == 413
    assert reply.json()["error"] == "decompressed_body_too_large"

    huge = {"service": "limits", "status": "error", "message": "é" * 700_000}  # 1.4 MB
    assert gw.intake(json.dumps(huge).encode()).status_code == 202
    [record] = gw.records("limits")
    assert len(record.message.encode()) == 1_000_000
    assert record.attributes["truncated"] == "true"
    assert record.attributes["original_bytes"] == "1400000"
    assert metric(gw.http, "loginsight_records_truncated_total", source="datadog") >= 1


def test_bad_input_is_refused_and_counted(gw: Gateway) -> None:
    before = metric(gw.http, "loginsight_requests_rejected_total", source="datadog")
    assert gw.intake(b"[{not json").json()["error"] == "malformed_json"
    assert gw.intake(b"[1, 2]").json()["error"] == "invalid_record"
    bomb = gzip.compress(b"[" + b" " * 20_000_000 + b"]")
    assert gw.intake(bomb, **{"Content-Encoding": "gzip"}).status_code == 413
    assert gw.intake(b"{}", **{"Content-Encoding": "br"}).status_code == 415
    after = metric(gw.http, "loginsight_requests_rejected_total", source="datadog")
    assert after - before == 4
    # invalid UTF-8 is replaced, never refused
    raw = b'[{"service": "utf8", "status": "error", "message": "bad \xff\xfe bytes"}]'
    assert gw.intake(raw).status_code == 202
    [record] = gw.records("utf8")
    assert record.message == "bad \ufffd\ufffd bytes"
    # so are lone surrogates, which JSON can escape but UTF-8 cannot carry
    lone = (
        rb'[{"service": "lone", "status": "error", "message": "a \ud800", "ddtags": "env:\udc80"}]'
    )
    assert gw.intake(lone).status_code == 202
    [record] = gw.records("lone")
    assert (record.message, record.environment) == ("a \ufffd", "\ufffd")


def test_monitor_webhook_becomes_an_event(gw: Gateway) -> None:
    payload = {
        "id": "7421",
        "title": "[Triggered] High error rate on checkout",
        "body": "Error rate is 12% (threshold 5%)",
        "alert_type": "error",
        "priority": "normal",
        "hostname": "web-2",
        "tags": "service:checkout-api,env:prod,monitor",
        "date": str(int(time.time() * 1000)),
        "event_type": "query_alert_monitor",
        "org": {"id": "1", "name": "Acme"},
    }
    reply = gw.http.post(WEBHOOK, json=payload, headers={"Authorization": f"Bearer {KEY}"})
    assert reply.status_code == 202, reply.text
    [event] = gw.records("checkout-api")
    assert event.message == f"{payload['title']}\n{payload['body']}"
    assert (event.level, event.host, event.environment) == ("error", "web-2", "prod")
    assert event.attributes["kind"] == "webhook"
    assert event.attributes["event_type"] == "query_alert_monitor"
    assert event.attributes["org.name"] == "Acme"
    recovered = {**payload, "alert_type": "success", "title": "[Recovered] checkout"}
    reply = gw.http.post(WEBHOOK, json=recovered, headers={"DD-API-KEY": KEY})
    assert reply.status_code == 202
    assert stats_by(gw.http, "level").get("info", 0) >= 1
    assert gw.http.post(WEBHOOK, json={"id": "1"}, headers={"DD-API-KEY": KEY}).status_code == 400
