"""The gateway's HTTP side: REST/JSON, Server-Sent Events, the OpenAPI document and the run viewer.

It runs in the gateway's process and holds no logic of its own: every route calls the gateway's own
gRPC API over loopback, forwarding the caller's `Authorization: Bearer` header as metadata, so
authentication, ownership (another user's run is 404), validation and errors are exactly the gRPC
ones. gRPC statuses map to HTTP statuses (`rest_routes.HTTP_STATUS`) with a JSON body
`{"code": "NOT_FOUND", "message": "..."}`.

Event streams (`GET /v1/runs/{run_id}/events`) are Server-Sent Events: `id:` is the event's seq, so
EventSource's automatic reconnect (which sends `Last-Event-ID`) resumes without gaps or duplicates;
a final `event: end` says the run has ended and the stream closes.

EventSource and plain download links cannot send headers, so those two GET routes also accept the
token from the `mleredux_token` cookie (set by the viewer, SameSite=Strict). A query parameter would
put the secret into URLs (server logs, browser history, Referer); a cookie does not, and both routes
only read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import sys
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path, PurePosixPath
from typing import Any

import grpc
from aiohttp import web
from google.protobuf.message import Message

from mleredux.errors import InvalidArgumentError, MleReduxError, UnauthenticatedError
from mleredux.v1 import common_pb2, gateway_pb2_grpc
from services.gateway.openapi import openapi_document
from services.gateway.rest_routes import HTTP_STATUS, ROUTES, TOKEN_COOKIE, Kind, Route, build_request, to_json
from services.server import CHANNEL_OPTIONS, Hosted

VIEWER_DIR = Path(__file__).with_name("viewer")
#: A comment line on an idle event stream, so proxies and browsers keep it open.
KEEPALIVE_SECONDS = 15.0
#: Unary calls: CancelRun waits for the container to go, CreateRun asks the preparer.
UNARY_TIMEOUT_SECONDS = 180.0
#: The viewer loads only its own files and talks only to this server.
_VIEWER_CSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
#: An artifact's download: no script, no plugin, no request of its own, an origin of its own.
_ARTIFACT_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_HTTP_CODE_NAMES = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 405: "UNIMPLEMENTED"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _OneLineFormatter(logging.Formatter):
    """aiohttp logs a malformed request (already answered 400) with a traceback; one line will do."""

    def formatException(self, ei: Any) -> str:
        return f"{ei[0].__name__}: {' '.join(str(ei[1]).split())}"

    def format(self, record: logging.LogRecord) -> str:
        return "http: " + " ".join(super().format(record).split())


def _quiet_aiohttp_logs() -> None:
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(h.formatter, _OneLineFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_OneLineFormatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False


class RpcFailed(Exception):
    """A gRPC status that is not OK, on its way to becoming an HTTP error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @classmethod
    def of(cls, exc: grpc.aio.AioRpcError) -> RpcFailed:
        return cls(exc.code().name, exc.details() or exc.code().name)


def _error_response(code: str, message: str, status: int | None = None) -> web.Response:
    status = status or HTTP_STATUS.get(code, 500)
    headers = {"WWW-Authenticate": 'Bearer realm="mleredux"'} if status == 401 else None
    return web.json_response({"code": code, "message": message}, status=status, headers=headers)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as JSON {code, message}; nothing unexpected leaves as a traceback."""
    try:
        return await handler(request)
    except RpcFailed as exc:
        return _error_response(exc.code, exc.message)
    except MleReduxError as exc:
        return _error_response(exc.grpc_code, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODE_NAMES.get(exc.status, "INVALID_ARGUMENT" if exc.status < 500 else "INTERNAL")
        message = f"{exc.reason}: {request.method} {request.path}"
        if isinstance(exc, web.HTTPMethodNotAllowed):
            message += f" (allowed: {', '.join(sorted(exc.allowed_methods))})"
        return _error_response(code, message, exc.status)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception as exc:
        print(f"http: {request.method} {request.path} failed:", file=sys.stderr, flush=True)
        traceback.print_exception(exc, file=sys.stderr)
        return _error_response("INTERNAL", f"internal error: {type(exc).__name__}")


def _metadata(request: web.Request, route: Route) -> tuple[tuple[str, str], ...]:
    """The caller's credentials as gRPC metadata (the servicer decides whether they are good)."""
    header = request.headers.get("Authorization")
    if header is None and route.cookie_auth and request.cookies.get(TOKEN_COOKIE):
        header = f"Bearer {request.cookies[TOKEN_COOKIE]}"
    if header is None:
        return ()
    # gRPC metadata values are printable ASCII; anything else cannot be a token of ours.
    if not header.isascii() or not header.isprintable():
        raise UnauthenticatedError("the authorization header must be `Bearer <token>`")
    return (("authorization", header),)


