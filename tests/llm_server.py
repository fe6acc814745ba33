"""ScriptedLLM: the one fake in the suite, a scripted stand-in for an OpenAI-compatible model server on loopback.

Everything else in the tests is real; no model can run here, so the model server is replaced by this real HTTP
server that speaks the OpenAI chat-completions wire format (JSON and `stream: true` server-sent events) and
replays a script of replies:

    dict                 -> the message content is that dict as a JSON string
    str                  -> the message content is that raw text
    Reply(content, ...)  -> the same, with explicit token usage or finish_reason
    Status(500, body)    -> an HTTP error with an OpenAI-style error body
    Delay(seconds, then) -> sleeps (longer than the client timeout), then sends `then`
    callable(request)    -> called with the request JSON; returns any of the above

    with ScriptedLLM([{"suggestions": [...]}]) as llm:
        settings = Settings(llm_base_url=llm.base_url, llm_model=llm.model, ...)
        ...
        assert "C1" in llm.prompt(0)
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass
class Reply:
    """A chat completion: content (dict -> JSON text) with optional explicit usage numbers."""

    content: Any
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str = "stop"

    @property
    def text(self) -> str:
        return self.content if isinstance(self.content, str) else json.dumps(self.content)


@dataclass
class Status:
    """An HTTP error reply, e.g. Status(500) or Status(429, {"error": {...}})."""

    code: int
    body: dict[str, Any] | None = None


@dataclass
class Delay:
    """Sleep `seconds` before answering with `then` (the client should have timed out by then)."""

    seconds: float
    then: Any = field(default_factory=lambda: Reply({"suggestions": []}))


_PIECE = re.compile(r"\s*\S{1,12}|\s+")


def _count_tokens(text: str) -> int:
    """A rough token count (words and punctuation runs): enough to make usage numbers move with the text."""
    return len(re.findall(r"\w+|[^\w\s]", text))


class ScriptedLLM:
    """A real HTTP server on 127.0.0.1 (random free port) that replays scripted chat completions."""

    def __init__(self, script: Iterable[Any] = (), *, model: str = "scripted-model"):
        self.model = model
        self.requests: list[dict[str, Any]] = []  # JSON bodies of POST /v1/chat/completions, in order
        self._script: list[Any] = list(script)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"llm": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="scripted-llm", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._closing.set()  # wakes handlers sleeping in a Delay
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "ScriptedLLM is not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    # ------------------------------------------------------------ script and recordings

    def add(self, *replies: Any) -> None:
        """Append replies to the script."""
        with self._lock:
            self._script.extend(replies)

    @property
    def remaining(self) -> int:
        """Replies not consumed yet."""
        with self._lock:
            return len(self._script)

    def prompt(self, index: int = -1) -> str:
        """All message texts of request `index`, joined (what the model was shown)."""
        return "\n\n".join(_message_text(m) for m in self.requests[index].get("messages", []))

    def _next(self, request: dict[str, Any]) -> Any:
        with self._lock:
            self.requests.append(request)
            reply = self._script.pop(0) if self._script else None
        if reply is None:
            return Status(
                500, {"error": {"message": "ScriptedLLM: the script has no reply left", "type": "script"}}
            )
        while callable(reply) and not isinstance(reply, (Reply, Status, Delay)):
            reply = reply(request)
        return reply


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):  # content parts
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content or "")


class _Handler(BaseHTTPRequestHandler):
    llm: ScriptedLLM
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/v1/models":
            return self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
        model = {"id": self.llm.model, "object": "model", "created": 0, "owned_by": "scripted"}
        self._json(200, {"object": "list", "data": [model]})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
        try:
            request = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return self._json(
                400, {"error": {"message": "request body is not JSON", "type": "invalid_request"}}
            )
        reply = self.llm._next(request)
        try:
            self._answer(request, reply)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout); nothing to answer

    def _answer(self, request: dict[str, Any], reply: Any) -> None:
        if isinstance(reply, Delay):
            self.llm._closing.wait(reply.seconds)
            reply = reply.then
        if isinstance(reply, Status):
            body = reply.body or {"error": {"message": f"scripted HTTP {reply.code}", "type": "server_error"}}
            return self._json(reply.code, body)
        if not isinstance(reply, Reply):
            reply = Reply(reply)
        text = reply.text
        prompt = "\n".join(_message_text(m) for m in request.get("messages", []))
        usage = {
            "prompt_tokens": reply.prompt_tokens
            if reply.prompt_tokens is not None
            else _count_tokens(prompt),
            "completion_tokens": (
                reply.completion_tokens if reply.completion_tokens is not None else _count_tokens(text)
            ),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        ident, created, model = (
            f"chatcmpl-scripted-{len(self.llm.requests)}",
            int(time.time()),
            self.llm.model,
        )
        if request.get("stream"):
            return self._stream(request, text, reply.finish_reason, usage, ident, created, model)
        message = {"role": "assistant", "content": text, "refusal": None}
        choice = {"index": 0, "message": message, "finish_reason": reply.finish_reason, "logprobs": None}
        self._json(
            200,
            {
                "id": ident,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [choice],
                "usage": usage,
            },
        )

    def _stream(
        self, request: dict, text: str, finish: str, usage: dict, ident: str, created: int, model: str
    ):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def event(choices: list[dict], **extra: Any) -> None:
            chunk = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
                **extra,
            }
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()

        def delta(d: dict, finish_reason: str | None = None) -> list[dict]:
            return [{"index": 0, "delta": d, "finish_reason": finish_reason, "logprobs": None}]

        event(delta({"role": "assistant", "content": ""}))
        for piece in _PIECE.findall(text):
            event(delta({"content": piece}))
        event(delta({}, finish))
        if (request.get("stream_options") or {}).get("include_usage"):
            event([], usage=usage)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
