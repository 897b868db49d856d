"""The grader's gRPC servicer: a thin translation over `mleredux.grading.submission`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from mleredux.errors import ArtifactNotFoundError, InvalidArgumentError
from mleredux.grading.limits import SubmissionLimits
from mleredux.grading.report import compute_profile_dict, report_to_proto
from mleredux.grading.submission import grade_submission, validate_submission
from mleredux.store import ArtifactStore, open_store
from mleredux.v1 import grader_pb2, grader_pb2_grpc
from services.grader.metrics import GRADING_SECONDS
from services.operations import store_check, timed_rpc
from services.scratch import ServiceScratch
from services.server import Hosted
from services.status import grpc_errors
from technique_tasks.base import get_task
from technique_tasks.grading import grade_technique_task, validate_technique_upload

#: A submission sent inline (validation bodies, GradeSubmission content) plus its request's fields.
MAX_UPLOAD_REQUEST_BYTES = 256 * 1024 * 1024
#: The most a streamed validation may send in all (the runner's socket caps bodies lower, 100 MiB by
#: default); past it the stream is refused, having spooled no more than this to disk.
MAX_STREAMED_VALIDATION_BYTES = 512 << 20


@dataclass(frozen=True)
class GraderSettings:
    """Where the answers (the prepared data dir) and the submissions (the store) are, and what one may spend."""

    data_dir: Path
    store_url: str
    #: The largest gRPC request accepted: every grader RPC may carry a submission inline (the
    #: runner forwards an agent's validation body), so this is the upload cap, not the few MB of
    #: the other services.
    max_request_bytes: int = MAX_UPLOAD_REQUEST_BYTES
    #: Rows, bytes and columns a submission may have, derived from the answers (docs/limits.md, "Grader").
    submission_limits: SubmissionLimits = field(default_factory=SubmissionLimits)
    max_streamed_validation_bytes: int = MAX_STREAMED_VALIDATION_BYTES


class GraderServicer(grader_pb2_grpc.GraderServiceServicer):
    def __init__(self, settings: GraderSettings, store: ArtifactStore, scratch: ServiceScratch) -> None:
        self.settings = settings
        self.store = store
        self.scratch = scratch

    @grpc_errors
    async def GradeSubmission(
        self, request: grader_pb2.GradeSubmissionRequest, context: grpc.aio.ServicerContext
    ) -> grader_pb2.GradeSubmissionResponse:
        if not request.competition_id:
            raise InvalidArgumentError("competition_id is required")
        profile = compute_profile_dict(request.compute_profile)
        with self.scratch.folder("grade-") as tmp:
            path: Path | None = tmp / "submission.csv"
            assert path is not None
            source = request.submission.WhichOneof("source")
            if source == "store_key":
                try:
                    await asyncio.to_thread(self.store.get_file, request.submission.store_key, path)
                except ArtifactNotFoundError:
                    path = None  # graded as "no submission"
            elif source == "content":
                path.write_bytes(request.submission.content)
            else:
                path = None
            report = await asyncio.to_thread(
                grade_submission,
                path,
                request.competition_id,
                self.settings.data_dir,
                compute_profile=profile,
                limits=self.settings.submission_limits,
            )
        if source == "store_key":
            report.submission_path = request.submission.store_key
        return grader_pb2.GradeSubmissionResponse(report=report_to_proto(report))

    @grpc_errors
    async def ValidateSubmission(
        self, request: grader_pb2.ValidateSubmissionRequest, context: grpc.aio.ServicerContext
    ) -> grader_pb2.ValidateSubmissionResponse:
        if not request.competition_id:
            raise InvalidArgumentError("competition_id is required")
        if request.task:
            result = await asyncio.to_thread(
                validate_technique_upload, request.task, request.competition_id, self.settings.data_dir, request.content
            )
        else:
            result = await asyncio.to_thread(
                validate_submission,
                request.content,
                request.competition_id,
                self.settings.data_dir,
                limits=self.settings.submission_limits,
            )
        return grader_pb2.ValidateSubmissionResponse(valid=result.valid, message=result.message)

    @grpc_errors
    async def ValidateSubmissionStream(
        self,
        request_iterator: AsyncIterator[grader_pb2.ValidateSubmissionStreamRequest],
        context: grpc.aio.ServicerContext,
    ) -> grader_pb2.ValidateSubmissionStreamResponse:
        cap = self.settings.max_streamed_validation_bytes
        with self.scratch.folder("validate-") as tmp:
            path = tmp / "upload"
            first: grader_pb2.ValidateSubmissionStreamRequest | None = None
            size = 0
            # Chunks are spooled to disk as they come: no message, and no list of them, holds the file.
            with path.open("wb") as out:
                async for chunk in request_iterator:
                    if first is None:
                        first = chunk
                    size += len(chunk.content)
                    if size > cap:
                        raise InvalidArgumentError(f"submission too large: more than {cap} bytes")
                    out.write(chunk.content)
            if first is None or not first.competition_id:
                raise InvalidArgumentError("competition_id is required (in the first message)")
            if first.task:
                content = await asyncio.to_thread(path.read_bytes)
                result = await asyncio.to_thread(
                    validate_technique_upload, first.task, first.competition_id, self.settings.data_dir, content
                )
            else:
                # The spooled file itself: its bounds are checked from disk, so a file past them is
                # never read into memory.
                result = await asyncio.to_thread(
                    validate_submission,
                    path,
                    first.competition_id,
                    self.settings.data_dir,
                    limits=self.settings.submission_limits,
                )
        return grader_pb2.ValidateSubmissionStreamResponse(valid=result.valid, message=result.message)

    @grpc_errors
    async def GradeTechniqueTask(
        self, request: grader_pb2.GradeTechniqueTaskRequest, context: grpc.aio.ServicerContext
    ) -> grader_pb2.GradeTechniqueTaskResponse:
        if not request.task:
            raise InvalidArgumentError("task is required (imbalance, missing, encoding, cv, scaling or leakage)")
        if not request.competition_id:
            raise InvalidArgumentError("competition_id is required")
        technique = get_task(request.task)  # an unknown task fails here, listing the six
        profile = compute_profile_dict(request.compute_profile)
        with self.scratch.folder("technique-") as tmp:
            analysis = await self._materialize(request.analysis, tmp / technique.analysis_file)
            submission = await self._materialize(request.submission, tmp / "submission.csv")
            report = await asyncio.to_thread(
                grade_technique_task,
                request.task,
                request.competition_id,
                self.settings.data_dir,
                analysis,
                submission,
                compute_profile=profile,
            )
        source = request.analysis.WhichOneof("source")
        if source == "store_key":
            report.submission_path = request.analysis.store_key
        elif source == "content":
            report.submission_path = technique.analysis_file  # the temp copy is gone; name what was graded
        return grader_pb2.GradeTechniqueTaskResponse(report=report_to_proto(report))

    async def _materialize(self, source: grader_pb2.SubmissionSource, path: Path) -> Path | None:
        """The file a source names, written at `path`; None when unset or not in the store (graded as absent)."""
        kind = source.WhichOneof("source")
        if kind == "store_key":
            try:
                await asyncio.to_thread(self.store.get_file, source.store_key, path)
            except ArtifactNotFoundError:
                return None
            return path
        if kind == "content":
            await asyncio.to_thread(path.write_bytes, source.content)
            return path
        return None


def hosted_grader(settings: GraderSettings) -> Hosted:
    store = open_store(settings.store_url)
    store.check()
    scratch = ServiceScratch("grader")  # in the system's temp dir
    scratch.claim()  # a grader killed mid-grade left its spooled submissions behind
    servicer = GraderServicer(settings, store, scratch)
    for rpc in ("GradeSubmission", "ValidateSubmission", "GradeTechniqueTask"):
        setattr(servicer, rpc, timed_rpc(getattr(servicer, rpc), GRADING_SECONDS, rpc))
    return Hosted(
        register=lambda server: grader_pb2_grpc.add_GraderServiceServicer_to_server(servicer, server),
        service_names=[grader_pb2.DESCRIPTOR.services_by_name["GraderService"].full_name],
        max_request_bytes=settings.max_request_bytes,
        dependency_checks=[("store", store_check(store))],
        on_stopped=[scratch.release],
    )
