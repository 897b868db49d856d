"""Turning domain errors into gRPC statuses, so a servicer stays a thin translation layer.

A servicer method decorated with `@grpc_errors` answers a `MleReduxError` with its `grpc_code` and
message, and anything unexpected with INTERNAL and a one-line message (the traceback goes to the
service's stderr, never to the client).
"""

from __future__ import annotations

import functools
import inspect
import sys
import traceback
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import grpc

from mleredux.errors import MleReduxError

F = TypeVar("F", bound=Callable[..., Any])


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and message a client gets for an exception."""
    if isinstance(exc, MleReduxError):
        return grpc.StatusCode[exc.grpc_code], str(exc)
    traceback.print_exception(exc, file=sys.stderr)
    return grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}"


def grpc_errors(method: F) -> F:
    """Decorates a unary or server-streaming servicer method (coroutine or async generator)."""
    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def stream_wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            try:
                async for item in method(self, request, context):
                    yield item
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                code, message = status_for(exc)
                await context.abort(code, message)

        return stream_wrapper  # type: ignore[return-value]

    @functools.wraps(method)
    async def unary_wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            code, message = status_for(exc)
            await context.abort(code, message)

    return unary_wrapper  # type: ignore[return-value]
