"""Keyword/regex filter rules: which records go to analysis, and which rules they matched."""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, model_validator

from loginsight.model import LogRecord


class RuleConfig(BaseModel):
    name: str = Field(min_length=1)
    keywords: list[str] = Field(default_factory=list)
    regex: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> RuleConfig:
        if bool(self.keywords) == bool(self.regex):
            raise ValueError(f"rule {self.name!r}: give either keywords or regex")
        return self

    def pattern(self) -> str:
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
    """Rules compiled once. A combined pattern rejects the common non-matching line in one scan;
    only matching lines are tested rule by rule to name the rules they matched."""

    def __init__(self, config: RulesConfig) -> None:
        self._rules = [(rule.name, re.compile(rule.pattern())) for rule in config.rules]
        try:
            self._any: re.Pattern[str] | None = re.compile(
                "|".join(f"(?:{rule.pattern()})" for rule in config.rules)
            )
        except re.error:  # a rule with global inline flags cannot be joined; test one by one
            self._any = None

    @property
    def rule_names(self) -> list[str]:
        return [name for name, _ in self._rules]

    def matches(self, message: str) -> tuple[str, ...]:
        if self._any is not None and not self._any.search(message):
            return ()
        return tuple(name for name, pattern in self._rules if pattern.search(message))

    def apply(self, records: Sequence[LogRecord]) -> list[LogRecord]:
        """Every record, each with `matched_rules` set."""
        out = []
        for record in records:
            matched = self.matches(record.message)
            out.append(record.model_copy(update={"matched_rules": matched}) if matched else record)
        return out
