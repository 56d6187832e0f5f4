"""Shared pytest fixtures.

Fixtures are grouped in sections; add new ones in a section of their own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

# =============================================================================================
# Real backing services: Kafka and Postgres, started by `scripts/services.sh up`
# (or `docker compose up -d --wait`). No mocks and no skips: when a service does not answer,
# every test that needs it fails with a message saying how to start it.
# =============================================================================================

DEFAULT_TEST_KAFKA = "127.0.0.1:9092"
DEFAULT_TEST_POSTGRES = "postgresql://loginsight:loginsight@127.0.0.1:5432/loginsight"
SERVICES_HINT = (
    "start the services with `scripts/services.sh up` (or `docker compose up -d --wait`)"
)


def _quiet_admin(bootstrap: str) -> Any:
    """An AdminClient whose librdkafka chatter (connection refused ...) goes nowhere."""
    from confluent_kafka.admin import AdminClient

    logger = logging.getLogger("tests.kafka.probe")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    logger.propagate = False
    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "logger": logger}
    return AdminClient(config)


def _redacted(dsn: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", dsn)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """Bootstrap servers of a reachable Kafka broker (env LOGINSIGHT_TEST_KAFKA)."""
    from confluent_kafka import KafkaException

    bootstrap = os.environ.get("LOGINSIGHT_TEST_KAFKA", DEFAULT_TEST_KAFKA)
    admin = _quiet_admin(bootstrap)
    problem = ""
    try:
        if not admin.list_topics(timeout=10).brokers:
            problem = "no brokers in the metadata"
    except KafkaException as exc:
        problem = str(exc.args[0])
    if problem:  # failed outside the `except`, so the report is one clear line
        pytest.fail(f"Kafka is not reachable at {bootstrap} ({problem}); {SERVICES_HINT}", False)
    return bootstrap


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """DSN of a reachable Postgres database (env LOGINSIGHT_TEST_POSTGRES)."""
    import psycopg

    dsn = os.environ.get("LOGINSIGHT_TEST_POSTGRES", DEFAULT_TEST_POSTGRES)
    problem = ""
    try:
        with psycopg.connect(dsn, connect_timeout=10) as conn:
            conn.execute("SELECT 1").fetchone()
    except psycopg.Error as exc:
        problem = str(exc).strip()
    if problem:
        pytest.fail(
            f"Postgres is not reachable at {_redacted(dsn)} ({problem}); {SERVICES_HINT}", False
        )
    return dsn


@pytest.fixture
def unique_topic(request: pytest.FixtureRequest) -> Iterator[Callable[[str], str]]:
    """A factory of fresh topic names, `unique_topic("bus")` -> `test.bus.<uuid>`.

    When the test also uses `kafka_bootstrap`, the topics are deleted from the broker afterwards.
    """
    made: list[str] = []

    def make(prefix: str = "topic") -> str:
        name = f"test.{prefix}.{uuid.uuid4().hex}"
        made.append(name)
        return name

    yield make

    if made and "kafka_bootstrap" in request.fixturenames:
        admin = _quiet_admin(request.getfixturevalue("kafka_bootstrap"))
        # Best effort: a leftover test topic harms nothing.
        with contextlib.suppress(Exception):
            existing = admin.list_topics(timeout=10).topics
            doomed = [t for t in made if t in existing]
            if doomed:
                for future in admin.delete_topics(doomed, operation_timeout=10).values():
                    future.result(10)


@pytest.fixture
def clean_postgres(postgres_dsn: str) -> str:
    """The Postgres DSN, with the insight store's tables dropped before the test."""
    import psycopg

    with psycopg.connect(postgres_dsn, connect_timeout=10) as conn:
        conn.execute("DROP TABLE IF EXISTS insight_batches")
        conn.execute("DROP TABLE IF EXISTS insights")
    return postgres_dsn


# ============================ end of: real backing services =================================


# =============================================================================================
# Fault injection: a private Kafka broker (tests/kafka_process.py) that a test may kill -9 and
# start again, leaving the shared broker on 9092 alone.
# =============================================================================================


@pytest.fixture(scope="session")
def _private_kafka_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.kafka_process import PrivateKafka

    broker = PrivateKafka(tmp_path_factory.mktemp("private-kafka"))
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def private_kafka(_private_kafka_process: Any) -> Any:
    """A private broker of this session, running when the test starts (a test that stops or
    kills it need not restart it: the next test's fixture does)."""
    _private_kafka_process.start()
    return _private_kafka_process


# ============================== end of: fault injection =====================================
