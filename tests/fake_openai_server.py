"""A local OpenAI-compatible HTTP server for tests: the one fake the test suite allows.

It serves `POST /v1/chat/completions` on a free loopback port, in a thread, and records every
request body it receives. Replies are scripted per request (`script(...)`); when the script is
empty it answers with a canned, schema-true refinement of the incident it was sent. Scripted
replies cover what real servers do: 429 with Retry-After, 500, an answer slower than the client's
timeout, malformed JSON content, off-schema JSON content, and anything else a test writes.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DATA_OPEN = "<<<LOG_DATA"
DATA_CLOSE = "LOG_DATA>>>"
PROMPT_TOKENS = 420
COMPLETION_TOKENS = 96


@dataclass(frozen=True)
class Reply:
    """One scripted reply. `content` is the assistant message (200) or the error text (else)."""

    status: int = 200
    content: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    prompt_tokens: int = PROMPT_TOKENS
    completion_tokens: int = COMPLETION_TOKENS


def answer(**fields: Any) -> str:
    """A schema-true answer (as the assistant's JSON text), with any field overridden."""
    body: dict[str, Any] = {
        "title": "Refined: payments-db ran out of connections",
        "summary": "The payments database refused new connections, so checkout calls failed.",
        "root_cause": "The connection pool of payments-db is exhausted by long transactions.",
        "next_steps": ["Raise the pool size of payments-db", "Find the long transactions"],
    }
    body.update(fields)
    return json.dumps(body)


def rate_limited(retry_after_ms: int = 20) -> Reply:
    return Reply(
        status=429,
        content="Rate limit reached",
        headers={"retry-after-ms": str(retry_after_ms), "retry-after": "1"},
    )


def server_error() -> Reply:
    # A short retry-after-ms keeps the client's backoff (0.5 s, 1 s, ...) out of the test's time.
    return Reply(status=500, content="The server had an error", headers={"retry-after-ms": "10"})


def slow(delay_s: float) -> Reply:
    return Reply(content=answer(), delay_s=delay_s)


def malformed() -> Reply:
    return Reply(content='{"title": "Refined", "summary": "cut off')


def off_schema() -> Reply:
    return Reply(content=json.dumps({"answer": "I am a pirate now", "format": "free"}))


@dataclass
class ReceivedRequest:
    path: str
    raw: str  # the body exactly as it arrived
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    def message(self, role: str) -> str:
        return "\n".join(str(m.get("content")) for m in self.messages if m.get("role") == role)

    def data_block(self) -> dict[str, Any]:
        """The JSON between the data markers of the user message."""
        user = self.message("user")
        inside = user.split(f"\n{DATA_OPEN}\n", 1)[1].split(f"\n{DATA_CLOSE}", 1)[0]
        parsed: dict[str, Any] = json.loads(inside)
        return parsed


class FakeOpenAIServer:
    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order; then canned answers again."""
        with self._lock:
            self._script.extend(replies)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()  # cuts short any reply still sleeping
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _next_reply(self, request: ReceivedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._script:
                return self._script.popleft()
        return Reply(content=_canned_answer(request))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length).decode("utf-8", errors="replace")
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    body = {}
                if self.path != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}}, {})
                    return
                reply = server._next_reply(ReceivedRequest(self.path, raw, body))
                if reply.delay_s and server._stopping.wait(reply.delay_s):
                    return
                if reply.status != 200:
                    error = {"message": reply.content, "type": "fake_error", "code": None}
                    self._send(reply.status, {"error": error}, reply.headers)
                    return
                self._send(200, _completion(body, reply), reply.headers)

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): nothing to answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _completion(request: dict[str, Any], reply: Reply) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": request.get("model", "fake-model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        },
    }


def _canned_answer(request: ReceivedRequest) -> str:
    """A refinement naming the service of the incident it was sent, so a test can tell which
    incident an answer belongs to."""
    try:
        data = request.data_block()
        incident = data.get("incident") or {}
        service = incident.get("service") or incident.get("root_cause_service") or "the service"
    except (IndexError, ValueError, AttributeError):
        service = "the service"
    return answer(
        title=f"Refined: {service} is failing",
        summary=f"The model's reading: {service} fails and its callers see errors.",
        root_cause=f"{service} is the first component to fail in this incident.",
    )


@contextmanager
def running_fake_openai() -> Iterator[FakeOpenAIServer]:
    server = FakeOpenAIServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
