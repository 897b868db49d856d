"""A run's model proxy: the OpenAI- and Anthropic-style HTTP API its agent calls, on a unix socket.

The socket's directory is mounted into the run's relay container only (`model_relay`), which
listens on 127.0.0.1 in the agent's network namespace. The agent holds a run-scoped placeholder
key; this proxy picks the endpoint, adds the real key on the way out, passes streamed answers
through chunk by chunk, and records every call: a `model_call` rollout event (through `on_call`)
and the full request and answer under `model_calls/` in the run's work dir, with every key
replaced by `[redacted]`. Budgets (requests, tokens, cost) are enforced here: past one the agent
gets a 429 naming it, and the run goes on. In replay mode answers come from a recorded run.

Paths: `/v1/...` goes to the run's OpenAI-kind endpoint that allows the requested model,
`/anthropic/v1/...` to its Anthropic-kind one, `/endpoints/NAME/...` to the endpoint NAME.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from mleredux.models.endpoints import Endpoint
from mleredux.models.usage import (
    Tokens,
    assemble_stream,
    request_fingerprint,
    sse_events,
    tokens_of_body,
    tokens_of_stream,
)

REDACTED = "[redacted]"
#: Request headers passed on to the upstream; everything else (the placeholder key first) stays here.
FORWARDED_HEADERS = ("content-type", "accept", "anthropic-version", "anthropic-beta", "openai-beta")
DEFAULT_ANTHROPIC_VERSION = "2023-06-01"


@dataclass(frozen=True)
class ModelLimits:
    """A run's budgets; 0 means unlimited."""

    max_requests: int = 0
    max_tokens: int = 0
    max_cost_usd: float = 0.0


@dataclass
class ModelUsage:
    """What a run has used so far (calls answered by an upstream or a replay)."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    refused: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ProxySettings:
    """Bounds of one run's proxy (see docs/limits.md, Model access)."""

    #: Whole call, upstream answer included (a long generation streams for a while).
    request_timeout_seconds: float = 600.0
    connect_timeout_seconds: float = 10.0
    #: Longest silence between two chunks of an answer.
    read_timeout_seconds: float = 120.0
    #: Retries of a 5xx answer or a connection failure (never of a 4xx), with doubling backoff.
    retries: int = 3
    backoff_seconds: float = 0.5
    max_request_bytes: int = 8 << 20
    #: A streamed answer larger than this is passed through but recorded cut.
    max_recorded_response_bytes: int = 16 << 20
    #: A non-streamed answer is held whole before it is passed on: larger ones are refused.
    max_response_bytes: int = 64 << 20
    #: Calls of one run in flight at once; more wait.
    max_concurrent_calls: int = 32
    #: Calls one run may make whatever its own budget says (each is recorded and stored).
    max_calls_per_run: int = 10_000


