"""The Dagster instance configs: the embedded default (`loginsight up`) and the production one on
Postgres (deploy/dagster.postgres.yaml), both loaded by a real DagsterInstance."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import pytest

from loginsight.launcher import prepare_dagster_home
from tests.support import REPO, make_settings

POSTGRES_YAML = REPO / "deploy" / "dagster.postgres.yaml"


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_embedded_instance_queues_two_runs_and_one_warehouse_writer(tmp_path: Path) -> None:
    home = prepare_dagster_home(make_settings(tmp_path))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        config = instance.get_concurrency_config()
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
    assert config.run_queue_config is not None
    assert config.run_queue_config.max_concurrent_runs == 2
    limits = {
        (t["key"], t.get("value")): t["limit"]
        for t in config.run_queue_config.tag_concurrency_limits
    }
    assert limits == {("dagster/backfill", None): 1, ("loginsight/kind", "report"): 1}
    assert config.pool_config.default_pool_limit == 1
    assert config.pool_config.pool_granularity is not None
    assert config.pool_config.pool_granularity.value == "op"


@pytest.mark.postgres
def test_production_instance_stores_runs_in_postgres(postgres_dsn: str, tmp_path: Path) -> None:
    dsn = urlsplit(postgres_dsn)
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(POSTGRES_YAML.read_text())
    env = {
        "DAGSTER_PG_USERNAME": dsn.username or "",
        "DAGSTER_PG_PASSWORD": dsn.password or "",
        "DAGSTER_PG_HOST": dsn.hostname or "",
        "DAGSTER_PG_PORT": str(dsn.port or 5432),
        "DAGSTER_PG_DB": dsn.path.lstrip("/"),
    }

    @dg.op
    def hello() -> int:
        return 1

    @dg.job
    def postgres_smoke() -> None:
        hello()

    with environment(env), dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        result = postgres_smoke.execute_in_process(instance=instance)
        assert result.success
        stored = instance.get_run_by_id(result.run_id)
    assert stored is not None and stored.is_success
