"""The runner sends its event batches' own encoding as ExecuteRun/AttachRun responses
(services/runner/wire.py): that is only right while the three messages agree on the wire."""

from __future__ import annotations

from typing import Any

from mleredux.v1 import common_pb2, runner_pb2, runner_pb2_grpc
from services.runner.wire import BATCH_STREAMS, add_runner_service, encode_batch


def _batch() -> common_pb2.RunEventBatch:
    batch = common_pb2.RunEventBatch()
    for seq in range(1, 4):
        event = batch.events.add(run_id="r1", seq=seq)
        event.log_line.text = f"line {seq} \u00e9"
    batch.events.add(run_id="r1", seq=4).status_change.state = common_pb2.RunState.RUN_STATE_RUNNING
    return batch


def test_a_batch_encoding_is_both_responses() -> None:
    batch = _batch()
    for response in (runner_pb2.ExecuteRunResponse, runner_pb2.AttachRunResponse):
        decoded = response.FromString(encode_batch(batch))
        assert list(decoded.events) == list(batch.events)
        assert response(events=batch.events).SerializeToString() == encode_batch(batch)
        # The same field, by number and type: a renumbering would break this before it broke a run.
        field = response.DESCRIPTOR.fields_by_name["events"]
        assert field.number == 1 and field.message_type is not None
        assert field.message_type.full_name == "mleredux.v1.RunEvent"
        assert [f.name for f in response.DESCRIPTOR.fields] == ["events"]


class _Server:
    def __init__(self) -> None:
        self.registered: dict[str, Any] = {}

    def add_generic_rpc_handlers(self, handlers: object) -> None:
        pass

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        self.registered = handlers


def test_every_method_is_registered_and_only_the_batch_streams_take_bytes() -> None:
    server = _Server()
    add_runner_service(runner_pb2_grpc.RunnerServiceServicer(), server)  # type: ignore[arg-type]
    service = runner_pb2.DESCRIPTOR.services_by_name["RunnerService"]
    assert set(server.registered) == {m.name for m in service.methods}
    batch = _batch()
    for name, handler in server.registered.items():
        if name in BATCH_STREAMS:
            assert handler.response_serializer(encode_batch(batch)) == encode_batch(batch)
        else:
            assert handler.response_serializer is not None and handler.response_serializer is not encode_batch
