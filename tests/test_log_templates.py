"""`log_templates`: templates mined per hour with a persistent miner; a template is new the first
time any run sees it, known afterwards, and concurrent runs lose no template."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from loginsight_dagster.template_resource import TemplateMinerResource
from rca.template_miner import TemplateMiner


def test_templates_are_new_once_then_known_across_runs(tmp_path: Path) -> None:
    miner = TemplateMinerResource(state_path=str(tmp_path / "templates.json"))
    first, known = miner.mine(["disk full on /var/data1", "disk full on /var/data2", "oom 512MB"])
    assert [m.is_new for m in first] == [True, False, True]
    assert known == 2
    # A later run (another process: the state is read back from the file).
    again, known = miner.mine(["disk full on /srv/x", "connection reset by peer"])
    assert [m.is_new for m in again] == [False, True]
    assert again[0].template_id == first[0].template_id  # stable ids across runs
    assert known == 3
    assert len(TemplateMiner.load(tmp_path / "templates.json")) == 3


def test_concurrent_runs_lose_no_template(tmp_path: Path) -> None:
    miner = TemplateMinerResource(state_path=str(tmp_path / "templates.json"))

    def run(n: int) -> None:
        miner.mine([f"worker {n} failed: kind{chr(97 + n)} error"] * 3)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(run, range(8)))
    state = TemplateMiner.load(tmp_path / "templates.json")
    assert len(state) == 8
    assert sorted(t.count for t in state.templates()) == [3] * 8


def test_an_empty_hour_mines_nothing_and_writes_no_state(tmp_path: Path) -> None:
    miner = TemplateMinerResource(state_path=str(tmp_path / "templates.json"))
    assert miner.mine([]) == ([], 0)
    assert not (tmp_path / "templates.json").exists()
