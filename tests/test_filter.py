"""Filter rules: the bundled defaults, custom YAML rules, validation, and RuleFilter.apply."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from ingest_gateway.filter import RuleConfig, RuleFilter, load_rules
from loginsight.model import Level, LogRecord

DEFAULT_NAMES = ["error", "panic", "exception", "critical", "fatal", "traceback", "error_level"]


@pytest.fixture(scope="module")
def default_filter() -> RuleFilter:
    return RuleFilter(load_rules(None))


def record(message: str, level: Level = Level.INFO) -> LogRecord:
    return LogRecord(
        event_time=datetime(2024, 3, 1, 12, 0, tzinfo=UTC),
        source="http",
        service="svc",
        level=level,
        message=message,
    )


def test_default_rules_are_the_documented_ones(default_filter: RuleFilter) -> None:
    assert default_filter.rule_names == DEFAULT_NAMES
    config = load_rules(None)
    assert config.rules[-1].levels == [Level.ERROR, Level.FATAL]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("connection error", ("error",)),
        ("Connection ERROR", ("error",)),
        ("ErRoR!", ("error",)),
        ("kernel PANIC at boot", ("panic",)),
        ("unhandled Exception in worker", ("exception",)),
        ("CRITICAL: disk full", ("critical",)),
        ("fatal: not a git repository", ("fatal",)),
        ("Traceback (most recent call last):", ("traceback",)),
    ],
)
def test_default_keywords_case_insensitive(
    default_filter: RuleFilter, message: str, expected: tuple[str, ...]
) -> None:
    assert default_filter.matches(message) == expected


@pytest.mark.parametrize(
    "message",
    [
        "0 errors reported",
        "terror in the logs",
        "errored out",
        "panicked",
        "exceptional result",
        "criticality low",
        "fatalities none",
        "tracebacks disabled",
        "all good",
        "",
    ],
)
def test_default_keywords_are_word_bounded(default_filter: RuleFilter, message: str) -> None:
    assert default_filter.matches(message) == ()


@pytest.mark.parametrize(
    "message",
    ["DB_ERROR raised", "error_code=7", "[error]", "status=error;", "error.", "x-error-y"],
)
def test_underscore_and_punctuation_are_boundaries(
    default_filter: RuleFilter, message: str
) -> None:
    assert default_filter.matches(message) == ("error",)


def test_several_rules_named_in_rule_order(default_filter: RuleFilter) -> None:
    message = "Traceback: fatal Exception then ERROR and a panic"
    assert default_filter.matches(message) == ("error", "panic", "exception", "fatal", "traceback")
    assert default_filter.matches(message, Level.FATAL) == (
        "error",
        "panic",
        "exception",
        "fatal",
        "traceback",
        "error_level",
    )


@pytest.mark.parametrize("level", [Level.ERROR, Level.FATAL])
def test_level_rule_matches_innocent_text(default_filter: RuleFilter, level: Level) -> None:
    assert default_filter.matches("order 17 placed", level) == ("error_level",)


@pytest.mark.parametrize("level", [Level.TRACE, Level.DEBUG, Level.INFO, Level.WARN])
def test_level_rule_ignores_lower_levels(default_filter: RuleFilter, level: Level) -> None:
    assert default_filter.matches("order 17 placed", level) == ()


CUSTOM_YAML = r"""
rules:
  - name: timeouts
    keywords: [timeout, "timed out"]
  - name: oom
    regex: "(?i)out of memory|\\bOOM\\b"
  - name: http_5xx
    regex: "\\bHTTP 5\\d\\d\\b"
  - name: warnings
    levels: [warn]
"""


def test_custom_rules_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(CUSTOM_YAML)
    rules = RuleFilter(load_rules(path))
    assert rules.rule_names == ["timeouts", "oom", "http_5xx", "warnings"]
    assert rules.matches("upstream TIMEOUT after 3s") == ("timeouts",)
    assert rules.matches("request timed out") == ("timeouts",)
    assert rules.matches("timeouts are configured") == ()
    assert rules.matches("Out Of Memory: killed process 12") == ("oom",)
    assert rules.matches("OOM killer") == ("oom",)
    assert rules.matches("ZOOMING") == ()
    assert rules.matches("got HTTP 503 from api") == ("http_5xx",)
    assert rules.matches("got http 503 from api") == ()  # regex without (?i) is case-sensitive
    assert rules.matches("got HTTP 404") == ()
    assert rules.matches("HTTP 502 timeout, out of memory", Level.WARN) == (
        "timeouts",
        "oom",
        "http_5xx",
        "warnings",
    )
    # The default keywords are gone: the file replaces them.
    assert rules.matches("fatal error") == ()
    assert rules.matches("fine", Level.ERROR) == ()


def test_custom_rules_without_global_flags(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n"
        "  - name: deadlock\n"
        "    regex: 'dead ?lock'\n"
        "  - name: refused\n"
        "    keywords: [refused]\n"
    )
    rules = RuleFilter(load_rules(path))
    assert rules.matches("deadlock detected; connection REFUSED") == ("deadlock", "refused")
    assert rules.matches("dead lock") == ("deadlock",)
    assert rules.matches("refusedly") == ()


@pytest.mark.parametrize(
    "fields",
    [
        {"keywords": ["a"], "regex": "b"},
        {"keywords": ["a"], "levels": ["error"]},
        {"regex": "b", "levels": ["error"]},
        {},
        {"keywords": []},
    ],
)
def test_rule_needs_exactly_one_kind(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="exactly one of keywords, regex, levels"):
        RuleConfig.model_validate({"name": "bad", **fields})


def test_invalid_rule_in_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - name: both\n    keywords: [x]\n    regex: 'y'\n")
    with pytest.raises(ValidationError, match="both"):
        load_rules(path)
    path.write_text("rules:\n  - name: none\n")
    with pytest.raises(ValidationError, match="none"):
        load_rules(path)


def test_rule_needs_a_name_and_known_levels() -> None:
    with pytest.raises(ValidationError):
        RuleConfig.model_validate({"name": "", "keywords": ["x"]})
    with pytest.raises(ValidationError):
        RuleConfig.model_validate({"name": "lv", "levels": ["loud"]})


def test_apply_sets_matched_rules_only_on_matches(default_filter: RuleFilter) -> None:
    records = [
        record("db ERROR: connection refused"),
        record("order placed"),
        record("all quiet", Level.ERROR),
        record("0 errors"),
    ]
    out = default_filter.apply(records)
    assert len(out) == len(records)
    assert [r.matched_rules for r in out] == [("error",), (), ("error_level",), ()]
    # Non-matching records pass through untouched; matching ones are copies with the rules set.
    assert out[1] is records[1] and out[3] is records[3]
    assert records[0].matched_rules == ()
    assert out[0].id == records[0].id and out[0].message == records[0].message
    assert default_filter.apply([]) == []
