"""Smoke test of bench.syslog_kafka: a tiny run against the gateway alone (no peers), on the
shared Kafka broker; checks the JSON it writes and that every expected match arrived."""

from __future__ import annotations

import json
from pathlib import Path

from bench.syslog_kafka import build_corpus, load_messages, main, split_on_frames


def test_corpus_is_octet_counted_and_split_on_whole_frames() -> None:
    messages = load_messages(Path(__file__).resolve().parents[2] / "shared" / "data" / "loghub")
    corpus = build_corpus(messages, 500)
    pieces = split_on_frames(corpus.payload, 4)
    assert b"".join(pieces) == corpus.payload
    assert len(pieces) == 4
    frames = 0
    for piece in pieces:  # each piece is whole `LEN SP MSG` frames, back to back
        position = 0
        while position < len(piece):
            space = piece.index(b" ", position)
            assert piece[space + 1 : space + 2] == b"<"
            position = space + 1 + int(piece[position:space])
            frames += 1
        assert position == len(piece)
    assert frames == corpus.lines == 500
    assert 0 < corpus.matches < corpus.lines


def test_gateway_only_run_writes_json_with_the_expected_matches(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    out = tmp_path / "syslog.json"
    code = main(
        ["--lines", "3000", "--peers", "none", "--bootstrap", kafka_bootstrap,
         "--timeout", "60", "--json", str(out), "--no-record"]
    )  # fmt: skip
    result = json.loads(out.read_text())
    assert code == 0
    assert result["lines"] == 3000
    assert result["expected_matches"] > 0
    (gateway,) = result["results"]
    assert gateway["name"] == "gateway"
    assert gateway["matched"] == gateway["expected"] == result["expected_matches"]
    assert gateway["correct"] is True
    assert gateway["lines_per_s"] > 0 and gateway["peak_rss_mb"] > 0
    assert result["syslog_lines_per_s"] == round(gateway["lines_per_s"])
