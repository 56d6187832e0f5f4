"""The Dagster assets with the OpenAI analyst (against the local OpenAI-compatible server): the
insights published on ai.insights.processed carry the model's text and what it cost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from loginsight.bus.sqlite import SQLiteBus
from loginsight.insight import Insight
from loginsight.model import Level, LogRecord
from loginsight.settings import TOPIC_INSIGHTS_PROCESSED, TOPIC_LOGS_TO_ANALYZE
from loginsight_dagster.definitions import build_definitions
from tests.fake_openai_server import (
    COMPLETION_TOKENS,
    PROMPT_TOKENS,
    running_fake_openai,
    server_error,
)
from tests.support import launch, make_settings, tick

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _error(service: str, message: str, n: int) -> LogRecord:
    return LogRecord(
        event_time=T0 + timedelta(seconds=n),
        source="http",
        service=service,
        level=Level.ERROR,
        severity_number=Level.ERROR.severity_number,
        message=message,
        matched_rules=("level",),
    )


def test_analyze_logs_job_publishes_refined_insights_with_their_cost(tmp_path: Path) -> None:
    with running_fake_openai() as fake:
        settings = make_settings(
            tmp_path / "data",
            sensor={"max_batch_records": 1000, "max_batch_age_s": 0},
            analyzer="openai",
            openai={
                "api_key": "test-key",
                "base_url": fake.base_url,
                "model": "fake-model",
                "max_retries": 0,
                "price_in_per_1k": 1.0,
                "price_out_per_1k": 2.0,
            },
        )
        records = [
            _error("payments-db", f"too many connections (max {n}) user=app password=hunter2", n)
            for n in range(6)
        ]
        with SQLiteBus(settings.bus_db_path) as bus:
            bus.publish(TOPIC_LOGS_TO_ANALYZE, [(r.service, r.to_bus()) for r in records])

        defs = build_definitions(settings)
        instance = dg.DagsterInstance.ephemeral()
        requests, _, _ = tick(defs, instance, "logs_to_analyze_sensor", None)
        assert len(requests) == 1
        result = launch(defs, instance, "analyze_logs", requests[0])
        assert result.success
        received = list(fake.requests)

        # Same batch again, with the model down: answered from the cache, nothing asked.
        fake.script(server_error())
        again = defs.resolve_job_def("analyze_logs").execute_in_process(
            run_config=requests[0].run_config,
            instance=instance,
            partition_key=requests[0].partition_key,
        )
        assert again.success
        assert len(fake.requests) == len(received)

    assert received, "the analyst never called the model"
    assert all("hunter2" not in request.raw for request in received)
    with SQLiteBus(settings.bus_db_path) as bus:
        end = bus.end_offsets(TOPIC_INSIGHTS_PROCESSED)
        messages = bus.read(TOPIC_INSIGHTS_PROCESSED, {0: 0}, end)
    published = [Insight.from_bus(m.value) for m in messages]
    first_run, second_run = published[: len(published) // 2], published[len(published) // 2 :]
    assert first_run and len(first_run) == len(second_run)
    insight = next(i for i in first_run if i.service == "payments-db")
    assert insight.title == "Refined: payments-db is failing"
    assert insight.analyzer == "openai" and insight.llm_model == "fake-model"
    assert (insight.tokens_in, insight.tokens_out) == (PROMPT_TOKENS, COMPLETION_TOKENS)
    assert insight.cost_usd > 0
    cached = next(i for i in second_run if i.service == "payments-db")
    assert cached.title == insight.title and cached.tokens_in == 0

    (materialization,) = result.asset_materializations_for_node("rca_insights")
    metadata = materialization.metadata
    assert metadata["analyzer"].value == "openai"
    assert metadata["llm_tokens_in"].value == PROMPT_TOKENS * len(received)
    assert metadata["llm_tokens_out"].value == COMPLETION_TOKENS * len(received)
    assert metadata["llm_refined"].value == len(first_run)
    assert metadata["llm_failed"].value == 0
    expected_cost = (PROMPT_TOKENS * 1.0 + COMPLETION_TOKENS * 2.0) / 1000 * len(received)
    assert abs(float(metadata["llm_cost_usd"].value) - expected_cost) < 1e-6