async def _opened(call: Any) -> None:
    """Waits until a streaming call has either started (the servicer sends its initial metadata once
    the request is accepted) or failed, so a failure becomes the HTTP status, not a broken stream."""
    try:
        await call.initial_metadata()
        if call.done():
            code = await call.code()
            if code != grpc.StatusCode.OK:
                raise RpcFailed(code.name, await call.details() or code.name)
    except grpc.aio.AioRpcError as exc:
        raise RpcFailed.of(exc) from None


def _sse(data: dict[str, Any], *, event: str | None = None, event_id: int | None = None) -> bytes:
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event is not None:
        lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()


def _payload_kind(event: common_pb2.RunEvent) -> str:
    return event.WhichOneof("payload") or "event"


#: The largest event seq a Last-Event-ID may name (`from_seq`, one more, is an int64).
_MAX_SEQ = (1 << 63) - 1


class GatewayHttp:
    """The aiohttp application; `start` points it at the gateway's gRPC address."""

    def __init__(self) -> None:
        self._channel: grpc.aio.Channel | None = None
        self._stub: gateway_pb2_grpc.GatewayServiceStub | None = None
        self._runner: web.AppRunner | None = None
        self._openapi = json.dumps(openapi_document(), indent=1).encode()
        self.address = ""

    @property
    def stub(self) -> gateway_pb2_grpc.GatewayServiceStub:
        assert self._stub is not None, "GatewayHttp.start() first"
        return self._stub

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_errors], client_max_size=4 * 1024 * 1024)
        for route in ROUTES:
            app.router.add_route(route.method, route.aiohttp_path, self._handler(route))
        app.router.add_get("/v1/openapi.json", self._openapi_json)
        app.router.add_get("/", self._viewer_index)
        app.router.add_get("/viewer/{file}", self._viewer_file)
        app.router.add_get("/viewer/vendor/{file}", self._viewer_vendor_file)
        return app

    async def start(self, listen: str, grpc_address: str) -> str:
        """Serves on `listen` (HOST:PORT, port 0 picks one); returns the bound HOST:PORT."""
        _quiet_aiohttp_logs()
        self._channel = grpc.aio.insecure_channel(grpc_address, options=CHANNEL_OPTIONS)
        self._stub = gateway_pb2_grpc.GatewayServiceStub(self._channel)
        # No access log: nothing secret is in a URL, but there is no need to keep one either.
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        host, _, port = listen.rpartition(":")
        host = host.strip("[]")
        try:
            if not host or not port.isdigit():
                raise OSError("expected HOST:PORT")
            await web.TCPSite(self._runner, host, int(port)).start()
        except OSError as exc:
            await self.close()
            raise SystemExit(f"cannot listen for HTTP on {listen}: {exc}") from None
        bound_port = self._runner.addresses[0][1]
        shown_host = f"[{host}]" if ":" in host else host
        self.address = f"{shown_host}:{bound_port}"
        return self.address

    async def close(self) -> None:
        # Closing the channel first ends every stream in flight (their calls are cancelled), so the
        # runner's cleanup does not wait on long-lived event streams.
        if self._channel is not None:
            await self._channel.close(None)
            self._channel = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- routes ------------------------------------------------------------------------------------

    def _handler(self, route: Route) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            body = await request.read() if route.body else b""
            message = build_request(route, request.match_info, request.query, body)
            metadata = _metadata(request, route)
            if route.kind is Kind.UNARY:
                return await self._unary(route, message, metadata)
            if route.kind is Kind.DOWNLOAD:
                return await self._download(request, route, message, metadata)
            if route.rpc == "WatchRun":
                last_event_id = request.headers.get("Last-Event-ID")
                if last_event_id is not None:
                    try:
                        resume = int(last_event_id.strip())
                    except ValueError:
                        raise InvalidArgumentError(
                            f"Last-Event-ID must be an event's seq (an integer), got {last_event_id!r}"
                        ) from None
                    if resume < 0:
                        raise InvalidArgumentError("Last-Event-ID must not be negative")
                    if resume >= _MAX_SEQ:
                        # from_seq is an int64: resume + 1 must fit in it (no event has such a seq).
                        raise InvalidArgumentError(f"Last-Event-ID must be below {_MAX_SEQ}, got {resume}")
                    message.from_seq = resume + 1  # type: ignore[attr-defined]
            return await self._events(request, route, message, metadata)

        handle.__name__ = route.rpc
        return handle

    async def _unary(self, route: Route, message: Message, metadata: tuple[tuple[str, str], ...]) -> web.Response:
        method = getattr(self.stub, route.rpc)
        # A client-streaming RPC (CreateAgent) gets the one message the JSON body makes.
        argument: object = iter([message]) if route.method_descriptor.client_streaming else message
        try:
            answer = await method(argument, metadata=metadata, timeout=UNARY_TIMEOUT_SECONDS)
        except grpc.aio.AioRpcError as exc:
            raise RpcFailed.of(exc) from None
        return web.json_response(to_json(route.answer(answer)))

    async def _events(
        self, request: web.Request, route: Route, message: Message, metadata: tuple[tuple[str, str], ...]
    ) -> web.StreamResponse:
        call = getattr(self.stub, route.rpc)(message, metadata=metadata)
        try:
            await _opened(call)
            response = web.StreamResponse(
                headers={
                    "Content-Type": "text/event-stream",
                    "Cache-Control": "no-cache",
                    "X-Accel-Buffering": "no",
                }
            )
            await response.prepare(request)
            await response.write(b"retry: 2000\n\n")
            async for item, failure in _with_keepalive(call):
                if failure is not None:
                    await response.write(_sse({"code": failure.code, "message": failure.message}, event="stream_error"))
                    return response
                if item is None:
                    await response.write(b": keepalive\n\n")
                elif route.rpc == "WatchRun":
                    chunk = b"".join(
                        _sse(to_json(e), event=_payload_kind(e), event_id=e.seq)
                        for e in item.events  # type: ignore[attr-defined]
                    )
                    await response.write(chunk)
                elif route.rpc == "WatchAgentBuild":
                    if item.HasField("agent"):  # type: ignore[attr-defined]
                        await response.write(_sse(to_json(item.agent), event="agent"))  # type: ignore[attr-defined]
                    else:
                        await response.write(_sse(to_json(item), event="line", event_id=item.seq))  # type: ignore[attr-defined]
                else:
                    await response.write(_sse(to_json(route.answer(item)), event="progress"))
            await response.write(_sse({}, event="end"))
            return response
        except ConnectionResetError:
            # The client went away; its stream ends here.
            return web.Response(status=499)
        finally:
            call.cancel()

    async def _download(
        self, request: web.Request, route: Route, message: Message, metadata: tuple[tuple[str, str], ...]
    ) -> web.StreamResponse:
        call = self.stub.GetArtifact(message, metadata=metadata)
        try:
            await _opened(call)
            name = PurePosixPath(message.name).name or "artifact"  # type: ignore[attr-defined]
            content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
            safe = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
            response = web.StreamResponse(
                headers={
                    "Content-Type": content_type,
                    "Content-Disposition": f'attachment; filename="{safe}"',
                    "X-Content-Type-Options": "nosniff",
                    # What the agent wrote is hostile: opened on its own (an SVG or HTML file typed into
                    # the address bar) it runs in an opaque origin with no script, never the viewer's.
                    "Content-Security-Policy": _ARTIFACT_CSP,
                }
            )
            await response.prepare(request)
            try:
                async for chunk in call:
                    await response.write(chunk.data)
            except grpc.aio.AioRpcError as exc:
                # Too late for a status: cut the connection so the client sees a truncated
                # chunked body rather than a complete-looking file.
                print(f"http: download of {message.name} failed midway: {exc.details()}", file=sys.stderr)  # type: ignore[attr-defined]
                if request.transport is not None:
                    request.transport.close()
                return response
            except ConnectionResetError:
                return response
            await response.write_eof()
            return response
        finally:
            call.cancel()

    async def _openapi_json(self, request: web.Request) -> web.Response:
        return web.Response(body=self._openapi, content_type="application/json")

    async def _viewer_index(self, request: web.Request) -> web.StreamResponse:
        return self._viewer_response("index.html")

    async def _viewer_file(self, request: web.Request) -> web.StreamResponse:
        return self._viewer_response(request.match_info["file"])

    async def _viewer_vendor_file(self, request: web.Request) -> web.StreamResponse:
        return self._viewer_response(request.match_info["file"], VIEWER_DIR / "vendor")

    def _viewer_response(self, name: str, directory: Path = VIEWER_DIR) -> web.StreamResponse:
        path = directory / name
        if "/" in name or name.startswith(".") or not path.is_file():
            raise web.HTTPNotFound()
        response = web.FileResponse(path)
        response.headers["Content-Security-Policy"] = _VIEWER_CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-cache"
        return response


