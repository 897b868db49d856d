"""The grader's gRPC servicer: a thin translation over `mleredux.grading.submission`."""

from __future__ import annotations

import asyncio
import json
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import grpc

from mleredux.errors import ArtifactNotFoundError, InvalidArgumentError
from mleredux.grading.report import GradeReport
from mleredux.grading.submission import grade_submission, validate_submission
from mleredux.store import ArtifactStore, open_store
from mleredux.v1 import common_pb2, grader_pb2, grader_pb2_grpc
from services.grader.metrics import GRADING_SECONDS
from services.operations import store_check, timed_rpc
from services.server import Hosted
from services.status import grpc_errors
from technique_tasks.base import get_task
from technique_tasks.grading import grade_technique_task, validate_technique_upload


@dataclass(frozen=True)
class GraderSettings:
    """Where the answers (the prepared data dir) and the submissions (the store) are."""

    data_dir: Path
    store_url: str


def report_to_proto(report: GradeReport) -> common_pb2.GradeReport:
    message = common_pb2.GradeReport(
        competition_id=report.competition_id,
        any_medal=report.any_medal,
        gold_medal=report.gold_medal,
        silver_medal=report.silver_medal,
        bronze_medal=report.bronze_medal,
        above_median=report.above_median,
        submission_exists=report.submission_exists,
        valid_submission=report.valid_submission,
        is_lower_better=report.is_lower_better,
        submission_path=report.submission_path or "",
        invalid_reason=report.invalid_reason or "",
        grader_version=report.grader_version,
        submission_sha256=report.submission_sha256 or "",
        answers_sha256=report.answers_sha256 or "",
        details_json=json.dumps(report.details) if report.details is not None else "",
    )
    for name in ("score", "gold_threshold", "silver_threshold", "bronze_threshold", "median_threshold"):
        value = getattr(report, name)
        if value is not None:
            setattr(message, name, float(value))
    if report.created_at:
        message.created_at.FromDatetime(datetime.fromisoformat(report.created_at))
    profile = report.compute_profile or {}
    for name in ("cpus", "memory_bytes", "gpus", "time_limit_seconds", "pids_limit", "shm_bytes"):
        if name in profile:
            setattr(message.compute_profile, name, type(getattr(message.compute_profile, name))(profile[name]))
    return message


def compute_profile_dict(profile: common_pb2.ComputeProfile) -> dict[str, float | int | str]:
    return {
        "cpus": profile.cpus,
        "memory_bytes": profile.memory_bytes,
        "gpus": profile.gpus,
        "time_limit_seconds": profile.time_limit_seconds,
        "pids_limit": profile.pids_limit,
        "shm_bytes": profile.shm_bytes,
    }


class GraderServicer(grader_pb2_grpc.GraderServiceServicer):
    def __init__(self, settings: GraderSettings, store: ArtifactStore) -> None:
        self.settings = settings
        self.store = store

    @grpc_errors
    async def GradeSubmission(
        self, request: grader_pb2.GradeSubmissionRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.GradeReport:
        if not request.competition_id:
            raise InvalidArgumentError("competition_id is required")
        profile = compute_profile_dict(request.compute_profile)
        with tempfile.TemporaryDirectory(prefix="mleredux-grade-") as tmp:
            path: Path | None = Path(tmp) / "submission.csv"
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
                grade_submission, path, request.competition_id, self.settings.data_dir, compute_profile=profile
            )
        if source == "store_key":
            report.submission_path = request.submission.store_key
        return report_to_proto(report)

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
                validate_submission, request.content, request.competition_id, self.settings.data_dir
            )
        return grader_pb2.ValidateSubmissionResponse(valid=result.valid, message=result.message)

    @grpc_errors
    async def GradeTechniqueTask(
        self, request: grader_pb2.GradeTechniqueTaskRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.GradeReport:
        if not request.task:
            raise InvalidArgumentError("task is required (imbalance, missing, encoding, cv, scaling or leakage)")
        if not request.competition_id:
            raise InvalidArgumentError("competition_id is required")
        technique = get_task(request.task)  # an unknown task fails here, listing the six
        profile = compute_profile_dict(request.compute_profile)
        with tempfile.TemporaryDirectory(prefix="mleredux-technique-") as tmp:
            analysis = await self._materialize(request.analysis, Path(tmp) / technique.analysis_file)
            submission = await self._materialize(request.submission, Path(tmp) / "submission.csv")
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
        return report_to_proto(report)

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
    servicer = GraderServicer(settings, store)
    for rpc in ("GradeSubmission", "ValidateSubmission", "GradeTechniqueTask"):
        setattr(servicer, rpc, timed_rpc(getattr(servicer, rpc), GRADING_SECONDS, rpc))
    return Hosted(
        register=lambda server: grader_pb2_grpc.add_GraderServiceServicer_to_server(servicer, server),
        service_names=[grader_pb2.DESCRIPTOR.services_by_name["GraderService"].full_name],
        dependency_checks=[("store", store_check(store))],
    )
