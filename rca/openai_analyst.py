"""The OpenAI analyst: the local analysis first, then one model call per incident to refine its
title, summary, probable root cause and next steps. Any OpenAI-compatible endpoint works
(`openai.base_url`). The local insight is never lost: on an API error, a timeout, an answer that
is invalid twice, or a spent budget, it is kept as is, with the reason in `llm_error`.

Spending is bounded three ways: a token budget per run (one analyst per Dagster run) and per UTC
day (kept in the cache file, across processes), and the cache by incident fingerprint, so a
recurring incident is answered from the cache instead of being paid for again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
from pydantic import BaseModel

from loginsight.insight import Insight
from loginsight.redact import Redactor
from loginsight.settings import OpenAISettings
from rca.analyzer import Analyzer, Incident, LocalAnalyzer
from rca.llm_cache import CachedRefinement, RefinementCache, utc_day
from rca.prompt import (
    PROMPT_VERSION,
    InvalidAnswer,
    Prompt,
    PromptLimits,
    Refinement,
    build_prompt,
    parse_refinement,
    response_format,
)

log = logging.getLogger(__name__)

ANSWER_ATTEMPTS = 2  # an invalid answer is asked again once
MAX_ERROR_CHARS = 300
# A local server (vLLM, Ollama, llama.cpp) ignores the key, but the client insists on one.
UNUSED_API_KEY = "unused"


@dataclass
class RunUsage:
    """What one analyst spent in its run; the asset reports it as metadata."""

    requests: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    refined: int = 0
    cache_hits: int = 0
    fallbacks: int = 0

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


@dataclass
class _Spent:
    """Tokens and cost spent on one incident, over its attempts."""

    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0


class BudgetExhausted(RuntimeError):
    pass


def build_openai_client(settings: OpenAISettings) -> openai.OpenAI:
    """The official client, with its own retries (exponential backoff, honouring Retry-After)
    on 408, 409, 429, 5xx, connection errors and timeouts."""
    key = settings.api_key.get_secret_value() if settings.api_key else None
    if key is None and settings.base_url:
        key = UNUSED_API_KEY
    return openai.OpenAI(
        api_key=key,  # None: the client reads $OPENAI_API_KEY, and refuses to start without
        base_url=settings.base_url,
        timeout=settings.timeout_s,
        max_retries=settings.max_retries,
    )


class OpenAIAnalyst(Analyzer):
    name = "openai"

    def __init__(
        self,
        settings: OpenAISettings,
        cache_path: Path,
        redactor: Callable[[str], str] | None = None,
        local: Analyzer | None = None,
        client: openai.OpenAI | None = None,
    ) -> None:
        self._settings = settings
        # A client handed in (dagster-openai's, which records usage on the asset) or our own.
        self._client = client if client is not None else build_openai_client(settings)
        self._cache_path = cache_path
        self._redactor = redactor or Redactor()
        self._local = local or LocalAnalyzer()
        self._limits = PromptLimits(max_input_tokens=settings.max_input_tokens)
        self.usage = RunUsage()

    def analyze(self, incidents: Sequence[Incident], batch_key: str) -> list[Insight]:
        local_insights = self._local.analyze(incidents, batch_key)
        by_fingerprint: dict[str, BaseModel] = {i.fingerprint: i for i in incidents}
        cache = RefinementCache(self._cache_path)
        try:
            return [
                self._refine(by_fingerprint.get(insight.fingerprint), insight, cache)
                for insight in local_insights
            ]
        finally:
            cache.close()

    def _refine(
        self, incident: BaseModel | None, local: Insight, cache: RefinementCache
    ) -> Insight:
        model = self._settings.model
        cached = cache.get(local.fingerprint, model, PROMPT_VERSION)
        if cached is not None:
            self.usage.cache_hits += 1
            refinement = Refinement.model_validate_json(cached.refinement_json)
            return self._refined(local, refinement, _Spent())
        prompt = build_prompt(incident, local, self._redactor, self._limits)
        spent = _Spent()
        try:
            refinement = self._ask(prompt, cache, spent)
        except (openai.OpenAIError, InvalidAnswer, BudgetExhausted) as exc:
            return self._fallback(local, exc, spent)
        except Exception as exc:  # whatever the remote side does, the local insight survives
            log.exception("unexpected failure refining %s", local.fingerprint)
            return self._fallback(local, exc, spent)
        cache.put(
            local.fingerprint,
            model,
            PROMPT_VERSION,
            CachedRefinement(
                refinement.model_dump_json(), spent.tokens_in, spent.tokens_out, spent.cost_usd
            ),
        )
        return self._refined(local, refinement, spent)

    def _ask(self, prompt: Prompt, cache: RefinementCache, spent: _Spent) -> Refinement:
        """Call the model until it gives a valid answer, at most `ANSWER_ATTEMPTS` times."""
        messages: list[dict[str, str]] = prompt.messages()
        invalid: InvalidAnswer | None = None
        for _ in range(ANSWER_ATTEMPTS):
            self._check_budget(prompt, cache)
            content = self._call(messages, cache, spent)
            try:
                return parse_refinement(content)
            except InvalidAnswer as exc:
                invalid = exc
                log.warning("invalid answer from %s: %s", self._settings.model, exc.reason)
                # Our own words only: the rejected answer is not sent back.
                messages = [
                    *prompt.messages(),
                    {
                        "role": "user",
                        "content": f"Your previous answer was rejected: {exc.reason}. Answer "
                        "again with only the JSON object the instructions describe.",
                    },
                ]
        assert invalid is not None
        raise InvalidAnswer(f"invalid answer {ANSWER_ATTEMPTS} times, last: {invalid.reason}")

    def _check_budget(self, prompt: Prompt, cache: RefinementCache) -> None:
        worst_case = prompt.estimated_tokens + self._settings.max_output_tokens
        if self.usage.tokens + worst_case > self._settings.run_token_budget:
            raise BudgetExhausted(
                f"run token budget exhausted ({self.usage.tokens} of "
                f"{self._settings.run_token_budget} used, next call may need {worst_case})"
            )
        today = cache.tokens_used(utc_day())
        if today + worst_case > self._settings.day_token_budget:
            raise BudgetExhausted(
                f"daily token budget exhausted ({today} of {self._settings.day_token_budget} "
                f"used today, next call may need {worst_case})"
            )

    def _call(
        self, messages: list[dict[str, str]], cache: RefinementCache, spent: _Spent
    ) -> str | None:
        settings = self._settings
        request: dict[str, Any] = {
            "model": settings.model,
            "messages": messages,
            "max_tokens": settings.max_output_tokens,
            "temperature": 0,
            "response_format": response_format(settings.response_format),
            "timeout": settings.timeout_s,  # per request: a handed-in client has its own default
        }
        response = self._client.chat.completions.create(**request)
        self.usage.requests += 1
        usage = response.usage
        tokens_in = usage.prompt_tokens if usage else 0
        tokens_out = usage.completion_tokens if usage else 0
        cost = (
            tokens_in / 1000 * settings.price_in_per_1k
            + tokens_out / 1000 * settings.price_out_per_1k
        )
        spent.tokens_in += tokens_in
        spent.tokens_out += tokens_out
        spent.cost_usd += cost
        self.usage.tokens_in += tokens_in
        self.usage.tokens_out += tokens_out
        self.usage.cost_usd += cost
        cache.add_usage(utc_day(), tokens_in + tokens_out, cost)
        if not response.choices:
            return None
        return response.choices[0].message.content

    def _refined(self, local: Insight, refinement: Refinement, spent: _Spent) -> Insight:
        self.usage.refined += 1
        update: dict[str, Any] = {
            "title": refinement.title,
            "summary": f"{refinement.summary} Probable root cause: {refinement.root_cause}",
            "analyzer": self.name,
            **self._spending(spent),
        }
        # The root-cause service, template, evidence and confidence stay the local ranking's
        # (measured, reproducible); the model rewrites the prose and the next steps.
        update["next_steps"] = list(refinement.next_steps)
        return Insight.model_validate({**local.model_dump(), **update})

    def _fallback(self, local: Insight, error: Exception, spent: _Spent) -> Insight:
        self.usage.fallbacks += 1
        reason = f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]
        log.warning("keeping the local insight for %s: %s", local.fingerprint, reason)
        return local.model_copy(update={"llm_error": reason, **self._spending(spent)})

    def _spending(self, spent: _Spent) -> dict[str, Any]:
        return {
            "tokens_in": spent.tokens_in,
            "tokens_out": spent.tokens_out,
            "cost_usd": round(spent.cost_usd, 8),
            "llm_model": self._settings.model,
        }


def spend_of(insights: Sequence[Insight]) -> dict[str, int | float]:
    """What the insights of one run cost, for the asset's metadata: tokens, dollars, how many
    the model refined and how many kept the local analysis because the model call failed."""
    return {
        "llm_tokens_in": sum(i.tokens_in for i in insights),
        "llm_tokens_out": sum(i.tokens_out for i in insights),
        "llm_cost_usd": round(sum(i.cost_usd for i in insights), 6),
        "llm_refined": sum(1 for i in insights if i.analyzer == OpenAIAnalyst.name),
        "llm_failed": sum(1 for i in insights if i.llm_error),
    }