async def _with_keepalive(call: Any) -> AsyncIterator[tuple[Message | None, RpcFailed | None]]:
    """The stream's messages; (None, None) after each quiet KEEPALIVE_SECONDS; (None, failure) last
    if the stream fails after it started."""
    iterator = call.__aiter__()
    pending: asyncio.Future[Message] = asyncio.ensure_future(iterator.__anext__())
    try:
        while True:
            done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE_SECONDS)
            if not done:
                yield None, None
                continue
            try:
                item = pending.result()
            except StopAsyncIteration:
                return
            except grpc.aio.AioRpcError as exc:
                yield None, RpcFailed.of(exc)
                return
            yield item, None
            pending = asyncio.ensure_future(iterator.__anext__())
    finally:
        pending.cancel()
        # Retrieve whatever it ended with, so nothing is reported as "never retrieved".
        pending.add_done_callback(lambda f: f.cancelled() or f.exception())


def loopback_address(grpc_address: str) -> str:
    """Where this process reaches its own gRPC server: a wildcard bind is reached on loopback."""
    host, _, port = grpc_address.rpartition(":")
    if host in ("", "0.0.0.0", "[::]", "::", "*"):
        return f"127.0.0.1:{port}"
    return grpc_address


def attach_http(hosted: Hosted, listen: str) -> GatewayHttp:
    """Serves the HTTP side once the gRPC server is listening (it prints `http listening on HOST:PORT`
    before the gRPC `listening on` line, which is what launchers wait for) and closes it first on
    shutdown."""
    http = GatewayHttp()

    async def start(grpc_address: str) -> None:
        address = await http.start(listen, loopback_address(grpc_address))
        print(f"http listening on {address}", flush=True)

    hosted.on_listening = start
    hosted.extra_shutdown.append(http.close)
    return http
