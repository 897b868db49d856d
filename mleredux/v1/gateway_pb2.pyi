import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from mleredux.v1 import common_pb2 as _common_pb2
from mleredux.v1 import competitions_pb2 as _competitions_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EvaluationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVALUATION_STATE_UNSPECIFIED: _ClassVar[EvaluationState]
    EVALUATION_STATE_RUNNING: _ClassVar[EvaluationState]
    EVALUATION_STATE_SUCCEEDED: _ClassVar[EvaluationState]
    EVALUATION_STATE_CANCELLED: _ClassVar[EvaluationState]

class AgentBuildState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGENT_BUILD_STATE_UNSPECIFIED: _ClassVar[AgentBuildState]
    AGENT_BUILD_STATE_BUILDING: _ClassVar[AgentBuildState]
    AGENT_BUILD_STATE_READY: _ClassVar[AgentBuildState]
    AGENT_BUILD_STATE_FAILED: _ClassVar[AgentBuildState]

class AgentVerifyState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGENT_VERIFY_STATE_UNSPECIFIED: _ClassVar[AgentVerifyState]
    AGENT_VERIFY_STATE_VERIFYING: _ClassVar[AgentVerifyState]
    AGENT_VERIFY_STATE_VERIFIED: _ClassVar[AgentVerifyState]
    AGENT_VERIFY_STATE_NOT_VERIFIED: _ClassVar[AgentVerifyState]
EVALUATION_STATE_UNSPECIFIED: EvaluationState
EVALUATION_STATE_RUNNING: EvaluationState
EVALUATION_STATE_SUCCEEDED: EvaluationState
EVALUATION_STATE_CANCELLED: EvaluationState
AGENT_BUILD_STATE_UNSPECIFIED: AgentBuildState
AGENT_BUILD_STATE_BUILDING: AgentBuildState
AGENT_BUILD_STATE_READY: AgentBuildState
AGENT_BUILD_STATE_FAILED: AgentBuildState
AGENT_VERIFY_STATE_UNSPECIFIED: AgentVerifyState
AGENT_VERIFY_STATE_VERIFYING: AgentVerifyState
AGENT_VERIFY_STATE_VERIFIED: AgentVerifyState
AGENT_VERIFY_STATE_NOT_VERIFIED: AgentVerifyState

