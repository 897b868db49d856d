"""Registering a service whose event streams send messages already encoded.

A `RunEventBatch` (`repeated RunEvent events = 1`, nothing else) has the same encoding as every
response that is only that one field: the runner's `ExecuteRunResponse`/`AttachRunResponse` and the
gateway's `WatchRunResponse`. The generated code would have a servicer copy a batch it already holds
into a response, event by event, and encode the copy; with this registration the chosen methods may
yield the batch's encoding (bytes) instead, sent as it is. They may still yield messages. Clients and
every other method are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import grpc
from google.protobuf.message import Message


def encoded(response: bytes | Message) -> bytes:
    """The response serializer of a method that may yield encodings."""
    return response if isinstance(response, bytes) else response.SerializeToString()


class _Capture:
    """Stands in for the server while the generated code hands over its method handlers."""

    def __init__(self) -> None:
        self.service = ""
        self.handlers: dict[str, Any] = {}

    def add_generic_rpc_handlers(self, handlers: object) -> None:
        pass  # the registered handlers below carry the same table

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        self.service, self.handlers = service, handlers


def add_with_encoded_responses(
    add_to_server: Callable[[Any, Any], None], servicer: object, server: grpc.aio.Server, methods: Iterable[str]
) -> None:
    """`add_to_server(servicer, server)` (a generated `add_…Servicer_to_server`), with `methods`'
    response serializers taking bytes as well as messages."""
    capture = _Capture()
    add_to_server(servicer, capture)
    handlers = dict(capture.handlers)
    for method in methods:
        handlers[method] = handlers[method]._replace(response_serializer=encoded)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(capture.service, handlers),))
    server.add_registered_method_handlers(capture.service, handlers)  # type: ignore[attr-defined]  # grpcio >= 1.63
