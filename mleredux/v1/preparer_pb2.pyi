from mleredux.v1 import competitions_pb2 as _competitions_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PreparerServiceListCompetitionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "supported_only")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_ONLY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    supported_only: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., supported_only: _Optional[bool] = ...) -> None: ...

class PreparerServiceListCompetitionsResponse(_message.Message):
    __slots__ = ("competitions", "next_page_token")
    COMPETITIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    competitions: _containers.RepeatedCompositeFieldContainer[_competitions_pb2.Competition]
    next_page_token: str
    def __init__(self, competitions: _Optional[_Iterable[_Union[_competitions_pb2.Competition, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PreparerServiceGetCompetitionRequest(_message.Message):
    __slots__ = ("competition_id",)
    COMPETITION_ID_FIELD_NUMBER: _ClassVar[int]
    competition_id: str
    def __init__(self, competition_id: _Optional[str] = ...) -> None: ...

class PreparerServiceGetCompetitionResponse(_message.Message):
    __slots__ = ("competition", "preparation")
    COMPETITION_FIELD_NUMBER: _ClassVar[int]
    PREPARATION_FIELD_NUMBER: _ClassVar[int]
    competition: _competitions_pb2.Competition
    preparation: _competitions_pb2.Preparation
    def __init__(self, competition: _Optional[_Union[_competitions_pb2.Competition, _Mapping]] = ..., preparation: _Optional[_Union[_competitions_pb2.Preparation, _Mapping]] = ...) -> None: ...

class PreparerServicePrepareCompetitionRequest(_message.Message):
    __slots__ = ("competition_id", "raw_path", "keep_raw", "overwrite_checksums", "task")
    COMPETITION_ID_FIELD_NUMBER: _ClassVar[int]
    RAW_PATH_FIELD_NUMBER: _ClassVar[int]
    KEEP_RAW_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_CHECKSUMS_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    competition_id: str
    raw_path: str
    keep_raw: bool
    overwrite_checksums: bool
    task: str
    def __init__(self, competition_id: _Optional[str] = ..., raw_path: _Optional[str] = ..., keep_raw: _Optional[bool] = ..., overwrite_checksums: _Optional[bool] = ..., task: _Optional[str] = ...) -> None: ...

class PreparerServicePrepareCompetitionResponse(_message.Message):
    __slots__ = ("stage", "message", "files_done", "files_total", "bytes_done", "bytes_total", "dataset", "reused")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FILES_DONE_FIELD_NUMBER: _ClassVar[int]
    FILES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    BYTES_DONE_FIELD_NUMBER: _ClassVar[int]
    BYTES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    REUSED_FIELD_NUMBER: _ClassVar[int]
    stage: _competitions_pb2.PrepareStage
    message: str
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    dataset: _competitions_pb2.Dataset
    reused: bool
    def __init__(self, stage: _Optional[_Union[_competitions_pb2.PrepareStage, str]] = ..., message: _Optional[str] = ..., files_done: _Optional[int] = ..., files_total: _Optional[int] = ..., bytes_done: _Optional[int] = ..., bytes_total: _Optional[int] = ..., dataset: _Optional[_Union[_competitions_pb2.Dataset, _Mapping]] = ..., reused: _Optional[bool] = ...) -> None: ...

class GetDatasetRequest(_message.Message):
    __slots__ = ("competition_id", "task")
    COMPETITION_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    competition_id: str
    task: str
    def __init__(self, competition_id: _Optional[str] = ..., task: _Optional[str] = ...) -> None: ...

class GetDatasetResponse(_message.Message):
    __slots__ = ("dataset",)
    DATASET_FIELD_NUMBER: _ClassVar[int]
    dataset: _competitions_pb2.Dataset
    def __init__(self, dataset: _Optional[_Union[_competitions_pb2.Dataset, _Mapping]] = ...) -> None: ...
