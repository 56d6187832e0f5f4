"""Which analyzer a run uses: the local one by default, the OpenAI analyst when configured."""

from __future__ import annotations

from pathlib import Path

from openai import OpenAI as OpenAIClient

from loginsight.redact import Redactor
from loginsight.settings import OpenAISettings, Settings
from rca.analyzer import Analyzer, LocalAnalyzer
from rca.openai_analyst import OpenAIAnalyst


def build_analyzer(settings: Settings) -> Analyzer:
    """`LocalAnalyzer` unless `settings.analyzer == "openai"`."""
    return analyzer_for(
        settings.analyzer,
        settings.openai,
        settings.llm_cache_path,
        settings.redaction.extra_patterns,
    )


def analyzer_for(
    kind: str,
    openai: OpenAISettings,
    cache_path: Path,
    extra_redactions: list[str],
    client: OpenAIClient | None = None,
) -> Analyzer:
    """The analyzer of one kind (`local` or `openai`), built from its parts."""
    if kind == "openai":
        return OpenAIAnalyst(
            openai, cache_path=cache_path, redactor=Redactor(extra_redactions), client=client
        )
    if kind == "local":
        return LocalAnalyzer()
    raise ValueError(f"unknown analyzer {kind!r}: expected 'local' or 'openai'")
