"""The read and ship commands of `loginsight`, run as a user runs them (subprocesses), against a
real gateway and an insight store filled by the real pipeline (tests/pipeline_data.py)."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.pipeline_data import HOSTILE, LOGINSIGHT, MATCHED, PipelineData, pipeline_data, run_cli
from tests.support import REPO, free_port

LINE_WAIT_S = 60.0


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipelineData]:
    with pipeline_data(tmp_path_factory.mktemp("cli") / "data") as ready:
        yield ready


def _ids(data: PipelineData, *args: str) -> list[str]:
    listed = data.cli("insights", *args, "--json")
    assert listed.returncode == 0, listed.stderr
    return [insight["service"] for insight in json.loads(listed.stdout)]


def _one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def test_stats_json_has_totals_series_and_rule_counts(data: PipelineData) -> None:
    result = data.cli("stats", "--json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    rows = {row["service"]: row for row in body["rows"]}
    assert (rows["payments-db"]["count"], rows["payments-db"]["errors"]) == (6, 6)
    assert (rows["ledger"]["errors"], rows["checkout"]["errors"]) == (5, 0)
    series = body["series"]
    assert series["step_s"] == 60
    # The payments-db burst is 30 minutes old, the ledger one 5: their errors sit in those minutes.
    payments, ledger = series["errors"]["payments-db"], series["errors"]["ledger"]
    assert sum(payments) == 6 and sum(ledger) == 5
    assert payments.index(max(payments)) < ledger.index(max(ledger))
    assert sum(series["counts"]["checkout"]) == 6

    by_rule = data.cli("stats", "--by", "rule", "--json")
    assert by_rule.returncode == 0, by_rule.stderr
    assert sum(row["count"] for row in json.loads(by_rule.stdout)["rows"]) >= MATCHED


def test_stats_table_shows_a_sparkline_per_service(data: PipelineData) -> None:
    result = data.cli("stats", "--window", "1h")
    assert result.returncode == 0, result.stderr
    lines = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert "█" in lines["payments-db"] and "█" in lines["ledger"]
    assert not any(block in lines["checkout"] for block in "▁▂▃▄▅▆▇█")


def test_insights_json_is_the_same_with_or_without_list(data: PipelineData) -> None:
    bare, listed = data.cli("insights", "--json"), data.cli("insights", "list", "--json")
    assert bare.returncode == listed.returncode == 0
    assert json.loads(bare.stdout) == json.loads(listed.stdout)
    assert [i["service"] for i in json.loads(bare.stdout)] == ["ledger", "payments-db"]


def test_insights_filters(data: PipelineData) -> None:
    assert _ids(data, "--service", "payments-db") == ["payments-db"]
    assert _ids(data, "list", "--severity", "fatal") == ["payments-db"]
    assert _ids(data, "list", "--severity", "error") == ["ledger", "payments-db"]
    assert _ids(data, "list", "--since", "15m") == ["ledger"]
    assert _ids(data, "list", "--since", "2000-01-01T00:00") == ["ledger", "payments-db"]
    assert _ids(data, "list", "--limit", "1") == ["ledger"]


def test_insights_table_shows_log_text_literally(data: PipelineData) -> None:
    result = data.cli("insights", "list")
    assert result.returncode == 0, result.stderr
    assert "[red]x[/red]" in result.stdout
    assert "\x1b" not in result.stdout  # the escape sequence is spelled out, not sent
    assert "\\x1b[2J" in result.stdout


def test_insights_show_has_root_cause_evidence_radius_steps_and_links(
    data: PipelineData,
) -> None:
    listed = json.loads(data.cli("insights", "--json").stdout)
    ledger = next(i for i in listed if i["service"] == "ledger")
    shown = data.cli("insights", "show", ledger["fingerprint"][:6])
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    for heading in ("Root cause", "Evidence", "Blast radius", "Next steps", "Links"):
        assert heading in text
    assert "[red]x[/red] [link=https://evil.example]click[/link]" in text
    assert "\x1b" not in text
    port = data.settings.dagster_port
    assert f"http://127.0.0.1:{port}/assets/rca_insights" in text
    assert "run_key%3Dlogs.to.analyze%40p0%3A0-" in text

    as_json = json.loads(data.cli("insights", "show", ledger["fingerprint"], "--json").stdout)
    assert as_json["fingerprint"] == ledger["fingerprint"]
    assert as_json["evidence"][0]["line"] == HOSTILE
    assert as_json["links"]["asset"].endswith("/assets/rca_insights")
    assert "run" in as_json["links"]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("insights", "show", "ffffffff"), ("no insight with id 'ffffffff'", "insights list")),
        (("insights", "show", "ab"), ("too short",)),
        (("insights", "list", "--since", "yesterday"), ("--since 'yesterday'",)),
        (("insights", "--severity", "loud"), ("--severity 'loud' is not a level",)),
        (("stats", "--window", "90x"), ("window '90x' must look like",)),
        (("send", "/no/such/file.log"), ("no such file: /no/such/file.log",)),
    ],
)
def test_mistakes_get_one_line_that_says_what_to_do(
    data: PipelineData, args: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    _one_line_error(data.cli(*args), *fragments)


def test_a_gateway_that_is_not_running_gets_one_line(data: PipelineData) -> None:
    env = {**data.env, "LOGINSIGHT_GATEWAY__HTTP_PORT": str(free_port())}
    for args in (("stats",), ("send", "-")):
        result = run_cli(env, *args, stdin="ERROR x\n")
        _one_line_error(result, "no gateway at http://127.0.0.1:", "loginsight up")


def test_send_ships_several_files_and_stdin(data: PipelineData, tmp_path: Path) -> None:
    first, second = tmp_path / "a.log", tmp_path / "b.jsonl"
    first.write_text("sender ok\nERROR sender failed to flush\n\n")
    second.write_text(json.dumps({"level": "error", "message": "sender boom"}) + "\n")
    result = data.cli(
        "send", str(first), "-", str(second), "--service", "sender", stdin="sender hello\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "sent 4 records (2 matched the filter rules)"
    assert result.stderr == ""  # no progress bar without a terminal
    stats = httpx.get(f"{data.gateway.url}/v1/stats", params={"by": "service"}).json()
    rows = {row["service"]: row for row in stats["rows"]}
    assert (rows["sender"]["count"], rows["sender"]["errors"]) == (4, 2)


def _reader(stream: object) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _tail(data: PipelineData, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [LOGINSIGHT, "tail", *args],
        env=data.env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return process.returncode, process.stderr.read() if process.stderr else ""


def test_tail_from_start_prints_every_matched_record_as_ndjson(data: PipelineData) -> None:
    process = _tail(data, "--from-start", "--json", "--service", "ledger")
    lines = _reader(process.stdout)
    try:
        records = [json.loads(lines.get(timeout=LINE_WAIT_S)) for _ in range(5)]
    finally:
        code, stderr = _stop(process)
    assert {r["service"] for r in records} == {"ledger"}
    assert all(r["message"] == HOSTILE and r["matched_rules"] for r in records)
    assert code == 0 and "Traceback" not in stderr


def test_tail_follows_new_lines_coloured_text_shown_literally(data: PipelineData) -> None:
    process = _tail(data)
    errors = _reader(process.stderr)
    lines = _reader(process.stdout)
    try:
        assert "following logs.to.analyze" in errors.get(timeout=LINE_WAIT_S)
        reply = httpx.post(
            f"{data.gateway.url}/v1/ingest",
            json=[
                {"service": "tailed", "level": "info", "message": "not matched"},
                {"service": "tailed", "level": "error", "message": "[bold]late[/bold] \x07 fail"},
            ],
        )
        assert reply.json()["matched"] == 1, reply.text
        line = lines.get(timeout=LINE_WAIT_S)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    assert "tailed" in line and "error" in line
    assert "[bold]late[/bold] \\x07 fail" in line
    assert "not matched" not in line
    assert process.returncode == 0


def test_status_reports_services_bus_and_last_insight(data: PipelineData) -> None:
    result = data.cli("status", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["up"] == {"running": False, "pid": None}
    assert report["services"]["gateway"]["up"] is True
    assert report["services"]["gateway"]["url"] == data.gateway.url
    assert report["services"]["dagster"]["up"] is False
    logs = report["bus"]["topics"]["logs.to.analyze"]
    assert logs["end_offsets"] >= MATCHED
    assert logs["sensor_cursor"] is False  # the sensors ran in-process, not on this instance
    assert report["last_insight"]["service"] == "ledger"
    assert report["errors_per_minute"] is not None and report["errors_per_minute"] > 0

    table = data.cli("status")
    assert table.returncode == 0, table.stderr
    assert data.gateway.url in table.stdout and "logs.to.analyze" in table.stdout


def test_down_without_a_running_up_says_so(data: PipelineData) -> None:
    result = data.cli("down")
    assert result.returncode == 0, result.stderr
    assert "nothing to stop" in result.stdout
