"""The runner's service registration, with its two event streams sent as already-encoded batches.

`ExecuteRunResponse` and `AttachRunResponse` are, on the wire, exactly a `RunEventBatch`. The runner
yields a batch's own encoding (`encode_batch`) through `services/encoded_responses.py`, so a batch is
encoded once and never copied (the copy alone was ~8% of the runner's time on a 300,000-line run).
"""

from __future__ import annotations

import grpc

from mleredux.v1 import common_pb2, runner_pb2_grpc
from services.encoded_responses import add_with_encoded_responses

#: The methods whose responses are `RunEventBatch`es on the wire.
BATCH_STREAMS = ("ExecuteRun", "AttachRun")


def encode_batch(batch: common_pb2.RunEventBatch) -> bytes:
    """What ExecuteRun and AttachRun yield: the batch's encoding, which is the response's."""
    return batch.SerializeToString()


def add_runner_service(servicer: runner_pb2_grpc.RunnerServiceServicer, server: grpc.aio.Server) -> None:
    """`add_RunnerServiceServicer_to_server`, with the batch streams' serializer taking bytes."""
    add_with_encoded_responses(runner_pb2_grpc.add_RunnerServiceServicer_to_server, servicer, server, BATCH_STREAMS)
