"""The runner's service registration, with its two event streams sent as already-encoded batches.

`ExecuteRunResponse` and `AttachRunResponse` are, on the wire, exactly a `RunEventBatch` (one repeated
`RunEvent events = 1`). The generated code would have the servicer copy every batch into a response
message, event by event, and then encode that copy; a 300,000-line run spent ~8% of the runner's time
in the copy alone. Here those two methods take a batch's own encoding (`encode_batch`), so a batch is
encoded once and never copied. Clients and every other method are unchanged.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.message import Message

from mleredux.v1 import common_pb2, runner_pb2_grpc

#: The methods whose responses are `RunEventBatch`es on the wire.
BATCH_STREAMS = ("ExecuteRun", "AttachRun")


def encode_batch(batch: common_pb2.RunEventBatch) -> bytes:
    """What ExecuteRun and AttachRun yield: the batch's encoding, which is the response's."""
    return batch.SerializeToString()


def _encoded(response: bytes | Message) -> bytes:
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


def add_runner_service(servicer: runner_pb2_grpc.RunnerServiceServicer, server: grpc.aio.Server) -> None:
    """`add_RunnerServiceServicer_to_server`, with the batch streams' serializer taking bytes."""
    capture = _Capture()
    runner_pb2_grpc.add_RunnerServiceServicer_to_server(servicer, capture)
    handlers = dict(capture.handlers)
    for method in BATCH_STREAMS:
        handlers[method] = handlers[method]._replace(response_serializer=_encoded)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(capture.service, handlers),))
    server.add_registered_method_handlers(capture.service, handlers)  # type: ignore[attr-defined]  # grpcio >= 1.63
