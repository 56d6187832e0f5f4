"""Per-source API keys, presented the way each protocol presents them.

Secure by default: with no keys configured the gateway binds to loopback only and accepts any
key (see `GatewaySettings`); with keys configured for a source, a request to it must carry one.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from ingest_gateway import telemetry
from ingest_gateway.errors import IngestRefused
from loginsight.settings import GatewaySettings

ANY_SOURCE = "*"


class KeyChecker:
    """Checks a presented key against the keys of a source (or of every source, `*`)."""

    def __init__(self, settings: GatewaySettings) -> None:
        self._keys = {
            source: [key.get_secret_value().encode() for key in keys]
            for source, keys in settings.api_keys.items()
        }

    def required(self, source: str) -> bool:
        return bool(self._keys.get(source) or self._keys.get(ANY_SOURCE))

    def accepts(self, source: str, presented: str | None) -> bool:
        if not self.required(source):
            return True
        if not presented:
            return False
        candidate = presented.encode()
        keys = [*self._keys.get(source, []), *self._keys.get(ANY_SOURCE, [])]
        # compare_digest against every key: timing does not tell which key nearly matched.
        return any([hmac.compare_digest(candidate, key) for key in keys])

    def check(self, source: str, presented: str | None) -> None:
        """Raise a 401 refusal (counted) unless the key is acceptable for `source`."""
        if not self.accepts(source, presented):
            telemetry.rejected(source, "unauthenticated")
            what = "missing" if not presented else "wrong"
            raise IngestRefused("unauthenticated", f"{what} API key for source {source}", 401)


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
