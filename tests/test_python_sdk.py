"""The Python SDK (`loginsight_sdk.LogInsightHandler`) with Python's own `logging`, against a
real gateway process: records (and tracebacks) arrive as source `sdk`; a full queue drops and
counts instead of blocking; an outage is retried until the gateway is up; a permanent refusal
is not retried."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import httpx
import pytest

from loginsight.bus.sqlite import SQLiteBus
from loginsight.model import LogRecord
from loginsight.settings import TOPIC_LOGS_TO_ANALYZE
from loginsight_sdk import LogInsightHandler
from tests.support import RunningGateway, free_port, make_settings, running_gateway

SDK_KEY = "sdk-test-key"


def app_logger(handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"sdk-test.{uuid.uuid4().hex[:8]}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    return logger


def service_counts(gateway: RunningGateway, by: str = "service") -> dict[str, int]:
    reply = httpx.get(f"{gateway.url}/v1/stats", params={"window": "1h", "by": by}, timeout=10)
    assert reply.status_code == 200, reply.text
    return {row[by]: row["count"] for row in reply.json()["rows"]}


def matched_records(gateway: RunningGateway, service: str) -> list[LogRecord]:
    bus = SQLiteBus(gateway.settings.bus_db_path)
    try:
        end = bus.end_offsets(TOPIC_LOGS_TO_ANALYZE)
        messages = bus.read(TOPIC_LOGS_TO_ANALYZE, {0: 0}, end)
    finally:
        bus.close()
    records = [LogRecord.from_bus(message.value) for message in messages]
    return [record for record in records if record.service == service]


def unauthenticated_refusals(gateway: RunningGateway) -> float:
    metrics = httpx.get(f"{gateway.url}/metrics", timeout=10).text
    for line in metrics.splitlines():
        if line.startswith(
            'loginsight_requests_rejected_total{reason="unauthenticated",source="sdk"}'
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    settings = make_settings(
        tmp_path_factory.mktemp("sdk") / "data", gateway={"api_keys": {"sdk": [SDK_KEY]}}
    )
    with running_gateway(settings) as running:
        yield running


def test_records_and_a_traceback_arrive_as_source_sdk(gateway: RunningGateway) -> None:
    service = f"shop-{uuid.uuid4().hex[:6]}"
    handler = LogInsightHandler(
        gateway.grpc_target, service=service, host="app-1", environment="test", api_key=SDK_KEY
    )
    logger = app_logger(handler)
    logger.info("basket opened", extra={"user": "u-1"})
    logger.warning("stock low for %s", "sku-9")
    try:
        {}["coupon"]
    except KeyError:
        logger.exception("checkout failed", extra={"order": 42})
    assert handler.flush(30)
    handler.close()
    assert (handler.sent, handler.dropped, handler.failed) == (3, 0, 0)

    assert service_counts(gateway)[service] == 3
    assert service_counts(gateway, "source")["sdk"] >= 3
    [record] = matched_records(gateway, service)  # only the exception is matched
    assert record.source == "sdk"
    assert (record.host, record.environment, record.level) == ("app-1", "test", "error")
    assert record.severity_number == 17
    assert record.message.startswith("checkout failed\nTraceback (most recent call last):")
    assert "KeyError: 'coupon'" in record.message
    assert "traceback" in record.matched_rules
    assert record.attributes["order"] == "42"
    assert record.attributes["logger"].startswith("sdk-test.")


def test_a_full_queue_drops_and_counts_instead_of_blocking() -> None:
    # Nothing listens on the port: the sender holds one batch of one record while retrying.
    handler = LogInsightHandler(
        f"127.0.0.1:{free_port()}",
        service="dropper",
        max_queue=5,
        batch_size=1,
        shutdown_timeout_s=0.5,
    )
    logger = app_logger(handler)
    for number in range(50):
        logger.error("record %d", number)
    # 5 fit in the queue and at most 1 is with the sender; every other emit returned at once.
    assert 44 <= handler.dropped <= 45
    assert handler.flush(0.2) is False  # still undelivered, not lost
    handler.close()
    assert handler.sent == 0
    assert handler.failed + handler.dropped == 50  # given up at close, and counted


def test_records_logged_during_an_outage_arrive_once_the_gateway_is_up(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    settings = make_settings(tmp_path_factory.mktemp("sdk-outage") / "data")
    target = f"127.0.0.1:{settings.gateway.grpc_port}"
    handler = LogInsightHandler(target, service="late-gateway", max_retry_s=120, max_backoff_s=0.5)
    logger = app_logger(handler)
    logger.info("queued before the gateway started")
    logger.error("fatal: could not reach the payment provider")
    assert handler.flush(0.5) is False  # the gateway is not there yet
    with running_gateway(settings) as gateway:
        assert handler.flush(60)
        handler.close()
        assert (handler.sent, handler.failed) == (2, 0)
        assert service_counts(gateway)["late-gateway"] == 2
        assert len(matched_records(gateway, "late-gateway")) == 1


def test_a_permanent_refusal_is_given_up_without_retrying(gateway: RunningGateway) -> None:
    before = unauthenticated_refusals(gateway)
    handler = LogInsightHandler(gateway.grpc_target, service="wrong-key", api_key="nope")
    logger = app_logger(handler)
    logger.error("one")
    logger.error("two")
    assert handler.flush(30)  # settled: given up, not retrying until max_retry_s
    handler.close()
    assert (handler.sent, handler.failed) == (0, 2)
    assert unauthenticated_refusals(gateway) == before + 1  # one attempt, no retries
    assert "wrong-key" not in service_counts(gateway)
