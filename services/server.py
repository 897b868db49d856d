"""Hosting a servicer: one grpc.aio server with health checking, reflection and a clean SIGTERM.

Every service process runs `serve()`: it binds, prints one `listening on HOST:PORT` line on stdout
(what `mleredux up` and the tests wait for), and on SIGTERM or SIGINT marks itself NOT_SERVING,
runs the service's own shutdown (drain or cancel in-flight work, remove containers), then stops.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from mleredux.service_logs import RepeatFilter
from services.operations import DependencyCheck, follow_dependencies, probe_event_loop, start_metrics

#: What a service accepts in one request unless its hosting says otherwise: a few MB, checked by gRPC
#: against the message's length prefix before anything is allocated or any token is looked at, so an
#: unauthenticated 200 MB request costs nothing. Only RPCs that carry uploads (the grader's inline
#: submissions) get more; see docs/limits.md.
DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024
#: Answers between our own services (a runner's event batches, an artifact's chunks) and what a
#: service may send: the peers are ours, so this only stops a runaway, not a tenant.
MAX_RESPONSE_BYTES = 256 * 1024 * 1024
#: Options of the channels a service opens to another service (clients only read these).
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_RESPONSE_BYTES),
    ("grpc.max_send_message_length", MAX_RESPONSE_BYTES),
    # A service that restarts is found again within seconds, not after gRPC's default back-off of up
    # to two minutes.
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2000),
]
#: Kept for callers that open channels with it; the same as CHANNEL_OPTIONS.
SERVER_OPTIONS = CHANNEL_OPTIONS


def server_options(max_request_bytes: int) -> list[tuple[str, int]]:
    """A server's options: requests up to `max_request_bytes`, answers up to MAX_RESPONSE_BYTES."""
    if max_request_bytes <= 0:
        raise ValueError(f"max_request_bytes must be positive, got {max_request_bytes}")
    return [
        ("grpc.max_receive_message_length", max_request_bytes),
        ("grpc.max_send_message_length", MAX_RESPONSE_BYTES),
    ]


@dataclass
class Hosted:
    """What a service hands to `serve`."""

    #: Adds the servicers to the server.
    register: Callable[[grpc.aio.Server], None]
    #: Full service names (e.g. `mleredux.v1.GraderService`) for health and reflection.
    service_names: Sequence[str]
    #: Called once on shutdown before the server stops: drain or cancel in-flight work.
    on_shutdown: Callable[[], Awaitable[None]] | None = None
    #: Called after the server has started.
    on_start: Callable[[], Awaitable[None]] | None = None
    #: Called with the bound HOST:PORT after `on_start`, before the `listening on` line (the gateway
    #: starts its HTTP side here: it talks to its own gRPC API at that address).
    on_listening: Callable[[str], Awaitable[None]] | None = None
    #: Extra servers (e.g. the gateway's HTTP side) to close on shutdown.
    extra_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    #: The largest request message the server accepts (RESOURCE_EXHAUSTED above it, before parsing).
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    #: What the service needs to do its work; while one fails its health is NOT_SERVING.
    dependency_checks: list[tuple[str, DependencyCheck]] = field(default_factory=list)
    #: Called once the server has stopped and no request runs any more (removing its scratch folder).
    on_stopped: list[Callable[[], None]] = field(default_factory=list)


_loop_log = logging.getLogger("mleredux.loop")


def bound_service_logging() -> None:
    """Logging to stderr with repeats collapsed (see mleredux.service_logs), and the event loop's
    own error reports routed through it: asyncio reports each failed accept() (EMFILE under a
    connection flood) with a traceback, which is how a runner's log once grew by 460 MB in 100 s."""
    root = logging.getLogger()
    if not any(isinstance(f, RepeatFilter) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RepeatFilter())
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
    asyncio.get_running_loop().set_exception_handler(_loop_exception)


def _loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    exception = context.get("exception")
    message = str(context.get("message") or "event loop error")
    if isinstance(exception, OSError):
        # Resource errors (descriptors, memory) repeat at the rate of the flood: one line, no traceback.
        _loop_log.error("%s: %s: %s", message, type(exception).__name__, exception)
    elif isinstance(exception, BaseException):
        _loop_log.error("%s", message, exc_info=exception)
    else:
        _loop_log.error("%s", message)


async def serve(hosted: Hosted, listen: str, *, grace_seconds: float = 10.0, metrics_listen: str | None = None) -> None:
    """Runs until SIGTERM/SIGINT. `listen` is HOST:PORT; port 0 picks a free one. With
    `metrics_listen`, Prometheus metrics are served there too (`metrics listening on HOST:PORT`)."""
    bound_service_logging()
    server = grpc.aio.server(options=server_options(hosted.max_request_bytes))
    hosted.register(server)
    health_servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*hosted.service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
        server,
    )
    try:
        port = server.add_insecure_port(listen)
    except RuntimeError as exc:
        raise SystemExit(f"cannot listen on {listen}: {exc}") from exc
    host = listen.rsplit(":", 1)[0]
    # Before the server starts, not after the `listening on` line: a SIGTERM sent as soon as that line
    # appears (a supervisor or test stopping a service it just started) found the default action
    # still in place and killed the process without its clean stop.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    for name in ["", *hosted.service_names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    try:
        if hosted.on_start is not None:
            await hosted.on_start()
        if hosted.on_listening is not None:
            await hosted.on_listening(f"{host}:{port}")
    except BaseException:
        # A service that cannot start (e.g. its HTTP port is taken) stops its server before exiting.
        await server.stop(None)
        raise
    dependencies = (
        asyncio.create_task(
            follow_dependencies(hosted.dependency_checks, health_servicer, hosted.service_names), name="dependencies"
        )
        if hosted.dependency_checks
        else None
    )
    loop_probe = asyncio.create_task(probe_event_loop(), name="event-loop-probe")
    if metrics_listen is not None:
        print(f"metrics listening on {start_metrics(metrics_listen)}", flush=True)
    # What is built by now (modules, descriptors, the service's own state) lives as long as the
    # process. Frozen out of the collector's sight, a full collection walks only what requests made:
    # a gen-2 pass over the whole start-up heap took 15-75 ms here, holding the loop all along.
    gc.collect()
    gc.freeze()
    print(f"listening on {host}:{port}", flush=True)

    server_done = asyncio.ensure_future(server.wait_for_termination())
    stop_wait = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({server_done, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop_wait.cancel()
        loop_probe.cancel()
        await asyncio.gather(loop_probe, return_exceptions=True)
        if dependencies is not None:
            dependencies.cancel()
            await asyncio.gather(dependencies, return_exceptions=True)
        for name in ["", *hosted.service_names]:
            await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        # Front doors first: the extra servers only call this gRPC API, so closing them before the
        # drain means no new work arrives through them while in-flight work winds down.
        for close in hosted.extra_shutdown:
            await close()
        if hosted.on_shutdown is not None:
            try:
                async with asyncio.timeout(grace_seconds):
                    await hosted.on_shutdown()
            except TimeoutError:
                print("shutdown: in-flight work did not finish in time; cancelling", file=sys.stderr, flush=True)
        await server.stop(grace_seconds)
        server_done.cancel()
        for stopped in hosted.on_stopped:
            stopped()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
