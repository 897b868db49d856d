"""Errors the domain code raises; each carries a message fit to show a user as it is.

Servicers map them to gRPC status codes (see `grpc_status`), the CLI prints them without a traceback.
"""

from __future__ import annotations


class MleReduxError(Exception):
    """Base of every error this project raises on purpose."""

    #: gRPC status code name a servicer answers with.
    grpc_code = "INTERNAL"


class UnknownCompetitionError(MleReduxError):
    """The competition id is not in the registry."""

    grpc_code = "NOT_FOUND"


class CompetitionNotSupportedError(MleReduxError):
    """The competition is listed but cannot be prepared or graded yet."""

    grpc_code = "FAILED_PRECONDITION"


class NotPreparedError(MleReduxError):
    """The competition's data has not been prepared in this data dir."""

    grpc_code = "FAILED_PRECONDITION"


class ChecksumMismatchError(MleReduxError):
    """Prepared files differ from their manifest."""

    grpc_code = "DATA_LOSS"


class InvalidSubmissionError(MleReduxError):
    """The submission is malformed: the message names what is wrong (ids, columns, values)."""

    grpc_code = "INVALID_ARGUMENT"


class GraderError(MleReduxError):
    """The grader itself failed (never the submission's fault)."""

    grpc_code = "INTERNAL"


class StoreError(MleReduxError):
    """The artifact store could not be reached or refused an operation."""

    grpc_code = "UNAVAILABLE"


class ArtifactNotFoundError(MleReduxError):
    """No object at that key in the store."""

    grpc_code = "NOT_FOUND"


class ImageMissingError(MleReduxError):
    """The agent image is not present on the Docker host (nothing is ever pulled)."""

    grpc_code = "FAILED_PRECONDITION"


class RunNotFoundError(MleReduxError):
    """No run with that id (or not visible to the caller)."""

    grpc_code = "NOT_FOUND"


class InvalidArgumentError(MleReduxError):
    """A request field is missing or malformed; the message names the field."""

    grpc_code = "INVALID_ARGUMENT"


class UnauthenticatedError(MleReduxError):
    """No API token, or one the gateway does not accept."""

    grpc_code = "UNAUTHENTICATED"


class PermissionDeniedError(MleReduxError):
    """The caller is authenticated but not allowed to do this (admin-only actions)."""

    grpc_code = "PERMISSION_DENIED"


class UnknownTechniqueTaskError(MleReduxError):
    """The technique task name is not one of the six; the message lists them."""

    grpc_code = "NOT_FOUND"


class InvalidAnalysisError(InvalidSubmissionError):
    """A technique task's analysis JSON is unreadable or breaks its schema; the message names the JSON path."""


class ResourceExhaustedError(MleReduxError):
    """The caller has used up a bound of theirs (e.g. unfinished runs per user); the message names it."""

    grpc_code = "RESOURCE_EXHAUSTED"
