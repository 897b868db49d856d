"""The gateway's stub of a runner, with the two event streams received as batches kept encoded.

`ExecuteRunResponse` and `AttachRunResponse` are, on the wire, exactly a `RunEventBatch` (see
services/encoded_responses.py). Each response is decoded once, as usual, and its encoding is kept
beside it (`RunnerBatch`): the gateway stores a batch of log lines as those bytes, and hands them on
as they are to a watcher who is caught up (a `WatchRunResponse` has the same encoding too). Without
that, every event was encoded again to be stored and copied again to be watched.
"""

from __future__ import annotations

import grpc
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from google.protobuf.message import Message

from mleredux.v1 import common_pb2, runner_pb2, runner_pb2_grpc

#: The streams whose responses are kept encoded.
BATCH_STREAMS = ("ExecuteRun", "AttachRun")


class RunnerBatch:
    """One ExecuteRun/AttachRun response: its events, and its encoding (a `RunEventBatch`'s)."""

    __slots__ = ("encoded", "events")

    def __init__(self, encoded: bytes) -> None:
        self.encoded = encoded
        self.events: RepeatedCompositeFieldContainer[common_pb2.RunEvent] = common_pb2.RunEventBatch.FromString(
            encoded
        ).events


def runner_stub(channel: grpc.aio.Channel) -> runner_pb2_grpc.RunnerServiceStub:
    """`RunnerServiceStub(channel)` whose ExecuteRun and AttachRun yield `RunnerBatch`es."""
    stub = runner_pb2_grpc.RunnerServiceStub(channel)
    service = runner_pb2.DESCRIPTOR.services_by_name["RunnerService"].full_name
    for method in BATCH_STREAMS:
        setattr(
            stub,
            method,
            channel.unary_stream(  # type: ignore[call-arg]  # grpcio's own stubs pass _registered_method
                f"/{service}/{method}",
                request_serializer=_serialize,
                response_deserializer=RunnerBatch,
                _registered_method=True,
            ),
        )
    return stub


def _serialize(request: Message) -> bytes:
    return request.SerializeToString()
