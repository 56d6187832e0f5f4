"""Reading a request body within bounds: size, decompressed size, encoding."""

from __future__ import annotations

import json
import zlib
from typing import Any

from ingest_gateway.errors import IngestRefused


def gunzip_bounded(data: bytes, limit: int) -> bytes:
    """Decompress gzip (or zlib) data, refusing output past `limit` bytes without producing it."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # 32: accept gzip and zlib headers
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise IngestRefused("invalid_gzip", f"body is not valid gzip: {exc}") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise IngestRefused(
            "decompressed_body_too_large",
            f"body decompresses to more than {limit} bytes",
            status=413,
        )
    if not inflater.eof:
        raise IngestRefused("invalid_gzip", "gzip stream is truncated")
    return out


def decode_utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestRefused(
            "invalid_utf8", f"body is not valid UTF-8 (byte {exc.start}: {exc.reason})"
        ) from exc


def parse_json(text: str) -> Any:
    """A JSON document, refused as `malformed_json` naming the line and column at fault."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestRefused(
            "malformed_json", f"line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
