from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MetricDirection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    METRIC_DIRECTION_UNSPECIFIED: _ClassVar[MetricDirection]
    METRIC_DIRECTION_HIGHER_IS_BETTER: _ClassVar[MetricDirection]
    METRIC_DIRECTION_LOWER_IS_BETTER: _ClassVar[MetricDirection]

class Complexity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPLEXITY_UNSPECIFIED: _ClassVar[Complexity]
    COMPLEXITY_LOW: _ClassVar[Complexity]
    COMPLEXITY_MEDIUM: _ClassVar[Complexity]
    COMPLEXITY_HIGH: _ClassVar[Complexity]

class PreparationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PREPARATION_STATE_UNSPECIFIED: _ClassVar[PreparationState]
    PREPARATION_STATE_PREPARED: _ClassVar[PreparationState]
    PREPARATION_STATE_OFFLINE: _ClassVar[PreparationState]
    PREPARATION_STATE_DOWNLOADED: _ClassVar[PreparationState]
    PREPARATION_STATE_DOWNLOADABLE: _ClassVar[PreparationState]
    PREPARATION_STATE_UNSUPPORTED: _ClassVar[PreparationState]
    PREPARATION_STATE_UNAVAILABLE: _ClassVar[PreparationState]

class PrepareStage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PREPARE_STAGE_UNSPECIFIED: _ClassVar[PrepareStage]
    PREPARE_STAGE_VERIFY: _ClassVar[PrepareStage]
    PREPARE_STAGE_DOWNLOAD: _ClassVar[PrepareStage]
    PREPARE_STAGE_EXTRACT: _ClassVar[PrepareStage]
    PREPARE_STAGE_SPLIT: _ClassVar[PrepareStage]
    PREPARE_STAGE_CHECKSUM: _ClassVar[PrepareStage]
    PREPARE_STAGE_PUBLISH: _ClassVar[PrepareStage]
    PREPARE_STAGE_DONE: _ClassVar[PrepareStage]
METRIC_DIRECTION_UNSPECIFIED: MetricDirection
METRIC_DIRECTION_HIGHER_IS_BETTER: MetricDirection
METRIC_DIRECTION_LOWER_IS_BETTER: MetricDirection
COMPLEXITY_UNSPECIFIED: Complexity
COMPLEXITY_LOW: Complexity
COMPLEXITY_MEDIUM: Complexity
COMPLEXITY_HIGH: Complexity
PREPARATION_STATE_UNSPECIFIED: PreparationState
PREPARATION_STATE_PREPARED: PreparationState
PREPARATION_STATE_OFFLINE: PreparationState
PREPARATION_STATE_DOWNLOADED: PreparationState
PREPARATION_STATE_DOWNLOADABLE: PreparationState
PREPARATION_STATE_UNSUPPORTED: PreparationState
PREPARATION_STATE_UNAVAILABLE: PreparationState
PREPARE_STAGE_UNSPECIFIED: PrepareStage
PREPARE_STAGE_VERIFY: PrepareStage
PREPARE_STAGE_DOWNLOAD: PrepareStage
PREPARE_STAGE_EXTRACT: PrepareStage
PREPARE_STAGE_SPLIT: PrepareStage
PREPARE_STAGE_CHECKSUM: PrepareStage
PREPARE_STAGE_PUBLISH: PrepareStage
PREPARE_STAGE_DONE: PrepareStage

class Competition(_message.Message):
    __slots__ = ("id", "name", "category", "metric", "direction", "complexity", "approx_size_bytes", "supported", "offline", "summary", "sealed")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    COMPLEXITY_FIELD_NUMBER: _ClassVar[int]
    APPROX_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    SEALED_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    category: str
    metric: str
    direction: MetricDirection
    complexity: Complexity
    approx_size_bytes: int
    supported: bool
    offline: bool
    summary: str
    sealed: bool
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., category: _Optional[str] = ..., metric: _Optional[str] = ..., direction: _Optional[_Union[MetricDirection, str]] = ..., complexity: _Optional[_Union[Complexity, str]] = ..., approx_size_bytes: _Optional[int] = ..., supported: _Optional[bool] = ..., offline: _Optional[bool] = ..., summary: _Optional[str] = ..., sealed: _Optional[bool] = ...) -> None: ...

class Preparation(_message.Message):
    __slots__ = ("state", "message")
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    state: PreparationState
    message: str
    def __init__(self, state: _Optional[_Union[PreparationState, str]] = ..., message: _Optional[str] = ...) -> None: ...

class FileChecksum(_message.Message):
    __slots__ = ("path", "sha256", "size_bytes")
    PATH_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    path: str
    sha256: str
    size_bytes: int
    def __init__(self, path: _Optional[str] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class Dataset(_message.Message):
    __slots__ = ("competition_id", "content_hash", "local_public_dir", "store_prefix", "files")
    COMPETITION_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    LOCAL_PUBLIC_DIR_FIELD_NUMBER: _ClassVar[int]
    STORE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    competition_id: str
    content_hash: str
    local_public_dir: str
    store_prefix: str
    files: _containers.RepeatedCompositeFieldContainer[FileChecksum]
    def __init__(self, competition_id: _Optional[str] = ..., content_hash: _Optional[str] = ..., local_public_dir: _Optional[str] = ..., store_prefix: _Optional[str] = ..., files: _Optional[_Iterable[_Union[FileChecksum, _Mapping]]] = ...) -> None: ...
