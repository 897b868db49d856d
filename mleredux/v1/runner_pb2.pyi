from mleredux.v1 import common_pb2 as _common_pb2
from mleredux.v1 import competitions_pb2 as _competitions_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExecuteRunRequest(_message.Message):
    __slots__ = ("run_id", "image", "competition_id", "dataset", "compute", "first_seq", "task", "instructions", "env", "model_access", "command", "agent_args_json")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    COMPETITION_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEQ_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    MODEL_ACCESS_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    AGENT_ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    image: str
    competition_id: str
    dataset: _competitions_pb2.Dataset
    compute: _common_pb2.ComputeProfile
    first_seq: int
    task: str
    instructions: str
    env: _containers.ScalarMap[str, str]
    model_access: _common_pb2.ModelAccess
    command: _containers.RepeatedScalarFieldContainer[str]
    agent_args_json: str
    def __init__(self, run_id: _Optional[str] = ..., image: _Optional[str] = ..., competition_id: _Optional[str] = ..., dataset: _Optional[_Union[_competitions_pb2.Dataset, _Mapping]] = ..., compute: _Optional[_Union[_common_pb2.ComputeProfile, _Mapping]] = ..., first_seq: _Optional[int] = ..., task: _Optional[str] = ..., instructions: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ..., model_access: _Optional[_Union[_common_pb2.ModelAccess, _Mapping]] = ..., command: _Optional[_Iterable[str]] = ..., agent_args_json: _Optional[str] = ...) -> None: ...

class ExecuteRunResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_common_pb2.RunEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[_common_pb2.RunEvent, _Mapping]]] = ...) -> None: ...

class AttachRunRequest(_message.Message):
    __slots__ = ("run_id", "after_seq")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    after_seq: int
    def __init__(self, run_id: _Optional[str] = ..., after_seq: _Optional[int] = ...) -> None: ...

class AttachRunResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_common_pb2.RunEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[_common_pb2.RunEvent, _Mapping]]] = ...) -> None: ...

class RunnerServiceCancelRunRequest(_message.Message):
    __slots__ = ("run_id", "reason")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    reason: str
    def __init__(self, run_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RunnerServiceCancelRunResponse(_message.Message):
    __slots__ = ("found",)
    FOUND_FIELD_NUMBER: _ClassVar[int]
    found: bool
    def __init__(self, found: _Optional[bool] = ...) -> None: ...

class ReleaseRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class ReleaseRunResponse(_message.Message):
    __slots__ = ("released",)
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    released: bool
    def __init__(self, released: _Optional[bool] = ...) -> None: ...

class GetCapacityRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCapacityResponse(_message.Message):
    __slots__ = ("cpus_total", "cpus_used", "memory_bytes_total", "memory_bytes_used", "gpus_total", "gpus_used", "running", "max_concurrent")
    CPUS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    CPUS_USED_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_USED_FIELD_NUMBER: _ClassVar[int]
    GPUS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    GPUS_USED_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_FIELD_NUMBER: _ClassVar[int]
    cpus_total: float
    cpus_used: float
    memory_bytes_total: int
    memory_bytes_used: int
    gpus_total: int
    gpus_used: int
    running: int
    max_concurrent: int
    def __init__(self, cpus_total: _Optional[float] = ..., cpus_used: _Optional[float] = ..., memory_bytes_total: _Optional[int] = ..., memory_bytes_used: _Optional[int] = ..., gpus_total: _Optional[int] = ..., gpus_used: _Optional[int] = ..., running: _Optional[int] = ..., max_concurrent: _Optional[int] = ...) -> None: ...

class BuildAgentRequest(_message.Message):
    __slots__ = ("context_key", "git_url", "git_ref", "timeout_seconds", "agent")
    CONTEXT_KEY_FIELD_NUMBER: _ClassVar[int]
    GIT_URL_FIELD_NUMBER: _ClassVar[int]
    GIT_REF_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    context_key: str
    git_url: str
    git_ref: str
    timeout_seconds: int
    agent: str
    def __init__(self, context_key: _Optional[str] = ..., git_url: _Optional[str] = ..., git_ref: _Optional[str] = ..., timeout_seconds: _Optional[int] = ..., agent: _Optional[str] = ...) -> None: ...

class BuildAgentResult(_message.Message):
    __slots__ = ("image", "digest", "size_bytes", "git_commit", "manifest", "built")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    GIT_COMMIT_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    BUILT_FIELD_NUMBER: _ClassVar[int]
    image: str
    digest: str
    size_bytes: int
    git_commit: str
    manifest: _common_pb2.AgentManifest
    built: bool
    def __init__(self, image: _Optional[str] = ..., digest: _Optional[str] = ..., size_bytes: _Optional[int] = ..., git_commit: _Optional[str] = ..., manifest: _Optional[_Union[_common_pb2.AgentManifest, _Mapping]] = ..., built: _Optional[bool] = ...) -> None: ...

class BuildAgentResponse(_message.Message):
    __slots__ = ("line", "result")
    LINE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    line: str
    result: BuildAgentResult
    def __init__(self, line: _Optional[str] = ..., result: _Optional[_Union[BuildAgentResult, _Mapping]] = ...) -> None: ...
