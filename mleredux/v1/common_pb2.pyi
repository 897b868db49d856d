import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RunState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_STATE_UNSPECIFIED: _ClassVar[RunState]
    RUN_STATE_QUEUED: _ClassVar[RunState]
    RUN_STATE_PREPARING: _ClassVar[RunState]
    RUN_STATE_RUNNING: _ClassVar[RunState]
    RUN_STATE_GRADING: _ClassVar[RunState]
    RUN_STATE_SUCCEEDED: _ClassVar[RunState]
    RUN_STATE_FAILED: _ClassVar[RunState]
    RUN_STATE_CANCELLED: _ClassVar[RunState]
    RUN_STATE_TIMED_OUT: _ClassVar[RunState]
    RUN_STATE_LOST: _ClassVar[RunState]

class FailureReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FAILURE_REASON_UNSPECIFIED: _ClassVar[FailureReason]
    FAILURE_REASON_NO_SUBMISSION: _ClassVar[FailureReason]
    FAILURE_REASON_INVALID_SUBMISSION: _ClassVar[FailureReason]
    FAILURE_REASON_OUT_OF_MEMORY: _ClassVar[FailureReason]
    FAILURE_REASON_TIME_LIMIT: _ClassVar[FailureReason]
    FAILURE_REASON_AGENT_ERROR: _ClassVar[FailureReason]
    FAILURE_REASON_IMAGE_MISSING: _ClassVar[FailureReason]
    FAILURE_REASON_STORE_UNAVAILABLE: _ClassVar[FailureReason]
    FAILURE_REASON_RUNNER_LOST: _ClassVar[FailureReason]
    FAILURE_REASON_PREPARE_FAILED: _ClassVar[FailureReason]
    FAILURE_REASON_GRADER_ERROR: _ClassVar[FailureReason]
    FAILURE_REASON_INTERNAL: _ClassVar[FailureReason]
    FAILURE_REASON_CANCELLED: _ClassVar[FailureReason]