class ReplayBook:
    """A recorded run's calls, answered again in order per identical request."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self._queues: dict[str, list[dict[str, Any]]] = {}
        for record in sorted(records, key=lambda r: int(r.get("call", 0))):
            if record.get("fingerprint") and not record.get("refused"):
                self._queues.setdefault(str(record["fingerprint"]), []).append(record)

    @property
    def models(self) -> list[str]:
        """The models the recording asked for (first-use order): what a replaying agent is told."""
        for queue in self._queues.values():
            for record in queue:
                if isinstance(record.get("models_offered"), list):
                    return [str(m) for m in record["models_offered"]]
        found = [str(r["model"]) for q in self._queues.values() for r in q if r.get("model")]
        return list(dict.fromkeys(found))

    @property
    def kinds(self) -> list[str]:
        """The endpoint kinds the recorded run was given (which base URLs its agent saw)."""
        for queue in self._queues.values():
            for record in queue:
                if isinstance(record.get("kinds_offered"), list):
                    return [str(k) for k in record["kinds_offered"]]
        return sorted({str(r["kind"]) for q in self._queues.values() for r in q if r.get("kind")})

    def take(self, fingerprint: str) -> dict[str, Any] | None:
        queue = self._queues.get(fingerprint)
        return queue.pop(0) if queue else None

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())


class _Refusal(Exception):
    """An answer the proxy gives itself (never reaches the upstream)."""

    def __init__(self, status: int, kind: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": {"type": self.kind, "message": str(self), **self.extra}}


def placeholder_key(run_id: str) -> str:
    """The key the agent sees: names the run, opens nothing."""
    return f"mleredux-placeholder-{run_id}"


class ModelProxy:
    """The HTTP server on one run's model socket."""

    def __init__(
        self,
        socket_path: Path,
        *,
        endpoints: list[Endpoint],
        calls_dir: Path,
        on_call: Callable[[dict[str, Any]], None],
        limits: ModelLimits | None = None,
        settings: ProxySettings | None = None,
        secrets: list[str] | None = None,
        replay: ReplayBook | None = None,
        usage: ModelUsage | None = None,
        calls_made: int = 0,
    ) -> None:
        self.socket_path = socket_path
        self.endpoints = endpoints
        self.calls_dir = calls_dir
        self._on_call = on_call
        self.limits = limits or ModelLimits()
        self.settings = settings or ProxySettings()
        self._secrets = sorted({s for s in [*(secrets or []), *(e.api_key for e in endpoints)] if s}, key=len)[::-1]
        self._replay = replay
        #: The models the agent was told of (MLEREDUX_MODELS), kept in each record for a replay.
        self.offered_models = replay.models if replay is not None else sorted({m for e in endpoints for m in e.models})
        self.offered_kinds = replay.kinds if replay is not None else sorted({e.kind for e in endpoints})
        # A restarted runner passes what the run already used, so budgets hold per run.
        self.usage = usage or ModelUsage()
        self._numbered = calls_made
        self._admitted = self.usage.calls
        self._slots = asyncio.Semaphore(self.settings.max_concurrent_calls)
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        self.calls_dir.mkdir(parents=True, exist_ok=True)
        s = self.settings
        timeout = aiohttp.ClientTimeout(
            total=s.request_timeout_seconds, connect=s.connect_timeout_seconds, sock_read=s.read_timeout_seconds
        )
        # No cookies, no environment proxies: the upstream sees only what we send.
        self._session = aiohttp.ClientSession(
            timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False, auto_decompress=True
        )
        app = web.Application(client_max_size=s.max_request_bytes)
        app.router.add_route("*", "/{path:.*}", self._handle)
        # A call still in flight when the run ends gets a short grace, then is cut.
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await self._runner.setup()
        self.socket_path.unlink(missing_ok=True)
        directory = os.open(self.socket_path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            # Through the directory's fd: a work dir can be deeper than a socket path may be long.
            site = web.UnixSite(self._runner, f"/proc/self/fd/{directory}/{self.socket_path.name}")
            await site.start()
        finally:
            os.close(directory)
        os.chmod(self.socket_path, 0o666)  # the relay runs unprivileged

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        self.socket_path.unlink(missing_ok=True)

    # -- recording ---------------------------------------------------------------------------------

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def _scrub_bytes(self, data: bytes) -> bytes:
        for secret in self._secrets:
            data = data.replace(secret.encode(), REDACTED.encode())
        return data

    def _record(self, record: dict[str, Any]) -> None:
        self._numbered += 1
        number = self._numbered
        name = f"model_calls/{number:05d}.json"
        record = {"call": number, **record, "models_offered": self.offered_models, "kinds_offered": self.offered_kinds}
        text = self.scrub(json.dumps(record, indent=1, default=str))
        (self.calls_dir / f"{number:05d}.json").write_text(text)
        event = {
            key: record.get(key)
            for key in (
                "call",
                "endpoint",
                "model",
                "path",
                "status",
                "stream",
                "latency_ms",
                "input_tokens",
                "output_tokens",
                "cost_usd",
                "attempts",
                "replayed",
                "error",
                "budget",
            )
            if record.get(key) is not None
        }
        event["artifact"] = name
        self._on_call(json.loads(self.scrub(json.dumps(event))))

    # -- routing -----------------------------------------------------------------------------------

    def _route(self, path: str, model: str) -> tuple[Endpoint, str]:
        """The endpoint for a request and the path to append to its base_url."""
        parts = path.lstrip("/").split("/")
        if parts[0] == "endpoints" and len(parts) >= 3:
            named = [e for e in self.endpoints if e.name == parts[1]]
            if not named:
                granted = ", ".join(e.name for e in self.endpoints) or "none"
                raise _Refusal(404, "unknown_endpoint", f"endpoint {parts[1]!r} is not granted to this run ({granted})")
            candidates, tail = named, "/".join(parts[2:])
            if candidates[0].kind == "openai" and tail.startswith("v1/"):
                tail = tail[3:]
        elif parts[0] == "v1":
            candidates, tail = [e for e in self.endpoints if e.kind == "openai"], "/".join(parts[1:])
        elif parts[0] == "anthropic" and len(parts) >= 2:
            candidates, tail = [e for e in self.endpoints if e.kind == "anthropic"], "/".join(parts[1:])
        else:
            raise _Refusal(404, "not_found", f"no model API at {path} (use /v1/... or /anthropic/v1/...)")
        if not candidates:
            raise _Refusal(404, "unknown_endpoint", f"this run has no model endpoint for {path}")
        if model:
            allowed = [e for e in candidates if e.allows(model)]
            if not allowed:
                names = sorted({m for e in candidates for m in e.models})
                raise _Refusal(
                    403, "model_not_allowed", f"model {model!r} is not allowed (allowed: {', '.join(names)})"
                )
            candidates = allowed
        endpoint = candidates[0]
        if endpoint.kind == "anthropic" and endpoint.base_url.endswith("/v1") and tail.startswith("v1/"):
            tail = tail[3:]
        return endpoint, tail

    def _budget_left(self) -> None:
        limits, usage = self.limits, self.usage
        if self._admitted >= self.settings.max_calls_per_run:
            raise _Refusal(
                429,
                "budget_exhausted",
                f"this runner allows at most {self.settings.max_calls_per_run} model calls per run",
                budget="runner_calls",
            )
        if limits.max_requests and self._admitted >= limits.max_requests:
            raise _Refusal(
                429,
                "budget_exhausted",
                f"model request budget of {limits.max_requests} calls used up",
                budget="requests",
            )
        tokens = usage.input_tokens + usage.output_tokens
        if limits.max_tokens and tokens >= limits.max_tokens:
            raise _Refusal(
                429,
                "budget_exhausted",
                f"model token budget of {limits.max_tokens} used up ({tokens})",
                budget="tokens",
            )
        if limits.max_cost_usd and usage.cost_usd >= limits.max_cost_usd:
            raise _Refusal(
                429,
                "budget_exhausted",
                f"model cost budget of ${limits.max_cost_usd:g} used up (${usage.cost_usd:.4f})",
                budget="cost",
            )

    # -- the call ----------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        record: dict[str, Any] = {"path": request.path, "method": request.method}
        try:
            async with self._slots:
                return await self._call(request, record, started)
        except _Refusal as refusal:
            if refusal.status == 429:
                self.usage.refused += 1
                record["refused"] = True
            record.update(status=refusal.status, error=str(refusal), budget=refusal.extra.get("budget"))
            record["latency_ms"] = round((time.monotonic() - started) * 1000, 2)
            record["response"] = refusal.body()
            self._record(record)
            return web.json_response(refusal.body(), status=refusal.status)

    async def _read_request(self, request: web.Request, record: dict[str, Any]) -> Any:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise _Refusal(
                413, "request_too_large", f"request body over {self.settings.max_request_bytes} bytes"
            ) from None
        if request.method == "GET":
            return None
        if request.method != "POST":
            raise _Refusal(405, "method_not_allowed", f"{request.method} is not supported (POST or GET)")
        try:
            body = json.loads(raw)
        except ValueError:
            raise _Refusal(400, "invalid_request", "the request body is not JSON") from None
        if not isinstance(body, dict):
            raise _Refusal(400, "invalid_request", "the request body must be a JSON object")
        record["request"] = body
        return body

    async def _call(self, request: web.Request, record: dict[str, Any], started: float) -> web.StreamResponse:
        body = await self._read_request(request, record)
        model = body.get("model", "") if isinstance(body, dict) else ""
        if not isinstance(model, str):
            raise _Refusal(400, "invalid_request", "model must be a string")
        record["model"] = model or None
        stream = bool(body.get("stream")) if isinstance(body, dict) else False
        record["stream"] = stream
        fingerprint = request_fingerprint(request.path, body)
        record["fingerprint"] = fingerprint
        if request.method == "GET" and request.path.rstrip("/").endswith("/models"):
            # Answered here (not recorded): the agent sees the models it may use, not the provider's
            # catalogue, the same in a replay.
            if self._replay is None:
                self._route(request.path, "")  # an unknown path or endpoint is still refused
            models = [{"id": m, "object": "model", "owned_by": "mleredux"} for m in self.offered_models]
            return web.json_response({"object": "list", "data": models})
        if self._replay is not None:
            return await self._answer_replay(request, record, fingerprint, started)
        endpoint, tail = self._route(request.path, model)
        record["endpoint"] = endpoint.name
        record["kind"] = endpoint.kind
        self._budget_left()
        self._admitted += 1  # reserved now, so concurrent calls cannot overshoot a request budget
        try:
            return await self._forward(request, record, endpoint, tail, body, stream, started)
        except BaseException:
            if record.get("status") is None:
                self._admitted -= 1
            raise

    def _upstream_headers(self, request: web.Request, endpoint: Endpoint) -> dict[str, str]:
        headers = {k: request.headers[k] for k in FORWARDED_HEADERS if k in request.headers}
        headers.setdefault("content-type", "application/json")
        if endpoint.kind == "anthropic":
            headers["x-api-key"] = endpoint.api_key
            headers.setdefault("anthropic-version", DEFAULT_ANTHROPIC_VERSION)
        else:
            headers["authorization"] = f"Bearer {endpoint.api_key}"
        return headers

    async def _open_upstream(
        self, request: web.Request, record: dict[str, Any], endpoint: Endpoint, tail: str, body: Any
    ) -> aiohttp.ClientResponse:
        """The upstream's answer, after retrying 5xx answers and connection failures with backoff."""
        assert self._session is not None
        url = f"{endpoint.base_url}/{tail}"
        if request.query_string:
            url += f"?{request.query_string}"
        headers = self._upstream_headers(request, endpoint)
        data = json.dumps(body).encode() if body is not None else None
        s = self.settings
        attempt = 0
        while True:
            attempt += 1
            record["attempts"] = attempt
            try:
                response = await self._session.request(request.method, url, data=data, headers=headers)
            except (aiohttp.ClientError, TimeoutError) as exc:
                if attempt > s.retries:
                    kind = "upstream_timeout" if isinstance(exc, TimeoutError) else "upstream_unreachable"
                    what = "did not answer in time" if isinstance(exc, TimeoutError) else "could not be reached"
                    raise _Refusal(
                        504 if isinstance(exc, TimeoutError) else 502,
                        kind,
                        f"endpoint {endpoint.name!r} {what} ({attempt} attempts)",
                    ) from None
            else:
                if response.status < 500 or attempt > s.retries:
                    return response
                response.release()
            await asyncio.sleep(s.backoff_seconds * 2 ** (attempt - 1))

    async def _forward(
        self,
        request: web.Request,
        record: dict[str, Any],
        endpoint: Endpoint,
        tail: str,
        body: Any,
        stream: bool,
        started: float,
    ) -> web.StreamResponse:
        upstream = await self._open_upstream(request, record, endpoint, tail, body)
        kept = bytearray()
        limit = self.settings.max_recorded_response_bytes
        content_type = upstream.headers.get("content-type", "application/json")
        is_sse = content_type.startswith("text/event-stream")
        refused = False
        try:
            if is_sse:
                answer = web.StreamResponse(status=upstream.status, headers={"content-type": content_type})
                answer.headers["cache-control"] = "no-cache"
                await answer.prepare(request)
                try:
                    async for chunk in upstream.content.iter_any():
                        chunk = self._scrub_bytes(chunk)
                        if len(kept) < limit:
                            kept += chunk[: limit - len(kept)]
                        await answer.write(chunk)
                    await answer.write_eof()
                except ConnectionError:
                    # The agent went away mid-stream (its own timeout, a crash): the upstream call ends here.
                    record["error"] = "the agent closed the connection before the answer ended"
                except (aiohttp.ClientError, TimeoutError) as exc:
                    record["error"] = f"the upstream's stream broke: {type(exc).__name__}"
                    with contextlib.suppress(ConnectionError):
                        await answer.write_eof()
            else:
                try:
                    data = self._scrub_bytes(await self._read_answer(upstream, endpoint))
                except (aiohttp.ClientError, TimeoutError):
                    raise _Refusal(504, "upstream_timeout", f"endpoint {endpoint.name!r} stopped answering") from None
                kept += data[:limit]
                answer = web.Response(status=upstream.status, body=data, headers={"content-type": content_type})
        except _Refusal:
            refused = True  # recorded as the refusal it is, by the caller
            raise
        finally:
            upstream.release()
            if not refused:
                self._finish(record, endpoint, upstream.status, bytes(kept), is_sse, started)
        return answer

    async def _read_answer(self, upstream: aiohttp.ClientResponse, endpoint: Endpoint) -> bytes:
        """A non-streamed answer, refused past `max_response_bytes` (it would be held in memory)."""
        limit = self.settings.max_response_bytes
        data = bytearray()
        async for piece in upstream.content.iter_chunked(1 << 16):
            data += piece
            if len(data) > limit:
                raise _Refusal(
                    502, "upstream_answer_too_large", f"endpoint {endpoint.name!r} answered over {limit} bytes"
                )
        return bytes(data)

    def _finish(
        self, record: dict[str, Any], endpoint: Endpoint, status: int, kept: bytes, is_sse: bool, started: float
    ) -> None:
        text = kept.decode("utf-8", errors="replace")
        tokens = Tokens()
        if is_sse:
            events = sse_events(text)
            tokens = tokens_of_stream(events)
            record["response_text"] = text
            record["assembled"] = assemble_stream(events)
        else:
            try:
                parsed = json.loads(text)
                record["response"] = parsed
                tokens = tokens_of_body(parsed)
            except ValueError:
                record["response_text"] = text
        cost = endpoint.cost(record.get("model") or "", tokens.input, tokens.output)
        record.update(
            status=status,
            input_tokens=tokens.input,
            output_tokens=tokens.output,
            cost_usd=round(cost, 8),
            latency_ms=round((time.monotonic() - started) * 1000, 2),
        )
        self.usage.calls += 1
        self.usage.input_tokens += tokens.input
        self.usage.output_tokens += tokens.output
        self.usage.cost_usd += cost
        self._record(record)

    async def _answer_replay(
        self, request: web.Request, record: dict[str, Any], fingerprint: str, started: float
    ) -> web.StreamResponse:
        assert self._replay is not None
        self._budget_left()
        found = self._replay.take(fingerprint)
        if found is None:
            raise _Refusal(
                409,
                "replay_no_match",
                "replay: the recorded run made no (further) call with this exact request; "
                "the agent diverged from the recording",
            )
        self._admitted += 1
        record.update(replayed=True, endpoint=found.get("endpoint"), kind=found.get("kind"))
        status = int(found.get("status", 200))
        record["replayed_from"] = found.get("call")
        if "response_text" in found and found.get("stream"):
            text = str(found["response_text"])
            answer = web.StreamResponse(status=status, headers={"content-type": "text/event-stream"})
            await answer.prepare(request)
            await answer.write(text.encode())
            await answer.write_eof()
            events = sse_events(text)
            tokens = tokens_of_stream(events)
            record.update(response_text=text, assembled=assemble_stream(events))
        else:
            payload = found.get("response")
            data = json.dumps(payload).encode() if payload is not None else str(found.get("response_text", "")).encode()
            answer = web.Response(status=status, body=data, headers={"content-type": "application/json"})
            tokens = tokens_of_body(payload)
            record["response"] = payload
        # A replayed call costs nothing; its tokens are what the recording said.
        record.update(
            status=status,
            input_tokens=tokens.input,
            output_tokens=tokens.output,
            cost_usd=0.0,
            latency_ms=round((time.monotonic() - started) * 1000, 2),
        )
        self.usage.calls += 1
        self.usage.input_tokens += tokens.input
        self.usage.output_tokens += tokens.output
        self._record(record)
        return answer


@dataclass(frozen=True)
class ModelGrant:
    """What a run may use: its endpoints, budgets, and the recorded run it replays (if any)."""

    endpoints: list[Endpoint] = field(default_factory=list)
    limits: ModelLimits = field(default_factory=ModelLimits)
    replay_records: list[dict[str, Any]] | None = None

    @property
    def active(self) -> bool:
        return bool(self.endpoints) or self.replay_records is not None
