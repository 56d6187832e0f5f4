"""Keyword/regex filter rules: which records go to analysis, and which rules they matched."""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import pyarrow as pa
import yaml
from pydantic import BaseModel, Field, model_validator

from ingest_gateway.rule_scan import ColumnMatcher
from loginsight.model import Level, LogRecord


class RuleConfig(BaseModel):
    name: str = Field(min_length=1)
    keywords: list[str] = Field(default_factory=list)
    regex: str | None = None
    levels: list[Level] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_kind(self) -> RuleConfig:
        if sum(map(bool, (self.keywords, self.regex, self.levels))) != 1:
            raise ValueError(f"rule {self.name!r}: give exactly one of keywords, regex, levels")
        return self

    def pattern(self) -> str | None:
        """The message pattern of a keyword or regex rule; None for a level rule."""
        if self.levels:
            return None
        if self.regex is not None:
            return self.regex
        words = "|".join(re.escape(word) for word in self.keywords)
        # Word-bounded, but `_` counts as a boundary too: "DB_ERROR" and "error_code" match.
        return rf"(?i:(?<![^\W_])(?:{words})(?![^\W_]))"


class RulesConfig(BaseModel):
    rules: list[RuleConfig]


def load_rules(path: Path | None) -> RulesConfig:
    """Rules from a YAML file, or the bundled defaults."""
    if path is None:
        text = resources.files("ingest_gateway").joinpath("rules/default.yaml").read_text()
    else:
        text = path.read_text()
    return RulesConfig.model_validate(yaml.safe_load(text))


class RuleFilter:
    """Rules compiled once. Row by row (`matches`, `apply`), a combined pattern rejects the common
    non-matching line in one scan and only matching lines are tested rule by rule. A whole batch
    (`match_column`) is scanned at once by one multi-pattern matcher, with the same results."""

    def __init__(self, config: RulesConfig) -> None:
        self._names = [rule.name for rule in config.rules]
        self._patterns = [
            (rule.name, re.compile(pattern))
            for rule in config.rules
            if (pattern := rule.pattern()) is not None
        ]
        self._levels = [(rule.name, frozenset(rule.levels)) for rule in config.rules if rule.levels]
        try:
            self._any: re.Pattern[str] | None = re.compile(
                "|".join(f"(?:{pattern.pattern})" for _, pattern in self._patterns) or "(?!)"
            )
        except re.error:  # a rule with global inline flags cannot be joined; test one by one
            self._any = None
        self._columns = ColumnMatcher(
            self._names,
            patterns={
                index: re.compile(pattern)
                for index, rule in enumerate(config.rules)
                if (pattern := rule.pattern()) is not None
            },
            keywords={
                index: rule.keywords for index, rule in enumerate(config.rules) if rule.keywords
            },
            levels={
                index: frozenset(rule.levels)
                for index, rule in enumerate(config.rules)
                if rule.levels
            },
            row_matcher=self.matches,
        )

    @property
    def rule_names(self) -> list[str]:
        return list(self._names)

    def matches(self, message: str, level: Level = Level.INFO) -> tuple[str, ...]:
        """Names of the rules a record with this message and level matches, in rule order."""
        hits = {name for name, levels in self._levels if level in levels}
        if self._any is None or self._any.search(message):
            hits.update(name for name, pattern in self._patterns if pattern.search(message))
        return tuple(name for name in self._names if name in hits)

    @property
    def engine(self) -> str:
        """The multi-pattern engine of `match_column`: "hyperscan", or "python" without it."""
        return self._columns.engine

    def match_column(self, messages: pa.Array, levels: pa.Array) -> pa.ListArray:
        """The names of the rules each row matches (rule order), for a batch as columns:
        `messages` strings, `levels` Level values. Row i is `matches(messages[i], levels[i])`."""
        return self._columns.match(messages, levels)

    def apply(self, records: Sequence[LogRecord]) -> list[LogRecord]:
        """Every record, each with `matched_rules` set."""
        out = []
        for record in records:
            matched = self.matches(record.message, record.level)
            out.append(record.model_copy(update={"matched_rules": matched}) if matched else record)
        return out
