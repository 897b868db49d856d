"""The preparer's gRPC servicer: the registry and prepared datasets, over `mleredux.preparation.prepare`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc

from mleredux.competitions import get_competition, list_competitions
from mleredux.competitions.base import CompetitionInfo
from mleredux.errors import InvalidArgumentError
from mleredux.preparation.checks import preparability
from mleredux.preparation.prepare import (
    PreparedDataset,
    PrepareProgress,
    dataset_prefix,
    load_prepared,
    prepare_competition,
    publish_dataset,
)
from mleredux.store import ArtifactStore, open_store
from mleredux.v1 import competitions_pb2, preparer_pb2, preparer_pb2_grpc
from services.operations import store_check
from services.server import Hosted
from services.status import grpc_errors
from technique_tasks.base import get_task
from technique_tasks.preparation import load_technique_task, prepare_technique_task

_STAGES = {
    "verify": competitions_pb2.PrepareStage.PREPARE_STAGE_VERIFY,
    "download": competitions_pb2.PrepareStage.PREPARE_STAGE_DOWNLOAD,
    "extract": competitions_pb2.PrepareStage.PREPARE_STAGE_EXTRACT,
    "split": competitions_pb2.PrepareStage.PREPARE_STAGE_SPLIT,
    "checksum": competitions_pb2.PrepareStage.PREPARE_STAGE_CHECKSUM,
    "publish": competitions_pb2.PrepareStage.PREPARE_STAGE_PUBLISH,
    "done": competitions_pb2.PrepareStage.PREPARE_STAGE_DONE,
}

_PREPARATION_STATES = {
    "prepared": competitions_pb2.PreparationState.PREPARATION_STATE_PREPARED,
    "offline": competitions_pb2.PreparationState.PREPARATION_STATE_OFFLINE,
    "downloaded": competitions_pb2.PreparationState.PREPARATION_STATE_DOWNLOADED,
    "downloadable": competitions_pb2.PreparationState.PREPARATION_STATE_DOWNLOADABLE,
    "unsupported": competitions_pb2.PreparationState.PREPARATION_STATE_UNSUPPORTED,
    "unavailable": competitions_pb2.PreparationState.PREPARATION_STATE_UNAVAILABLE,
}

_COMPLEXITY = {
    "low": competitions_pb2.Complexity.COMPLEXITY_LOW,
    "medium": competitions_pb2.Complexity.COMPLEXITY_MEDIUM,
    "high": competitions_pb2.Complexity.COMPLEXITY_HIGH,
}


@dataclass(frozen=True)
class PreparerSettings:
    """Where prepared data lives and where datasets are published."""

    data_dir: Path
    store_url: str


def competition_to_proto(info: CompetitionInfo) -> competitions_pb2.Competition:
    return competitions_pb2.Competition(
        id=info.id,
        name=info.name,
        category=info.category,
        metric=info.metric,
        direction=(
            competitions_pb2.MetricDirection.METRIC_DIRECTION_LOWER_IS_BETTER
            if info.is_lower_better
            else competitions_pb2.MetricDirection.METRIC_DIRECTION_HIGHER_IS_BETTER
        ),
        complexity=_COMPLEXITY.get(info.complexity, competitions_pb2.Complexity.COMPLEXITY_UNSPECIFIED),
        approx_size_bytes=info.approx_size_bytes,
        supported=info.supported,
        offline=info.offline,
        summary=info.summary,
        sealed=info.sealed,
    )


def dataset_to_proto(dataset: PreparedDataset, store_prefix: str) -> competitions_pb2.Dataset:
    return competitions_pb2.Dataset(
        competition_id=dataset.competition_id,
        content_hash=dataset.content_hash,
        local_public_dir=str(dataset.public_dir),
        store_prefix=store_prefix,
        files=[competitions_pb2.FileChecksum(path=f.path, sha256=f.sha256, size_bytes=f.size) for f in dataset.files],
    )


def _progress_message(progress: PrepareProgress) -> preparer_pb2.PreparerServicePrepareCompetitionResponse:
    return preparer_pb2.PreparerServicePrepareCompetitionResponse(
        stage=_STAGES.get(progress.stage, competitions_pb2.PrepareStage.PREPARE_STAGE_UNSPECIFIED),
        message=progress.message,
        files_done=progress.files_done,
        files_total=progress.files_total,
        bytes_done=progress.bytes_done,
        bytes_total=progress.bytes_total,
    )


class PreparerServicer(preparer_pb2_grpc.PreparerServiceServicer):
    def __init__(self, settings: PreparerSettings, store: ArtifactStore) -> None:
        self.settings = settings
        self.store = store
        # One preparation per competition at a time; a second caller waits and then reuses it.
        self._locks: dict[str, asyncio.Lock] = {}

    @grpc_errors
    async def ListCompetitions(
        self, request: preparer_pb2.PreparerServiceListCompetitionsRequest, context: grpc.aio.ServicerContext
    ) -> preparer_pb2.PreparerServiceListCompetitionsResponse:
        if request.page_size < 0:
            raise InvalidArgumentError("page_size must not be negative")
        infos = sorted(list_competitions(), key=lambda i: i.id)
        if request.supported_only:
            infos = [i for i in infos if i.supported]
        if request.page_token:
            infos = [i for i in infos if i.id > request.page_token]
        size = request.page_size or 100
        page = infos[:size]
        token = page[-1].id if len(infos) > size else ""
        return preparer_pb2.PreparerServiceListCompetitionsResponse(
            competitions=[competition_to_proto(i) for i in page], next_page_token=token
        )

    @grpc_errors
    async def GetCompetition(
        self, request: preparer_pb2.PreparerServiceGetCompetitionRequest, context: grpc.aio.ServicerContext
    ) -> preparer_pb2.PreparerServiceGetCompetitionResponse:
        if not request.competition_id:
            raise InvalidArgumentError("competition_id is required")
        competition = competition_to_proto(get_competition(request.competition_id).info)
        # A few stat calls and a credentials lookup: cheap, but off the event loop all the same.
        found = await asyncio.to_thread(preparability, request.competition_id, self.settings.data_dir)
        preparation = competitions_pb2.Preparation(state=_PREPARATION_STATES[found.state], message=found.message)
        return preparer_pb2.PreparerServiceGetCompetitionResponse(competition=competition, preparation=preparation)

    @grpc_errors
    async def PrepareCompetition(
        self, request: preparer_pb2.PreparerServicePrepareCompetitionRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[preparer_pb2.PreparerServicePrepareCompetitionResponse]:
        if not request.competition_id:
            raise InvalidArgumentError("competition_id is required")
        get_competition(request.competition_id)  # unknown ids fail before any work
        loop = asyncio.get_running_loop()
        updates: asyncio.Queue[PrepareProgress] = asyncio.Queue()

        def report(progress: PrepareProgress) -> None:
            loop.call_soon_threadsafe(updates.put_nowait, progress)

        if request.task:
            get_task(request.task)  # an unknown task fails before any work, listing the six

        def prepare() -> PreparedDataset:
            if request.task:
                # The source competition is prepared first when needed, then the task derived from it.
                return prepare_technique_task(
                    request.task, request.competition_id, self.settings.data_dir, progress=report
                ).as_dataset()
            return prepare_competition(
                request.competition_id,
                self.settings.data_dir,
                raw=Path(request.raw_path) if request.raw_path else None,
                progress=report,
                keep_raw=request.keep_raw,
                overwrite_checksums=request.overwrite_checksums,
            )

        # By competition: every technique task derived from it prepares the competition first.
        lock = self._locks.setdefault(request.competition_id, asyncio.Lock())
        async with lock:
            work = asyncio.ensure_future(asyncio.to_thread(prepare))
            try:
                while not work.done() or not updates.empty():
                    getter = asyncio.ensure_future(updates.get())
                    await asyncio.wait({getter, work}, return_when=asyncio.FIRST_COMPLETED)
                    if getter.done():
                        update = getter.result()
                        if update.stage != "done":
                            yield _progress_message(update)
                    else:
                        getter.cancel()
                dataset = work.result()
            finally:
                # The thread cannot be interrupted; wait so its temp files are cleaned before we go.
                if not work.done():
                    await asyncio.wait({work})
            yield preparer_pb2.PreparerServicePrepareCompetitionResponse(
                stage=competitions_pb2.PrepareStage.PREPARE_STAGE_PUBLISH, message=f"publishing to {self.store.url}"
            )
            prefix = await asyncio.to_thread(publish_dataset, dataset, self.store)
        yield preparer_pb2.PreparerServicePrepareCompetitionResponse(
            stage=competitions_pb2.PrepareStage.PREPARE_STAGE_DONE,
            message="reused the existing preparation" if dataset.reused else "prepared",
            dataset=dataset_to_proto(dataset, prefix),
            reused=dataset.reused,
        )

    @grpc_errors
    async def GetDataset(
        self, request: preparer_pb2.GetDatasetRequest, context: grpc.aio.ServicerContext
    ) -> preparer_pb2.GetDatasetResponse:
        if not request.competition_id:
            raise InvalidArgumentError("competition_id is required")
        if request.task:
            technique = await asyncio.to_thread(
                load_technique_task, request.task, request.competition_id, self.settings.data_dir
            )
            dataset = technique.as_dataset()
        else:
            dataset = await asyncio.to_thread(load_prepared, request.competition_id, self.settings.data_dir)
        return preparer_pb2.GetDatasetResponse(dataset=dataset_to_proto(dataset, dataset_prefix(dataset)))


def hosted_preparer(settings: PreparerSettings, *, max_request_bytes: int | None = None) -> Hosted:
    store = open_store(settings.store_url)
    store.check()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    servicer = PreparerServicer(settings, store)
    hosted = Hosted(
        register=lambda server: preparer_pb2_grpc.add_PreparerServiceServicer_to_server(servicer, server),
        service_names=[preparer_pb2.DESCRIPTOR.services_by_name["PreparerService"].full_name],
        dependency_checks=[("store", store_check(store))],
    )
    if max_request_bytes:
        hosted.max_request_bytes = max_request_bytes
    return hosted
