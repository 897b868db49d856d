"""A model provider for tests: a real HTTP server on 127.0.0.1 speaking the OpenAI chat completions
and Anthropic Messages wire formats (plain and SSE-streamed, with usage), answering scripted replies.

It records every request's headers and body, checks the API key it was configured with (401
otherwise, so a test sees the key arrived), and can be told to answer 429 or 5xx, or to stall.
It runs its own event loop in a thread, so synchronous tests, async tests and other processes (the
runner) can all call it.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.conftest import free_port


@dataclass
class Reply:
    """One scripted answer."""

    text: str = "ok"
    status: int = 200
    #: Seconds to wait before answering (a slow upstream).
    delay: float = 0.0
    #: Seconds to wait between streamed chunks.
    chunk_delay: float = 0.0
    #: How many pieces a streamed text is cut into.
    chunks: int = 4


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    time: float = field(default_factory=time.time)


def words(value: Any) -> int:
    """A token count that tests can predict: whitespace-separated words of the messages' text."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(words(v) for v in value)
    if isinstance(value, dict):
        return sum(words(v) for k, v in value.items() if k in ("content", "text"))
    return 0


def chunks_of(text: str, parts: int = 4) -> list[str]:
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class ModelUpstream:
    """Start with `start()`; `url` is the OpenAI base (…/v1), `anthropic_url` the Anthropic one."""

    def __init__(self, api_key: str = "sk-test-upstream-secret-0123456789") -> None:
        self.api_key = api_key
        self.port = free_port()
        self.received: list[Received] = []
        self.script: list[Reply] = []
        #: Called for a request when the script is empty: body -> reply.
        self.responder: Callable[[Any], Reply] = lambda body: Reply()
        self._lock = threading.Lock()
        #: Requests being answered now, and the most there ever were at once.
        self.in_flight = 0
        self.max_in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        #: Also serve on this unix socket (benchmarks: the relay pointed straight at the upstream).
        self.unix_path: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def calls(self, path_suffix: str = "") -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path.endswith(path_suffix)]

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.script.clear()
            self.max_in_flight = 0
        self.responder = lambda body: Reply()

    def _next(self, body: Any) -> Reply:
        with self._lock:
            if self.script:
                return self.script.pop(0)
        return self.responder(body)

    # -- handlers ----------------------------------------------------------------------------------

    async def _receive(self, request: web.Request) -> tuple[Any, web.Response | None]:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        with self._lock:
            self.received.append(Received(request.path, dict(request.headers), body))
        anthropic = request.path.endswith("/messages")
        given = request.headers.get("x-api-key") if anthropic else request.headers.get("authorization", "")
        expected = self.api_key if anthropic else f"Bearer {self.api_key}"
        if given != expected:
            error = {"error": {"type": "authentication_error", "message": "invalid api key"}}
            return body, web.json_response(error, status=401)
        return body, None

    async def _fail(self, reply: Reply) -> web.Response:
        kind = "rate_limit_error" if reply.status == 429 else "server_error"
        return web.json_response({"error": {"type": kind, "message": f"scripted {reply.status}"}}, status=reply.status)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._chat_answer(request)
        finally:
            self.in_flight -= 1

    async def _chat_answer(self, request: web.Request) -> web.StreamResponse:
        body, refused = await self._receive(request)
        if refused is not None:
            return refused
        reply = self._next(body)
        await asyncio.sleep(reply.delay)
        if reply.status != 200:
            return await self._fail(reply)
        model = body.get("model", "test-model")
        usage = {
            "prompt_tokens": words(body.get("messages")),
            "completion_tokens": words(reply.text),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        ident = f"chatcmpl-{len(self.received)}"
        if not body.get("stream"):
            return web.json_response(
                {
                    "id": ident,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": reply.text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                }
            )
        stream = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await stream.prepare(request)

        async def send(payload: dict[str, Any]) -> None:
            await stream.write(f"data: {json.dumps(payload)}\n\n".encode())
            await asyncio.sleep(reply.chunk_delay)

        base = {"id": ident, "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
        await send({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
        for piece in chunks_of(reply.text, reply.chunks):
            await send({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
        await send({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            await send({**base, "choices": [], "usage": usage})
        await stream.write(b"data: [DONE]\n\n")
        await stream.write_eof()
        return stream

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body, refused = await self._receive(request)
        if refused is not None:
            return refused
        reply = self._next(body)
        await asyncio.sleep(reply.delay)
        if reply.status != 200:
            return await self._fail(reply)
        model = body.get("model", "test-claude")
        usage = {
            "input_tokens": words(body.get("messages")) + words(body.get("system")),
            "output_tokens": words(reply.text),
        }
        message = {
            "id": f"msg_{len(self.received)}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": reply.text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        if not body.get("stream"):
            return web.json_response(message)
        stream = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await stream.prepare(request)

        async def send(kind: str, payload: dict[str, Any]) -> None:
            await stream.write(f"event: {kind}\ndata: {json.dumps({'type': kind, **payload})}\n\n".encode())
            await asyncio.sleep(reply.chunk_delay)

        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": usage["input_tokens"], "output_tokens": 1},
        }
        await send("message_start", {"message": start})
        await send("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
        for piece in chunks_of(reply.text, reply.chunks):
            await send("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}})
        await send("content_block_stop", {"index": 0})
        await send(
            "message_delta",
            {
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
        await send("message_stop", {})
        await stream.write_eof()
        return stream

    async def _models(self, request: web.Request) -> web.Response:
        _, refused = await self._receive(request)
        return refused or web.json_response({"object": "list", "data": [{"id": "test-model", "object": "model"}]})

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> ModelUpstream:
        ready = threading.Event()

        async def serve() -> None:
            app = web.Application(client_max_size=64 << 20)
            app.router.add_post("/v1/chat/completions", self._chat)
            app.router.add_post("/v1/messages", self._messages)
            app.router.add_get("/v1/models", self._models)
            self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
            if self.unix_path is not None:
                await web.UnixSite(self._runner, self.unix_path).start()
                os.chmod(self.unix_path, 0o666)
            ready.set()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(serve())
            loop.run_forever()
            assert self._runner is not None
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=main, name="model-upstream", daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("the test model upstream did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
            self._loop = None


def main() -> None:
    """`python -m tests.model_upstream PORT KEY [WORDS CHUNKS [UNIX_SOCKET]]`: serves until killed (benchmarks)."""
    import sys

    port, key = int(sys.argv[1]), sys.argv[2]
    text = " ".join(["word"] * int(sys.argv[3] if len(sys.argv) > 3 else 20))
    chunks = int(sys.argv[4] if len(sys.argv) > 4 else 4)
    server = ModelUpstream(api_key=key)
    server.port = port
    server.responder = lambda body: Reply(text, chunks=chunks)
    server.unix_path = sys.argv[5] if len(sys.argv) > 5 else None
    server.start()
    # Nothing is kept per request in a long benchmark.
    server.received = _Discard()
    print("listening", flush=True)
    threading.Event().wait()


class _Discard(list[Received]):
    def append(self, item: Received) -> None:
        return None


if __name__ == "__main__":
    main()