class Run(_message.Message):
    __slots__ = ("run_id", "competition_id", "agent", "image", "task", "state", "failure_reason", "message", "compute", "create_time", "start_time", "end_time", "report", "last_seq", "owner", "env", "runner", "model_access", "model_usage", "agent_resource", "agent_digest", "agent_commit", "agent_manifest")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    COMPETITION_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    RUNNER_FIELD_NUMBER: _ClassVar[int]
    MODEL_ACCESS_FIELD_NUMBER: _ClassVar[int]
    MODEL_USAGE_FIELD_NUMBER: _ClassVar[int]
    AGENT_RESOURCE_FIELD_NUMBER: _ClassVar[int]
    AGENT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    AGENT_COMMIT_FIELD_NUMBER: _ClassVar[int]
    AGENT_MANIFEST_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    competition_id: str
    agent: str
    image: str
    task: str
    state: _common_pb2.RunState
    failure_reason: _common_pb2.FailureReason
    message: str
    compute: _common_pb2.ComputeProfile
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    report: _common_pb2.GradeReport
    last_seq: int
    owner: str
    env: _containers.ScalarMap[str, str]
    runner: str
    model_access: _common_pb2.ModelAccess
    model_usage: _common_pb2.ModelUsage
    agent_resource: str
    agent_digest: str
    agent_commit: str
    agent_manifest: _common_pb2.AgentManifest
    def __init__(self, run_id: _Optional[str] = ..., competition_id: _Optional[str] = ..., agent: _Optional[str] = ..., image: _Optional[str] = ..., task: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.RunState, str]] = ..., failure_reason: _Optional[_Union[_common_pb2.FailureReason, str]] = ..., message: _Optional[str] = ..., compute: _Optional[_Union[_common_pb2.ComputeProfile, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., report: _Optional[_Union[_common_pb2.GradeReport, _Mapping]] = ..., last_seq: _Optional[int] = ..., owner: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ..., runner: _Optional[str] = ..., model_access: _Optional[_Union[_common_pb2.ModelAccess, _Mapping]] = ..., model_usage: _Optional[_Union[_common_pb2.ModelUsage, _Mapping]] = ..., agent_resource: _Optional[str] = ..., agent_digest: _Optional[str] = ..., agent_commit: _Optional[str] = ..., agent_manifest: _Optional[_Union[_common_pb2.AgentManifest, _Mapping]] = ...) -> None: ...

class CreateRunRequest(_message.Message):
    __slots__ = ("competition_id", "agent", "task", "compute", "env", "model_access")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    COMPETITION_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    MODEL_ACCESS_FIELD_NUMBER: _ClassVar[int]
    competition_id: str
    agent: str
    task: str
    compute: _common_pb2.ComputeProfile
    env: _containers.ScalarMap[str, str]
    model_access: _common_pb2.ModelAccess
    def __init__(self, competition_id: _Optional[str] = ..., agent: _Optional[str] = ..., task: _Optional[str] = ..., compute: _Optional[_Union[_common_pb2.ComputeProfile, _Mapping]] = ..., env: _Optional[_Mapping[str, str]] = ..., model_access: _Optional[_Union[_common_pb2.ModelAccess, _Mapping]] = ...) -> None: ...

class CreateRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class GetRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "state", "competition_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    COMPETITION_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    state: _common_pb2.RunState
    competition_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.RunState, str]] = ..., competition_id: _Optional[str] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs", "next_page_token")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[Run]
    next_page_token: str
    def __init__(self, runs: _Optional[_Iterable[_Union[Run, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class CancelRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class WatchRunRequest(_message.Message):
    __slots__ = ("run_id", "from_seq", "no_follow")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    NO_FOLLOW_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    from_seq: int
    no_follow: bool
    def __init__(self, run_id: _Optional[str] = ..., from_seq: _Optional[int] = ..., no_follow: _Optional[bool] = ...) -> None: ...

class WatchRunResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_common_pb2.RunEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[_common_pb2.RunEvent, _Mapping]]] = ...) -> None: ...

class ListArtifactsRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class Artifact(_message.Message):
    __slots__ = ("name", "key", "size_bytes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    key: str
    size_bytes: int
    def __init__(self, name: _Optional[str] = ..., key: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class ListArtifactsResponse(_message.Message):
    __slots__ = ("artifacts",)
    ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    artifacts: _containers.RepeatedCompositeFieldContainer[Artifact]
    def __init__(self, artifacts: _Optional[_Iterable[_Union[Artifact, _Mapping]]] = ...) -> None: ...

class GetArtifactRequest(_message.Message):
    __slots__ = ("run_id", "name")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    name: str
    def __init__(self, run_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class GetArtifactResponse(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class ListCompetitionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "supported_only")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_ONLY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    supported_only: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., supported_only: _Optional[bool] = ...) -> None: ...

class ListCompetitionsResponse(_message.Message):
    __slots__ = ("competitions", "next_page_token")
    COMPETITIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    competitions: _containers.RepeatedCompositeFieldContainer[_competitions_pb2.Competition]
    next_page_token: str
    def __init__(self, competitions: _Optional[_Iterable[_Union[_competitions_pb2.Competition, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetCompetitionRequest(_message.Message):
    __slots__ = ("competition_id",)
    COMPETITION_ID_FIELD_NUMBER: _ClassVar[int]
    competition_id: str
    def __init__(self, competition_id: _Optional[str] = ...) -> None: ...

class GetCompetitionResponse(_message.Message):
    __slots__ = ("competition",)
    COMPETITION_FIELD_NUMBER: _ClassVar[int]
    competition: _competitions_pb2.Competition
    def __init__(self, competition: _Optional[_Union[_competitions_pb2.Competition, _Mapping]] = ...) -> None: ...

class PrepareCompetitionRequest(_message.Message):
    __slots__ = ("competition_id", "task")
    COMPETITION_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    competition_id: str
    task: str
    def __init__(self, competition_id: _Optional[str] = ..., task: _Optional[str] = ...) -> None: ...

class PrepareCompetitionResponse(_message.Message):
    __slots__ = ("stage", "message", "files_done", "files_total", "bytes_done", "bytes_total", "reused", "content_hash")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FILES_DONE_FIELD_NUMBER: _ClassVar[int]
    FILES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    BYTES_DONE_FIELD_NUMBER: _ClassVar[int]
    BYTES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    REUSED_FIELD_NUMBER: _ClassVar[int]
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    stage: _competitions_pb2.PrepareStage
    message: str
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    reused: bool
    content_hash: str
    def __init__(self, stage: _Optional[_Union[_competitions_pb2.PrepareStage, str]] = ..., message: _Optional[str] = ..., files_done: _Optional[int] = ..., files_total: _Optional[int] = ..., bytes_done: _Optional[int] = ..., bytes_total: _Optional[int] = ..., reused: _Optional[bool] = ..., content_hash: _Optional[str] = ...) -> None: ...

class ApiToken(_message.Message):
    __slots__ = ("token_id", "user", "name", "admin", "create_time", "revoke_time")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADMIN_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    user: str
    name: str
    admin: bool
    create_time: _timestamp_pb2.Timestamp
    revoke_time: _timestamp_pb2.Timestamp
    def __init__(self, token_id: _Optional[str] = ..., user: _Optional[str] = ..., name: _Optional[str] = ..., admin: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateTokenRequest(_message.Message):
    __slots__ = ("user", "name", "admin")
    USER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADMIN_FIELD_NUMBER: _ClassVar[int]
    user: str
    name: str
    admin: bool
    def __init__(self, user: _Optional[str] = ..., name: _Optional[str] = ..., admin: _Optional[bool] = ...) -> None: ...

class CreateTokenResponse(_message.Message):
    __slots__ = ("token", "api_token")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    API_TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    api_token: ApiToken
    def __init__(self, token: _Optional[str] = ..., api_token: _Optional[_Union[ApiToken, _Mapping]] = ...) -> None: ...

class ListTokensRequest(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: str
    def __init__(self, user: _Optional[str] = ...) -> None: ...

class ListTokensResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[ApiToken]
    def __init__(self, tokens: _Optional[_Iterable[_Union[ApiToken, _Mapping]]] = ...) -> None: ...

class RevokeTokenRequest(_message.Message):
    __slots__ = ("token_id",)
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    def __init__(self, token_id: _Optional[str] = ...) -> None: ...

class RevokeTokenResponse(_message.Message):
    __slots__ = ("api_token",)
    API_TOKEN_FIELD_NUMBER: _ClassVar[int]
    api_token: ApiToken
    def __init__(self, api_token: _Optional[_Union[ApiToken, _Mapping]] = ...) -> None: ...

class GetCallerRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCallerResponse(_message.Message):
    __slots__ = ("user", "admin", "token_id")
    USER_FIELD_NUMBER: _ClassVar[int]
    ADMIN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    user: str
    admin: bool
    token_id: str
    def __init__(self, user: _Optional[str] = ..., admin: _Optional[bool] = ..., token_id: _Optional[str] = ...) -> None: ...

class PruneRunsRequest(_message.Message):
    __slots__ = ("older_than_seconds", "keep_last", "max_database_bytes", "dry_run")
    OLDER_THAN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    KEEP_LAST_FIELD_NUMBER: _ClassVar[int]
    MAX_DATABASE_BYTES_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    older_than_seconds: int
    keep_last: int
    max_database_bytes: int
    dry_run: bool
    def __init__(self, older_than_seconds: _Optional[int] = ..., keep_last: _Optional[int] = ..., max_database_bytes: _Optional[int] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class PruneRunsResponse(_message.Message):
    __slots__ = ("run_ids", "database_bytes", "store_bytes", "errors")
    RUN_IDS_FIELD_NUMBER: _ClassVar[int]
    DATABASE_BYTES_FIELD_NUMBER: _ClassVar[int]
    STORE_BYTES_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    run_ids: _containers.RepeatedScalarFieldContainer[str]
    database_bytes: int
    store_bytes: int
    errors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, run_ids: _Optional[_Iterable[str]] = ..., database_bytes: _Optional[int] = ..., store_bytes: _Optional[int] = ..., errors: _Optional[_Iterable[str]] = ...) -> None: ...

class EvaluationRun(_message.Message):
    __slots__ = ("competition_id", "seed", "run_id", "attempts", "state", "failure_reason", "system_failure", "report", "retried_run_ids", "wall_seconds", "complexity", "done")
    COMPETITION_ID_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FAILURE_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    RETRIED_RUN_IDS_FIELD_NUMBER: _ClassVar[int]
    WALL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    COMPLEXITY_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    competition_id: str
    seed: int
    run_id: str
    attempts: int
    state: _common_pb2.RunState
    failure_reason: _common_pb2.FailureReason
    system_failure: bool
    report: _common_pb2.GradeReport
    retried_run_ids: _containers.RepeatedScalarFieldContainer[str]
    wall_seconds: float
    complexity: str
    done: bool
    def __init__(self, competition_id: _Optional[str] = ..., seed: _Optional[int] = ..., run_id: _Optional[str] = ..., attempts: _Optional[int] = ..., state: _Optional[_Union[_common_pb2.RunState, str]] = ..., failure_reason: _Optional[_Union[_common_pb2.FailureReason, str]] = ..., system_failure: _Optional[bool] = ..., report: _Optional[_Union[_common_pb2.GradeReport, _Mapping]] = ..., retried_run_ids: _Optional[_Iterable[str]] = ..., wall_seconds: _Optional[float] = ..., complexity: _Optional[str] = ..., done: _Optional[bool] = ...) -> None: ...

class EvaluationFigure(_message.Message):
    __slots__ = ("mean", "standard_error", "ci_lower", "ci_upper")
    MEAN_FIELD_NUMBER: _ClassVar[int]
    STANDARD_ERROR_FIELD_NUMBER: _ClassVar[int]
    CI_LOWER_FIELD_NUMBER: _ClassVar[int]
    CI_UPPER_FIELD_NUMBER: _ClassVar[int]
    mean: float
    standard_error: float
    ci_lower: float
    ci_upper: float
    def __init__(self, mean: _Optional[float] = ..., standard_error: _Optional[float] = ..., ci_lower: _Optional[float] = ..., ci_upper: _Optional[float] = ...) -> None: ...

class EvaluationGroupFigures(_message.Message):
    __slots__ = ("group", "competitions", "seeds", "any_medal", "gold_medal", "silver_medal", "bronze_medal", "above_median", "valid_submission", "submission_exists")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    COMPETITIONS_FIELD_NUMBER: _ClassVar[int]
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    ANY_MEDAL_FIELD_NUMBER: _ClassVar[int]
    GOLD_MEDAL_FIELD_NUMBER: _ClassVar[int]
    SILVER_MEDAL_FIELD_NUMBER: _ClassVar[int]
    BRONZE_MEDAL_FIELD_NUMBER: _ClassVar[int]
    ABOVE_MEDIAN_FIELD_NUMBER: _ClassVar[int]
    VALID_SUBMISSION_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_EXISTS_FIELD_NUMBER: _ClassVar[int]
    group: str
    competitions: int
    seeds: int
    any_medal: EvaluationFigure
    gold_medal: EvaluationFigure
    silver_medal: EvaluationFigure
    bronze_medal: EvaluationFigure
    above_median: EvaluationFigure
    valid_submission: EvaluationFigure
    submission_exists: EvaluationFigure
    def __init__(self, group: _Optional[str] = ..., competitions: _Optional[int] = ..., seeds: _Optional[int] = ..., any_medal: _Optional[_Union[EvaluationFigure, _Mapping]] = ..., gold_medal: _Optional[_Union[EvaluationFigure, _Mapping]] = ..., silver_medal: _Optional[_Union[EvaluationFigure, _Mapping]] = ..., bronze_medal: _Optional[_Union[EvaluationFigure, _Mapping]] = ..., above_median: _Optional[_Union[EvaluationFigure, _Mapping]] = ..., valid_submission: _Optional[_Union[EvaluationFigure, _Mapping]] = ..., submission_exists: _Optional[_Union[EvaluationFigure, _Mapping]] = ...) -> None: ...

class EvaluationCompetitionFigures(_message.Message):
    __slots__ = ("competition_id", "complexity", "scored", "score_mean", "score_std", "score_min", "score_max")
    COMPETITION_ID_FIELD_NUMBER: _ClassVar[int]
    COMPLEXITY_FIELD_NUMBER: _ClassVar[int]
    SCORED_FIELD_NUMBER: _ClassVar[int]
    SCORE_MEAN_FIELD_NUMBER: _ClassVar[int]
    SCORE_STD_FIELD_NUMBER: _ClassVar[int]
    SCORE_MIN_FIELD_NUMBER: _ClassVar[int]
    SCORE_MAX_FIELD_NUMBER: _ClassVar[int]
    competition_id: str
    complexity: str
    scored: int
    score_mean: float
    score_std: float
    score_min: float
    score_max: float
    def __init__(self, competition_id: _Optional[str] = ..., complexity: _Optional[str] = ..., scored: _Optional[int] = ..., score_mean: _Optional[float] = ..., score_std: _Optional[float] = ..., score_min: _Optional[float] = ..., score_max: _Optional[float] = ...) -> None: ...

class EvaluationProgress(_message.Message):
    __slots__ = ("total", "done", "running", "queued", "succeeded", "agent_failures", "system_failures", "retries", "medals", "cancelled", "run_seconds", "cpu_core_seconds", "model_usage")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    AGENT_FAILURES_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FAILURES_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    MEDALS_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    RUN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CPU_CORE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MODEL_USAGE_FIELD_NUMBER: _ClassVar[int]
    total: int
    done: int
    running: int
    queued: int
    succeeded: int
    agent_failures: int
    system_failures: int
    retries: int
    medals: int
    cancelled: int
    run_seconds: float
    cpu_core_seconds: float
    model_usage: _common_pb2.ModelUsage
    def __init__(self, total: _Optional[int] = ..., done: _Optional[int] = ..., running: _Optional[int] = ..., queued: _Optional[int] = ..., succeeded: _Optional[int] = ..., agent_failures: _Optional[int] = ..., system_failures: _Optional[int] = ..., retries: _Optional[int] = ..., medals: _Optional[int] = ..., cancelled: _Optional[int] = ..., run_seconds: _Optional[float] = ..., cpu_core_seconds: _Optional[float] = ..., model_usage: _Optional[_Union[_common_pb2.ModelUsage, _Mapping]] = ...) -> None: ...

class Evaluation(_message.Message):
    __slots__ = ("evaluation_id", "name", "owner", "agent", "image", "competition_ids", "split", "seeds", "concurrency", "compute", "max_attempts", "env", "state", "message", "create_time", "end_time", "progress", "figures", "competitions", "runs", "last_seq", "hint_run_ids", "hint_rollouts", "task", "hint_evaluation_id", "agent_resource", "agent_digest", "agent_commit", "agent_manifest", "model_access")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EVALUATION_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    COMPETITION_IDS_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    FIGURES_FIELD_NUMBER: _ClassVar[int]
    COMPETITIONS_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    HINT_RUN_IDS_FIELD_NUMBER: _ClassVar[int]
    HINT_ROLLOUTS_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    HINT_EVALUATION_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_RESOURCE_FIELD_NUMBER: _ClassVar[int]
    AGENT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    AGENT_COMMIT_FIELD_NUMBER: _ClassVar[int]
    AGENT_MANIFEST_FIELD_NUMBER: _ClassVar[int]
    MODEL_ACCESS_FIELD_NUMBER: _ClassVar[int]
    evaluation_id: str
    name: str
    owner: str
    agent: str
    image: str
    competition_ids: _containers.RepeatedScalarFieldContainer[str]
    split: str
    seeds: int
    concurrency: int
    compute: _common_pb2.ComputeProfile
    max_attempts: int
    env: _containers.ScalarMap[str, str]
    state: EvaluationState
    message: str
    create_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    progress: EvaluationProgress
    figures: _containers.RepeatedCompositeFieldContainer[EvaluationGroupFigures]
    competitions: _containers.RepeatedCompositeFieldContainer[EvaluationCompetitionFigures]
    runs: _containers.RepeatedCompositeFieldContainer[EvaluationRun]
    last_seq: int
    hint_run_ids: _containers.RepeatedScalarFieldContainer[str]
    hint_rollouts: bool
    task: str
    hint_evaluation_id: str
    agent_resource: str
    agent_digest: str
    agent_commit: str
    agent_manifest: _common_pb2.AgentManifest
    model_access: _common_pb2.ModelAccess
    def __init__(self, evaluation_id: _Optional[str] = ..., name: _Optional[str] = ..., owner: _Optional[str] = ..., agent: _Optional[str] = ..., image: _Optional[str] = ..., competition_ids: _Optional[_Iterable[str]] = ..., split: _Optional[str] = ..., seeds: _Optional[int] = ..., concurrency: _Optional[int] = ..., compute: _Optional[_Union[_common_pb2.ComputeProfile, _Mapping]] = ..., max_attempts: _Optional[int] = ..., env: _Optional[_Mapping[str, str]] = ..., state: _Optional[_Union[EvaluationState, str]] = ..., message: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., progress: _Optional[_Union[EvaluationProgress, _Mapping]] = ..., figures: _Optional[_Iterable[_Union[EvaluationGroupFigures, _Mapping]]] = ..., competitions: _Optional[_Iterable[_Union[EvaluationCompetitionFigures, _Mapping]]] = ..., runs: _Optional[_Iterable[_Union[EvaluationRun, _Mapping]]] = ..., last_seq: _Optional[int] = ..., hint_run_ids: _Optional[_Iterable[str]] = ..., hint_rollouts: _Optional[bool] = ..., task: _Optional[str] = ..., hint_evaluation_id: _Optional[str] = ..., agent_resource: _Optional[str] = ..., agent_digest: _Optional[str] = ..., agent_commit: _Optional[str] = ..., agent_manifest: _Optional[_Union[_common_pb2.AgentManifest, _Mapping]] = ..., model_access: _Optional[_Union[_common_pb2.ModelAccess, _Mapping]] = ...) -> None: ...

class CreateEvaluationRequest(_message.Message):
    __slots__ = ("agent", "competition_ids", "split", "seeds", "concurrency", "compute", "name", "env", "max_attempts", "hint_run_ids", "hint_rollouts", "task", "hint_evaluation_id", "model_access")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    AGENT_FIELD_NUMBER: _ClassVar[int]
    COMPETITION_IDS_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    HINT_RUN_IDS_FIELD_NUMBER: _ClassVar[int]
    HINT_ROLLOUTS_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    HINT_EVALUATION_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_ACCESS_FIELD_NUMBER: _ClassVar[int]
    agent: str
    competition_ids: _containers.RepeatedScalarFieldContainer[str]
    split: str
    seeds: int
    concurrency: int
    compute: _common_pb2.ComputeProfile
    name: str
    env: _containers.ScalarMap[str, str]
    max_attempts: int
    hint_run_ids: _containers.RepeatedScalarFieldContainer[str]
    hint_rollouts: bool
    task: str
    hint_evaluation_id: str
    model_access: _common_pb2.ModelAccess
    def __init__(self, agent: _Optional[str] = ..., competition_ids: _Optional[_Iterable[str]] = ..., split: _Optional[str] = ..., seeds: _Optional[int] = ..., concurrency: _Optional[int] = ..., compute: _Optional[_Union[_common_pb2.ComputeProfile, _Mapping]] = ..., name: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ..., max_attempts: _Optional[int] = ..., hint_run_ids: _Optional[_Iterable[str]] = ..., hint_rollouts: _Optional[bool] = ..., task: _Optional[str] = ..., hint_evaluation_id: _Optional[str] = ..., model_access: _Optional[_Union[_common_pb2.ModelAccess, _Mapping]] = ...) -> None: ...

class GetEvaluationRequest(_message.Message):
    __slots__ = ("evaluation_id",)
    EVALUATION_ID_FIELD_NUMBER: _ClassVar[int]
    evaluation_id: str
    def __init__(self, evaluation_id: _Optional[str] = ...) -> None: ...

class ListEvaluationsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEvaluationsResponse(_message.Message):
    __slots__ = ("evaluations", "next_page_token")
    EVALUATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    evaluations: _containers.RepeatedCompositeFieldContainer[Evaluation]
    next_page_token: str
    def __init__(self, evaluations: _Optional[_Iterable[_Union[Evaluation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelEvaluationRequest(_message.Message):
    __slots__ = ("evaluation_id",)
    EVALUATION_ID_FIELD_NUMBER: _ClassVar[int]
    evaluation_id: str
    def __init__(self, evaluation_id: _Optional[str] = ...) -> None: ...

class WatchEvaluationRequest(_message.Message):
    __slots__ = ("evaluation_id", "from_seq", "no_follow")
    EVALUATION_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    NO_FOLLOW_FIELD_NUMBER: _ClassVar[int]
    evaluation_id: str
    from_seq: int
    no_follow: bool
    def __init__(self, evaluation_id: _Optional[str] = ..., from_seq: _Optional[int] = ..., no_follow: _Optional[bool] = ...) -> None: ...

class EvaluationEvent(_message.Message):
    __slots__ = ("evaluation_id", "seq", "time", "run", "progress", "state", "message")
    EVALUATION_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    evaluation_id: str
    seq: int
    time: _timestamp_pb2.Timestamp
    run: EvaluationRun
    progress: EvaluationProgress
    state: EvaluationState
    message: str
    def __init__(self, evaluation_id: _Optional[str] = ..., seq: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., run: _Optional[_Union[EvaluationRun, _Mapping]] = ..., progress: _Optional[_Union[EvaluationProgress, _Mapping]] = ..., state: _Optional[_Union[EvaluationState, str]] = ..., message: _Optional[str] = ...) -> None: ...

class ResumeEvaluationRequest(_message.Message):
    __slots__ = ("evaluation_id",)
    EVALUATION_ID_FIELD_NUMBER: _ClassVar[int]
    evaluation_id: str
    def __init__(self, evaluation_id: _Optional[str] = ...) -> None: ...

class CreateEvaluationResponse(_message.Message):
    __slots__ = ("evaluation",)
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    evaluation: Evaluation
    def __init__(self, evaluation: _Optional[_Union[Evaluation, _Mapping]] = ...) -> None: ...

class GetEvaluationResponse(_message.Message):
    __slots__ = ("evaluation",)
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    evaluation: Evaluation
    def __init__(self, evaluation: _Optional[_Union[Evaluation, _Mapping]] = ...) -> None: ...

class CancelEvaluationResponse(_message.Message):
    __slots__ = ("evaluation",)
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    evaluation: Evaluation
    def __init__(self, evaluation: _Optional[_Union[Evaluation, _Mapping]] = ...) -> None: ...

class ResumeEvaluationResponse(_message.Message):
    __slots__ = ("evaluation",)
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    evaluation: Evaluation
    def __init__(self, evaluation: _Optional[_Union[Evaluation, _Mapping]] = ...) -> None: ...

class WatchEvaluationResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: EvaluationEvent
    def __init__(self, event: _Optional[_Union[EvaluationEvent, _Mapping]] = ...) -> None: ...

class Agent(_message.Message):
    __slots__ = ("name", "agent_id", "owner", "digest", "image", "context_sha256", "git_url", "git_ref", "git_commit", "build_state", "build_message", "verify_state", "verify_message", "manifest", "size_bytes", "shared", "create_time", "last_seq")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_SHA256_FIELD_NUMBER: _ClassVar[int]
    GIT_URL_FIELD_NUMBER: _ClassVar[int]
    GIT_REF_FIELD_NUMBER: _ClassVar[int]
    GIT_COMMIT_FIELD_NUMBER: _ClassVar[int]
    BUILD_STATE_FIELD_NUMBER: _ClassVar[int]
    BUILD_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    VERIFY_STATE_FIELD_NUMBER: _ClassVar[int]
    VERIFY_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHARED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    name: str
    agent_id: str
    owner: str
    digest: str
    image: str
    context_sha256: str
    git_url: str
    git_ref: str
    git_commit: str
    build_state: AgentBuildState
    build_message: str
    verify_state: AgentVerifyState
    verify_message: str
    manifest: _common_pb2.AgentManifest
    size_bytes: int
    shared: bool
    create_time: _timestamp_pb2.Timestamp
    last_seq: int
    def __init__(self, name: _Optional[str] = ..., agent_id: _Optional[str] = ..., owner: _Optional[str] = ..., digest: _Optional[str] = ..., image: _Optional[str] = ..., context_sha256: _Optional[str] = ..., git_url: _Optional[str] = ..., git_ref: _Optional[str] = ..., git_commit: _Optional[str] = ..., build_state: _Optional[_Union[AgentBuildState, str]] = ..., build_message: _Optional[str] = ..., verify_state: _Optional[_Union[AgentVerifyState, str]] = ..., verify_message: _Optional[str] = ..., manifest: _Optional[_Union[_common_pb2.AgentManifest, _Mapping]] = ..., size_bytes: _Optional[int] = ..., shared: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seq: _Optional[int] = ...) -> None: ...

class CreateAgentHeader(_message.Message):
    __slots__ = ("agent_id", "git_url", "git_ref", "verify")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    GIT_URL_FIELD_NUMBER: _ClassVar[int]
    GIT_REF_FIELD_NUMBER: _ClassVar[int]
    VERIFY_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    git_url: str
    git_ref: str
    verify: bool
    def __init__(self, agent_id: _Optional[str] = ..., git_url: _Optional[str] = ..., git_ref: _Optional[str] = ..., verify: _Optional[bool] = ...) -> None: ...

class CreateAgentRequest(_message.Message):
    __slots__ = ("header", "context_chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: CreateAgentHeader
    context_chunk: bytes
    def __init__(self, header: _Optional[_Union[CreateAgentHeader, _Mapping]] = ..., context_chunk: _Optional[bytes] = ...) -> None: ...

class CreateAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ...) -> None: ...

class GetAgentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ...) -> None: ...

class ListAgentsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAgentsResponse(_message.Message):
    __slots__ = ("agents", "next_page_token")
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[Agent]
    next_page_token: str
    def __init__(self, agents: _Optional[_Iterable[_Union[Agent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteAgentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ...) -> None: ...

class ShareAgentRequest(_message.Message):
    __slots__ = ("name", "shared")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SHARED_FIELD_NUMBER: _ClassVar[int]
    name: str
    shared: bool
    def __init__(self, name: _Optional[str] = ..., shared: _Optional[bool] = ...) -> None: ...

class ShareAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ...) -> None: ...

class WatchAgentBuildRequest(_message.Message):
    __slots__ = ("name", "from_seq")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    name: str
    from_seq: int
    def __init__(self, name: _Optional[str] = ..., from_seq: _Optional[int] = ...) -> None: ...

class WatchAgentBuildResponse(_message.Message):
    __slots__ = ("seq", "line", "agent")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    seq: int
    line: str
    agent: Agent
    def __init__(self, seq: _Optional[int] = ..., line: _Optional[str] = ..., agent: _Optional[_Union[Agent, _Mapping]] = ...) -> None: ...
