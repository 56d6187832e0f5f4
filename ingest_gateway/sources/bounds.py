"""Content encodings undone within a size limit (zip bombs stop at the limit, never grow past
it), for the sources that speak other vendors' protocols (Datadog, Firehose, Loki)."""

from __future__ import annotations

import cramjam

from ingest_gateway.errors import IngestRefused
from ingest_gateway.sources.body import gunzip_bounded


def _too_large(limit: int) -> IngestRefused:
    return IngestRefused(
        "decompressed_body_too_large", f"body decompresses to more than {limit} bytes", 413
    )


def zstd_bounded(data: bytes, limit: int) -> bytes:
    """Decompress zstd into a buffer of `limit + 1` bytes: a bomb fails to fit, never grows."""
    buffer = bytearray(limit + 1)
    try:
        size = cramjam.zstd.decompress_into(data, buffer)
    except cramjam.DecompressionError as exc:
        if "whole buffer" in str(exc):
            raise _too_large(limit) from exc
        raise IngestRefused("invalid_zstd", f"body is not valid zstd: {exc}") from exc
    if size > limit:
        raise _too_large(limit)
    return bytes(buffer[:size])


def snappy_block_bounded(data: bytes, limit: int) -> bytes:
    """Decompress a snappy block (not framed), checking its declared length before any work."""
    try:
        declared = cramjam.snappy.decompress_raw_len(data)
    except cramjam.DecompressionError as exc:
        raise IngestRefused("invalid_snappy", f"body is not a snappy block: {exc}") from exc
    if declared > limit:
        raise _too_large(limit)
    try:
        return bytes(cramjam.snappy.decompress_raw(data))
    except cramjam.DecompressionError as exc:
        raise IngestRefused("invalid_snappy", f"body is not a snappy block: {exc}") from exc


def decode_content(
    data: bytes, encoding: str | None, limit: int, allowed: tuple[str, ...]
) -> bytes:
    """The body with its `Content-Encoding` undone, refused past `limit` decompressed bytes."""
    name = (encoding or "identity").strip().lower() or "identity"
    if name not in allowed:
        raise IngestRefused(
            "unsupported_encoding",
            f"content encoding {name!r}; use one of {', '.join(allowed)}",
            status=415,
        )
    if name in ("gzip", "x-gzip", "deflate"):
        return gunzip_bounded(data, limit)
    if name == "zstd":
        return zstd_bounded(data, limit)
    if name == "snappy":
        return snappy_block_bounded(data, limit)
    if len(data) > limit:
        raise IngestRefused("body_too_large", f"body exceeds {limit} bytes", status=413)
    return data
