from mleredux.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubmissionSource(_message.Message):
    __slots__ = ("store_key", "content")
    STORE_KEY_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    store_key: str
    content: bytes
    def __init__(self, store_key: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...

class GradeSubmissionRequest(_message.Message):
    __slots__ = ("competition_id", "submission", "compute_profile")
    COMPETITION_ID_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_PROFILE_FIELD_NUMBER: _ClassVar[int]
    competition_id: str
    submission: SubmissionSource
    compute_profile: _common_pb2.ComputeProfile
    def __init__(self, competition_id: _Optional[str] = ..., submission: _Optional[_Union[SubmissionSource, _Mapping]] = ..., compute_profile: _Optional[_Union[_common_pb2.ComputeProfile, _Mapping]] = ...) -> None: ...

class GradeSubmissionResponse(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: _common_pb2.GradeReport
    def __init__(self, report: _Optional[_Union[_common_pb2.GradeReport, _Mapping]] = ...) -> None: ...

class ValidateSubmissionRequest(_message.Message):
    __slots__ = ("competition_id", "content", "run_id", "task")
    COMPETITION_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    competition_id: str
    content: bytes
    run_id: str
    task: str
    def __init__(self, competition_id: _Optional[str] = ..., content: _Optional[bytes] = ..., run_id: _Optional[str] = ..., task: _Optional[str] = ...) -> None: ...

class ValidateSubmissionStreamRequest(_message.Message):
    __slots__ = ("competition_id", "run_id", "task", "content")
    COMPETITION_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    competition_id: str
    run_id: str
    task: str
    content: bytes
    def __init__(self, competition_id: _Optional[str] = ..., run_id: _Optional[str] = ..., task: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...

class ValidateSubmissionResponse(_message.Message):
    __slots__ = ("valid", "message")
    VALID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    message: str
    def __init__(self, valid: _Optional[bool] = ..., message: _Optional[str] = ...) -> None: ...

class ValidateSubmissionStreamResponse(_message.Message):
    __slots__ = ("valid", "message")
    VALID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    message: str
    def __init__(self, valid: _Optional[bool] = ..., message: _Optional[str] = ...) -> None: ...

class GradeTechniqueTaskRequest(_message.Message):
    __slots__ = ("task", "competition_id", "analysis", "submission", "compute_profile")
    TASK_FIELD_NUMBER: _ClassVar[int]
    COMPETITION_ID_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_PROFILE_FIELD_NUMBER: _ClassVar[int]
    task: str
    competition_id: str
    analysis: SubmissionSource
    submission: SubmissionSource
    compute_profile: _common_pb2.ComputeProfile
    def __init__(self, task: _Optional[str] = ..., competition_id: _Optional[str] = ..., analysis: _Optional[_Union[SubmissionSource, _Mapping]] = ..., submission: _Optional[_Union[SubmissionSource, _Mapping]] = ..., compute_profile: _Optional[_Union[_common_pb2.ComputeProfile, _Mapping]] = ...) -> None: ...

class GradeTechniqueTaskResponse(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: _common_pb2.GradeReport
    def __init__(self, report: _Optional[_Union[_common_pb2.GradeReport, _Mapping]] = ...) -> None: ...