class LogStream(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOG_STREAM_UNSPECIFIED: _ClassVar[LogStream]
    LOG_STREAM_STDOUT: _ClassVar[LogStream]
    LOG_STREAM_STDERR: _ClassVar[LogStream]
RUN_STATE_UNSPECIFIED: RunState
RUN_STATE_QUEUED: RunState
RUN_STATE_PREPARING: RunState
RUN_STATE_RUNNING: RunState
RUN_STATE_GRADING: RunState
RUN_STATE_SUCCEEDED: RunState
RUN_STATE_FAILED: RunState
RUN_STATE_CANCELLED: RunState
RUN_STATE_TIMED_OUT: RunState
RUN_STATE_LOST: RunState
FAILURE_REASON_UNSPECIFIED: FailureReason
FAILURE_REASON_NO_SUBMISSION: FailureReason
FAILURE_REASON_INVALID_SUBMISSION: FailureReason
FAILURE_REASON_OUT_OF_MEMORY: FailureReason
FAILURE_REASON_TIME_LIMIT: FailureReason
FAILURE_REASON_AGENT_ERROR: FailureReason
FAILURE_REASON_IMAGE_MISSING: FailureReason
FAILURE_REASON_STORE_UNAVAILABLE: FailureReason
FAILURE_REASON_RUNNER_LOST: FailureReason
FAILURE_REASON_PREPARE_FAILED: FailureReason
FAILURE_REASON_GRADER_ERROR: FailureReason
FAILURE_REASON_INTERNAL: FailureReason
FAILURE_REASON_CANCELLED: FailureReason
LOG_STREAM_UNSPECIFIED: LogStream
LOG_STREAM_STDOUT: LogStream
LOG_STREAM_STDERR: LogStream

class ComputeProfile(_message.Message):
    __slots__ = ("cpus", "memory_bytes", "gpus", "time_limit_seconds", "pids_limit", "shm_bytes", "disk_bytes", "gpu_model")
    CPUS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    TIME_LIMIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PIDS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    SHM_BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_BYTES_FIELD_NUMBER: _ClassVar[int]
    GPU_MODEL_FIELD_NUMBER: _ClassVar[int]
    cpus: float
    memory_bytes: int
    gpus: int
    time_limit_seconds: int
    pids_limit: int
    shm_bytes: int
    disk_bytes: int
    gpu_model: str
    def __init__(self, cpus: _Optional[float] = ..., memory_bytes: _Optional[int] = ..., gpus: _Optional[int] = ..., time_limit_seconds: _Optional[int] = ..., pids_limit: _Optional[int] = ..., shm_bytes: _Optional[int] = ..., disk_bytes: _Optional[int] = ..., gpu_model: _Optional[str] = ...) -> None: ...

class LogLine(_message.Message):
    __slots__ = ("stream", "text", "partial")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_FIELD_NUMBER: _ClassVar[int]
    stream: LogStream
    text: str
    partial: bool
    def __init__(self, stream: _Optional[_Union[LogStream, str]] = ..., text: _Optional[str] = ..., partial: _Optional[bool] = ...) -> None: ...

class RolloutEvent(_message.Message):
    __slots__ = ("step", "kind", "payload")
    STEP_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    step: int
    kind: str
    payload: _struct_pb2.Struct
    def __init__(self, step: _Optional[int] = ..., kind: _Optional[str] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class StatusChange(_message.Message):
    __slots__ = ("state", "reason", "message", "exit_code", "compute", "model_usage")
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_FIELD_NUMBER: _ClassVar[int]
    MODEL_USAGE_FIELD_NUMBER: _ClassVar[int]
    state: RunState
    reason: FailureReason
    message: str
    exit_code: int
    compute: ComputeProfile
    model_usage: ModelUsage
    def __init__(self, state: _Optional[_Union[RunState, str]] = ..., reason: _Optional[_Union[FailureReason, str]] = ..., message: _Optional[str] = ..., exit_code: _Optional[int] = ..., compute: _Optional[_Union[ComputeProfile, _Mapping]] = ..., model_usage: _Optional[_Union[ModelUsage, _Mapping]] = ...) -> None: ...

class ArtifactStored(_message.Message):
    __slots__ = ("name", "key", "size_bytes", "sha256")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    name: str
    key: str
    size_bytes: int
    sha256: str
    def __init__(self, name: _Optional[str] = ..., key: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class GradeReport(_message.Message):
    __slots__ = ("competition_id", "score", "gold_threshold", "silver_threshold", "bronze_threshold", "median_threshold", "any_medal", "gold_medal", "silver_medal", "bronze_medal", "above_median", "submission_exists", "valid_submission", "is_lower_better", "created_at", "submission_path", "invalid_reason", "grader_version", "submission_sha256", "answers_sha256", "compute_profile", "details", "technique_task", "score_unrounded", "model_usage", "agent", "agent_image", "agent_digest", "agent_commit")
    COMPETITION_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    GOLD_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    SILVER_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    BRONZE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ANY_MEDAL_FIELD_NUMBER: _ClassVar[int]
    GOLD_MEDAL_FIELD_NUMBER: _ClassVar[int]
    SILVER_MEDAL_FIELD_NUMBER: _ClassVar[int]
    BRONZE_MEDAL_FIELD_NUMBER: _ClassVar[int]
    ABOVE_MEDIAN_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_EXISTS_FIELD_NUMBER: _ClassVar[int]
    VALID_SUBMISSION_FIELD_NUMBER: _ClassVar[int]
    IS_LOWER_BETTER_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_PATH_FIELD_NUMBER: _ClassVar[int]
    INVALID_REASON_FIELD_NUMBER: _ClassVar[int]
    GRADER_VERSION_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_SHA256_FIELD_NUMBER: _ClassVar[int]
    ANSWERS_SHA256_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_PROFILE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    TECHNIQUE_TASK_FIELD_NUMBER: _ClassVar[int]
    SCORE_UNROUNDED_FIELD_NUMBER: _ClassVar[int]
    MODEL_USAGE_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    AGENT_IMAGE_FIELD_NUMBER: _ClassVar[int]
    AGENT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    AGENT_COMMIT_FIELD_NUMBER: _ClassVar[int]
    competition_id: str
    score: float
    gold_threshold: float
    silver_threshold: float
    bronze_threshold: float
    median_threshold: float
    any_medal: bool
    gold_medal: bool
    silver_medal: bool
    bronze_medal: bool
    above_median: bool
    submission_exists: bool
    valid_submission: bool
    is_lower_better: bool
    created_at: _timestamp_pb2.Timestamp
    submission_path: str
    invalid_reason: str
    grader_version: str
    submission_sha256: str
    answers_sha256: str
    compute_profile: ComputeProfile
    details: _struct_pb2.Struct
    technique_task: str
    score_unrounded: float
    model_usage: ModelUsage
    agent: str
    agent_image: str
    agent_digest: str
    agent_commit: str
    def __init__(self, competition_id: _Optional[str] = ..., score: _Optional[float] = ..., gold_threshold: _Optional[float] = ..., silver_threshold: _Optional[float] = ..., bronze_threshold: _Optional[float] = ..., median_threshold: _Optional[float] = ..., any_medal: _Optional[bool] = ..., gold_medal: _Optional[bool] = ..., silver_medal: _Optional[bool] = ..., bronze_medal: _Optional[bool] = ..., above_median: _Optional[bool] = ..., submission_exists: _Optional[bool] = ..., valid_submission: _Optional[bool] = ..., is_lower_better: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., submission_path: _Optional[str] = ..., invalid_reason: _Optional[str] = ..., grader_version: _Optional[str] = ..., submission_sha256: _Optional[str] = ..., answers_sha256: _Optional[str] = ..., compute_profile: _Optional[_Union[ComputeProfile, _Mapping]] = ..., details: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., technique_task: _Optional[str] = ..., score_unrounded: _Optional[float] = ..., model_usage: _Optional[_Union[ModelUsage, _Mapping]] = ..., agent: _Optional[str] = ..., agent_image: _Optional[str] = ..., agent_digest: _Optional[str] = ..., agent_commit: _Optional[str] = ...) -> None: ...

class RunEvent(_message.Message):
    __slots__ = ("run_id", "seq", "time", "log_line", "rollout", "status_change", "artifact_stored", "report")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    LOG_LINE_FIELD_NUMBER: _ClassVar[int]
    ROLLOUT_FIELD_NUMBER: _ClassVar[int]
    STATUS_CHANGE_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_STORED_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    seq: int
    time: _timestamp_pb2.Timestamp
    log_line: LogLine
    rollout: RolloutEvent
    status_change: StatusChange
    artifact_stored: ArtifactStored
    report: GradeReport
    def __init__(self, run_id: _Optional[str] = ..., seq: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., log_line: _Optional[_Union[LogLine, _Mapping]] = ..., rollout: _Optional[_Union[RolloutEvent, _Mapping]] = ..., status_change: _Optional[_Union[StatusChange, _Mapping]] = ..., artifact_stored: _Optional[_Union[ArtifactStored, _Mapping]] = ..., report: _Optional[_Union[GradeReport, _Mapping]] = ...) -> None: ...

class RunEventBatch(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[RunEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[RunEvent, _Mapping]]] = ...) -> None: ...

class ModelAccess(_message.Message):
    __slots__ = ("endpoints", "max_requests", "max_tokens", "max_cost_usd", "replay_run_id")
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    MAX_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_COST_USD_FIELD_NUMBER: _ClassVar[int]
    REPLAY_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    endpoints: _containers.RepeatedScalarFieldContainer[str]
    max_requests: int
    max_tokens: int
    max_cost_usd: float
    replay_run_id: str
    def __init__(self, endpoints: _Optional[_Iterable[str]] = ..., max_requests: _Optional[int] = ..., max_tokens: _Optional[int] = ..., max_cost_usd: _Optional[float] = ..., replay_run_id: _Optional[str] = ...) -> None: ...

class ModelUsage(_message.Message):
    __slots__ = ("calls", "input_tokens", "output_tokens", "cost_usd", "refused")
    CALLS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    refused: int
    def __init__(self, calls: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ..., refused: _Optional[int] = ...) -> None: ...

class AgentManifest(_message.Message):
    __slots__ = ("command", "env", "args_json", "compute", "gpus", "model_endpoints")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    MODEL_ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    command: _containers.RepeatedScalarFieldContainer[str]
    env: _containers.ScalarMap[str, str]
    args_json: str
    compute: ComputeProfile
    gpus: int
    model_endpoints: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, command: _Optional[_Iterable[str]] = ..., env: _Optional[_Mapping[str, str]] = ..., args_json: _Optional[str] = ..., compute: _Optional[_Union[ComputeProfile, _Mapping]] = ..., gpus: _Optional[int] = ..., model_endpoints: _Optional[_Iterable[str]] = ...) -> None: ...
