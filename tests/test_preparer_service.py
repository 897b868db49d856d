"""The preparer as its own process, publishing to a real S3-protocol server on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from mleredux.store import S3Store
from mleredux.v1 import competitions_pb2, preparer_pb2, preparer_pb2_grpc
from tests.lite.gen_spooky_author_identification import write_raw as write_spooky_raw

Stage = competitions_pb2.PrepareStage


@pytest.fixture(scope="module")
def preparer(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data_dir = tmp_path_factory.mktemp("data")
    env = {**os.environ, "MLEREDUX_S3_ACCESS_KEY": "k", "MLEREDUX_S3_SECRET_KEY": "s", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mleredux",
            "serve",
            "preparer",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            str(data_dir),
            "--store",
            f"s3://prepared?endpoint=http://{s3_endpoint}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    try:
        assert line.startswith("listening on "), line + process.stdout.read()
        yield line.split()[-1], data_dir
    finally:
        process.terminate()
        process.wait(timeout=30)


async def _prepare(address: str, **fields: str) -> list[preparer_pb2.PreparerServicePrepareCompetitionResponse]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = preparer_pb2_grpc.PreparerServiceStub(channel)
        return [
            m async for m in stub.PrepareCompetition(preparer_pb2.PreparerServicePrepareCompetitionRequest(**fields))
        ]


async def test_prepare_streams_progress_and_publishes_by_hash(preparer, s3_endpoint, tmp_path) -> None:  # type: ignore[no-untyped-def]
    address, _ = preparer
    raw = tmp_path / "raw"
    raw.mkdir()
    write_spooky_raw(raw, np.random.default_rng(3))
    archive = shutil.make_archive(str(tmp_path / "spooky"), "zip", raw)
    messages = await _prepare(address, competition_id="spooky-author-identification", raw_path=archive)
    stages = [m.stage for m in messages]
    assert stages[0] == Stage.PREPARE_STAGE_EXTRACT and stages[-1] == Stage.PREPARE_STAGE_DONE
    assert Stage.PREPARE_STAGE_CHECKSUM in stages and Stage.PREPARE_STAGE_PUBLISH in stages
    checksums = [m for m in messages if m.stage == Stage.PREPARE_STAGE_CHECKSUM]
    assert checksums[-1].files_done == checksums[-1].files_total and checksums[-1].bytes_total > 0
    dataset = messages[-1].dataset
    assert dataset.store_prefix == f"datasets/spooky-author-identification/{dataset.content_hash}/"
    store = S3Store("prepared", s3_endpoint, access_key="k", secret_key="s")
    keys = {o.key.removeprefix(dataset.store_prefix) for o in store.list(dataset.store_prefix)}
    assert keys == {
        "manifest.json",
        "public/train.csv",
        "public/test.csv",
        "public/sample_submission.csv",
        "public/description.md",
    }

    async with grpc.aio.insecure_channel(address) as channel:
        stub = preparer_pb2_grpc.PreparerServiceStub(channel)
        answer = await stub.GetDataset(preparer_pb2.GetDatasetRequest(competition_id="spooky-author-identification"))
    fetched = answer.dataset
    assert fetched.content_hash == dataset.content_hash and fetched.store_prefix == dataset.store_prefix

    again = await _prepare(address, competition_id="spooky-author-identification")
    assert again[-1].reused and again[-1].dataset.content_hash == dataset.content_hash


@pytest.mark.parametrize(
    "fields,code,text",
    [
        ({"competition_id": "no-such"}, grpc.StatusCode.NOT_FOUND, "unknown competition"),
        ({}, grpc.StatusCode.INVALID_ARGUMENT, "competition_id is required"),
        (
            {"competition_id": "spooky-author-identification", "raw_path": "/nonexistent.zip"},
            grpc.StatusCode.FAILED_PRECONDITION,
            "raw data not found",
        ),
    ],
)
async def test_prepare_errors_carry_status_and_message(preparer, fields, code, text) -> None:  # type: ignore[no-untyped-def]
    address, data_dir = preparer
    if fields.get("raw_path"):
        shutil.rmtree(data_dir / "spooky-author-identification", ignore_errors=True)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _prepare(address, **fields)
    assert caught.value.code() == code and text in (caught.value.details() or "")
