"""A run's artifacts reach a real S3-protocol server with their sha256, even when it is down for a while.

The S3 server is moto's, on 127.0.0.1, stopped and started again on the same port by the test (its
objects live in this process, so they survive the restart); the runner is a separate process.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from minio import Minio

from mleredux.proto_json import struct_to_python
from mleredux.store import S3Store, sha256_file
from mleredux.v1 import common_pb2, runner_pb2
from services.runner.servicer import RunnerSettings
from tests.conftest import free_port
from tests.runner_harness import (
    RunnerProcess,
    collect,
    execute_request,
    make_public_dir,
    runner_containers,
    statuses,
    stub,
)

RunState = common_pb2.RunState
Reason = common_pb2.FailureReason
KEYS = {"MLEREDUX_S3_ACCESS_KEY": "test-key", "MLEREDUX_S3_SECRET_KEY": "test-secret"}


class S3Server:
    """moto's S3 server on a fixed loopback port that a test can take down and bring back."""

    def __init__(self) -> None:
        self.port = free_port()
        self._server = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def up(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    def down(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def client(self) -> Minio:
        return Minio(self.endpoint, access_key="test-key", secret_key="test-secret", secure=False)


@pytest.fixture
def s3() -> Iterator[S3Server]:
    server = S3Server()
    server.up()
    try:
        yield server
    finally:
        server.down()


def _runner(tmp_path: Path, s3: S3Server, bucket: str, *extra: str) -> RunnerProcess:
    url = f"s3://{bucket}?endpoint=http://{s3.endpoint}"
    return RunnerProcess(tmp_path / "runner", url, extra_args=list(extra), env=KEYS)


def _stored(events: list[common_pb2.RunEvent]) -> dict[str, common_pb2.ArtifactStored]:
    return {e.artifact_stored.name: e.artifact_stored for e in events if e.HasField("artifact_stored")}


def _object_sha256(s3: S3Server, bucket: str, key: str) -> tuple[str, str]:
    """(sha256 of the object's bytes, the sha256 kept in its metadata)."""
    client = s3.client()
    response = client.get_object(bucket, key)
    try:
        digest = hashlib.sha256(response.read()).hexdigest()
    finally:
        response.close()
        response.release_conn()
    return digest, client.stat_object(bucket, key).metadata.get("x-amz-meta-sha256", "")


async def test_store_down_at_the_end_of_a_run_keeps_the_files_and_uploads_them_when_it_is_back(
    tmp_path: Path, s3: S3Server, dummy_image: str
) -> None:
    runner = _runner(tmp_path, s3, "runs-back")
    runner.start()
    try:
        s3.down()  # before the agent finishes: its uploads meet a dead store
        events: list[common_pb2.RunEvent] = []
        async with runner.channel() as channel:
            call = stub(channel).ExecuteRun(execute_request("store-back", dummy_image, make_public_dir(tmp_path)))

            def store_warning(event: common_pb2.RunEvent) -> bool:
                return event.rollout.kind == "warning" and "artifact store unavailable" in str(
                    struct_to_python(event.rollout.payload)
                )

            assert await collect(call, events, until=store_warning)
            work_dir = runner.work_dir / "runs" / "store-back"
            kept = work_dir / "disk" / "submission" / "submission.csv"  # on the run's disk
            assert kept.is_file(), "the files wait on the runner"
            kept_sha = sha256_file(kept)
            s3.up()
            await collect(call, events)
            # Delivered is not stored by the caller: the run is kept until it releases it.
            assert work_dir.exists()
            release = runner_pb2.ReleaseRunRequest(run_id="store-back")
            assert (await stub(channel).ReleaseRun(release)).released
            for _ in range(100):
                if not work_dir.exists():
                    break
                await asyncio.sleep(0.1)
    finally:
        runner.stop()
    final = statuses(events)[-1]
    assert final.state == RunState.RUN_STATE_GRADING, final.message
    stored = _stored(events)
    assert {"submission/submission.csv", "code/solution.sh", "rollout.jsonl"} <= set(stored)
    assert stored["submission/submission.csv"].sha256 == kept_sha
    for artifact in stored.values():
        assert _object_sha256(s3, "runs-back", artifact.key) == (artifact.sha256, artifact.sha256)
    assert any(
        e.rollout.kind == "warning" and "reachable again" in str(struct_to_python(e.rollout.payload)) for e in events
    )
    assert not work_dir.exists(), "delivered and stored: the work dir is gone"


async def test_a_store_down_past_the_deadline_fails_the_run_and_uploads_later_even_across_a_restart(
    tmp_path: Path, s3: S3Server, dummy_image: str
) -> None:
    runner = _runner(tmp_path, s3, "runs-later", "--store-wait", "1")
    runner.start()
    work_dir = runner.work_dir / "runs" / "store-later"
    try:
        s3.down()
        events: list[common_pb2.RunEvent] = []
        async with runner.channel() as channel:
            await collect(
                stub(channel).ExecuteRun(execute_request("store-later", dummy_image, make_public_dir(tmp_path))),
                events,
            )
        final = statuses(events)[-1]
        assert final.state == RunState.RUN_STATE_FAILED
        assert final.reason == Reason.FAILURE_REASON_STORE_UNAVAILABLE
        assert "kept on the runner and uploaded when the store is back" in final.message
        assert (work_dir / "uploads.json").is_file() and (work_dir / "disk" / "submission" / "submission.csv").is_file()
        # The runner dies with the files still waiting; the next one takes the list up again.
        runner.kill9()
        runner.start()
        s3.up()
        expected = {"runs/store-later/submission/submission.csv", "runs/store-later/code/solution.sh"}
        for _ in range(200):
            names = {o.object_name for o in s3.client().list_objects("runs-later", prefix="runs/", recursive=True)}
            if expected <= names and not (work_dir / "uploads.json").exists():
                break
            await asyncio.sleep(0.1)
        assert expected <= names
        # Every file is in the store; the run's record stays until its caller releases it, then goes.
        async with runner.channel() as channel:
            release = runner_pb2.ReleaseRunRequest(run_id="store-later")
            assert (await stub(channel).ReleaseRun(release)).released
        for _ in range(100):
            if not work_dir.exists():
                break
            await asyncio.sleep(0.1)
        assert not work_dir.exists(), "every file is in the store: the work dir is gone"
        digest, kept = _object_sha256(s3, "runs-later", "runs/store-later/submission/submission.csv")
        assert digest == kept and len(digest) == 64
    finally:
        runner.stop()
    assert runner_containers(RunnerSettings(runner.work_dir, "", "").runner_id) == []


def test_large_files_go_up_as_multipart_uploads_with_their_sha256(tmp_path: Path, s3: S3Server) -> None:
    store = S3Store("multipart", s3.endpoint, access_key="k", secret_key="s", part_bytes=5 << 20)
    store.check()
    source = tmp_path / "model.bin"
    source.write_bytes(os.urandom(11 << 20))
    digest = sha256_file(source)
    store.put_file("runs/r/code/model.bin", source, sha256=digest)
    info = s3.client().stat_object("multipart", "runs/r/code/model.bin")
    assert info.etag is not None and info.etag.endswith("-3"), "three 5 MiB parts"
    assert info.metadata.get("x-amz-meta-sha256") == digest
    assert hashlib.sha256(store.get_bytes("runs/r/code/model.bin")).hexdigest() == digest
