"""Refusals a source answers with a client error naming the problem."""

from __future__ import annotations


class IngestRefused(ValueError):
    """The request can never be accepted as sent (permanent: the client must not retry it)."""

    def __init__(self, reason: str, detail: str, status: int = 400) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason  # short machine-readable name: "malformed_json", "body_too_large" ...
        self.detail = detail
        self.status = status
