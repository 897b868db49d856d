"""The HTTP/JSON face of the gateway's gRPC API: one route per RPC, and how a request becomes a message.

The route table is the single source of truth: the HTTP server registers exactly these routes, and
the OpenAPI document is generated from them and the proto descriptors. Answers are written by
`mleredux.proto_json.to_json` (the house's JSON: proto field names such as `run_id` and `gold_medal`,
the names of the .proto files, the CLI and MLE-bench's report; integers as numbers; unset fields
null), the same function that writes report.json; input is protobuf's JSON mapping and also accepts
the lowerCamelCase names. A route with a `response_body` answers with that field of the RPC's
response (GET /v1/runs/{run_id} is the Run itself, as google.api.http's `response_body` does).

A route's request message is filled from its path parameters plus either the JSON body (`body=True`)
or the query string. Anything that does not fit (malformed JSON, an unknown field, a wrong type) is an
`InvalidArgumentError` that names the field, which the server answers with 400.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from mleredux import proto_json
from mleredux.errors import InvalidArgumentError
from mleredux.v1 import gateway_pb2

GATEWAY_SERVICE = gateway_pb2.DESCRIPTOR.services_by_name["GatewayService"]

#: The cookie the viewer sets so that EventSource and download links (which cannot send headers)
#: authenticate; accepted only on routes marked `cookie_auth`.
TOKEN_COOKIE = "mleredux_token"

#: Path parameters that may contain '/' (an artifact name is a relative path).
_GREEDY_PARAMS = frozenset({"name"})


class Kind(Enum):
    """How a route answers."""

    #: One JSON message.
    UNARY = "unary"
    #: Server-Sent Events, one per streamed message (per event for WatchRun's batches).
    EVENTS = "events"
    #: The streamed bytes of a file.
    DOWNLOAD = "download"


@dataclass(frozen=True)
class Route:
    """One HTTP route and the RPC it stands for."""

    method: str
    #: OpenAPI-style template, e.g. `/v1/runs/{run_id}:cancel`.
    path: str
    #: The GatewayService method.
    rpc: str
    summary: str
    #: Request fields come from a JSON body; otherwise from the query string.
    body: bool = False
    kind: Kind = Kind.UNARY
    #: The viewer's EventSource and download links may authenticate with the token cookie.
    cookie_auth: bool = False
    #: The field of the response message that is the HTTP answer; empty for the whole message.
    response_body: str = ""

    @property
    def method_descriptor(self) -> MethodDescriptor:
        return GATEWAY_SERVICE.methods_by_name[self.rpc]

    @property
    def request_descriptor(self) -> Descriptor:
        return self.method_descriptor.input_type

    @property
    def response_descriptor(self) -> Descriptor:
        return self.method_descriptor.output_type

    @property
    def answer_descriptor(self) -> Descriptor:
        """The message an HTTP answer holds: the response, or its `response_body` field's message."""
        if not self.response_body:
            return self.response_descriptor
        target = self.response_descriptor.fields_by_name[self.response_body].message_type
        assert target is not None, f"{self.rpc}: response_body must name a message field"
        return target

    def answer(self, response: Message) -> Message:
        """What the HTTP answer is made of."""
        return getattr(response, self.response_body) if self.response_body else response

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    @property
    def query_fields(self) -> list[FieldDescriptor]:
        """The request fields a client sets in the query string (none for a body route)."""
        if self.body:
            return []
        return [f for f in self.request_descriptor.fields if f.name not in self.path_params]

    @property
    def aiohttp_path(self) -> str:
        """The template for aiohttp's router: a parameter stops at '/' and ':' (custom methods)."""

        def pattern(match: re.Match[str]) -> str:
            name = match.group(1)
            return f"{{{name}:.+}}" if name in _GREEDY_PARAMS else f"{{{name}:[^/:]+}}"

        return re.sub(r"{(\w+)}", pattern, self.path)

    def new_request(self) -> Message:
        return GetMessageClass(self.request_descriptor)()


ROUTES: tuple[Route, ...] = (
    Route("POST", "/v1/runs", "CreateRun", "Queue a run", body=True, response_body="run"),
    Route("GET", "/v1/runs", "ListRuns", "List runs, newest first"),
    Route("GET", "/v1/runs/{run_id}", "GetRun", "Get a run", response_body="run"),
    Route(
        "POST",
        "/v1/runs/{run_id}:cancel",
        "CancelRun",
        "Cancel a run in any non-terminal state",
        body=True,
        response_body="run",
    ),
    Route(
        "GET",
        "/v1/runs/{run_id}/events",
        "WatchRun",
        "A run's events as Server-Sent Events: history from from_seq (or Last-Event-ID + 1), then live until the "
        "run ends",
        kind=Kind.EVENTS,
        cookie_auth=True,
    ),
    Route("GET", "/v1/runs/{run_id}/artifacts", "ListArtifacts", "List a run's artifacts"),
    Route(
        "GET",
        "/v1/runs/{run_id}/artifacts/{name}",
        "GetArtifact",
        "Download one artifact (name is its path relative to the run; '/' allowed)",
        kind=Kind.DOWNLOAD,
        cookie_auth=True,
    ),
    Route("GET", "/v1/competitions", "ListCompetitions", "List the competition registry"),
    Route(
        "GET", "/v1/competitions/{competition_id}", "GetCompetition", "Get one competition", response_body="competition"
    ),
    Route(
        "POST",
        "/v1/competitions/{competition_id}:prepare",
        "PrepareCompetition",
        "Prepare a competition; progress as Server-Sent Events",
        body=True,
        kind=Kind.EVENTS,
    ),
    Route("POST", "/v1/tokens", "CreateToken", "Create an API token (the secret is shown only here)", body=True),
    Route("GET", "/v1/tokens", "ListTokens", "List API tokens (never their secrets)"),
    Route(
        "POST",
        "/v1/tokens/{token_id}:revoke",
        "RevokeToken",
        "Revoke an API token",
        body=True,
        response_body="api_token",
    ),
    Route("GET", "/v1/caller", "GetCaller", "Who the calling token belongs to"),
    Route("POST", "/v1/runs:prune", "PruneRuns", "Admins: remove finished runs a retention bound selects", body=True),
    Route(
        "POST",
        "/v1/evaluations",
        "CreateEvaluation",
        "Start an evaluation: an agent x competitions x seeds",
        body=True,
        response_body="evaluation",
    ),
    Route("GET", "/v1/evaluations", "ListEvaluations", "List evaluations, newest first"),
    Route(
        "GET",
        "/v1/evaluations/{evaluation_id}",
        "GetEvaluation",
        "Get an evaluation with its runs and figures",
        response_body="evaluation",
    ),
    Route(
        "POST",
        "/v1/evaluations/{evaluation_id}:cancel",
        "CancelEvaluation",
        "Cancel an evaluation",
        body=True,
        response_body="evaluation",
    ),
    Route(
        "GET",
        "/v1/evaluations/{evaluation_id}/events",
        "WatchEvaluation",
        "An evaluation's progress as Server-Sent Events: history from from_seq, then live until it ends",
        kind=Kind.EVENTS,
        cookie_auth=True,
        response_body="event",
    ),
    Route(
        "POST",
        "/v1/evaluations/{evaluation_id}:resume",
        "ResumeEvaluation",
        "Run again an ended evaluation's system failures and cancelled cells",
        body=True,
        response_body="evaluation",
    ),
    Route(
        "POST",
        "/v1/agents",
        "CreateAgent",
        'Create an agent from a git URL and ref (body: {"header": {...}}); a folder\'s tar context is uploaded '
        "through gRPC's streaming CreateAgent (the CLI's `agents add DIR`)",
        body=True,
        response_body="agent",
    ),
    Route("GET", "/v1/agents", "ListAgents", "List the agents the caller can see: built-ins, shared and their own"),
    Route(
        "GET",
        "/v1/agents/{name}/build",
        "WatchAgentBuild",
        "An agent's build log as Server-Sent Events, then the agent once the build (and verification) ended",
        kind=Kind.EVENTS,
        cookie_auth=True,
    ),
    Route(
        "POST",
        "/v1/agents/{name}:share",
        "ShareAgent",
        "Admins: share an agent with every user, or stop",
        body=True,
        response_body="agent",
    ),
    Route(
        "GET",
        "/v1/agents/{name}",
        "GetAgent",
        "Get an agent (a short name, or users/<user>/agents/<name>; '/' allowed)",
        response_body="agent",
    ),
    Route("DELETE", "/v1/agents/{name}", "DeleteAgent", "Delete one of the caller's agents", response_body="agent"),
)

#: gRPC status → HTTP status. FAILED_PRECONDITION is 409: the request is fine but the server's state
#: (e.g. a competition not prepared) conflicts with it.
HTTP_STATUS: Mapping[str, int] = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 409,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


def to_json(message: Message) -> dict[str, Any]:
    """A message as the HTTP API answers it (the house's JSON, `mleredux.proto_json`)."""
    return proto_json.to_json(message)


def _field_by_name(descriptor: Descriptor, name: str) -> FieldDescriptor | None:
    field = descriptor.fields_by_name.get(name)
    if field is None:
        field = next((f for f in descriptor.fields if f.json_name == name), None)
    return field


def _query_value(field: FieldDescriptor, text: str) -> object:
    """A query-string value as json_format expects it (it parses numbers and enum names from text)."""
    if field.type == FieldDescriptor.TYPE_BOOL:
        lowered = text.lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0", ""):
            return False
        raise InvalidArgumentError(f"query parameter {field.name}: expected true or false, got {text!r}")
    return text


def _check_fields(data: Mapping[str, object], descriptor: Descriptor, path: str) -> None:
    """Unknown fields named by their path (json_format's message lists camelCase names instead)."""
    for key, value in data.items():
        field = _field_by_name(descriptor, key)
        where = f"{path}.{key}" if path else key
        if field is None:
            known = ", ".join(f.name for f in descriptor.fields)
            raise InvalidArgumentError(f"unknown field {where!r} (fields of {descriptor.name}: {known})")
        target = field.message_type
        if target is None or target.full_name.startswith("google.protobuf."):
            continue
        if target.GetOptions().map_entry:
            target = target.fields_by_name["value"].message_type
            if target is not None and isinstance(value, dict):
                for item_key, item in value.items():
                    if isinstance(item, dict):
                        _check_fields(item, target, f"{where}.{item_key}")
        elif field.is_repeated and isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    _check_fields(item, target, f"{where}[{index}]")
        elif isinstance(value, dict):
            _check_fields(value, target, where)


def _parse_error(exc: json_format.ParseError) -> InvalidArgumentError:
    # json_format's messages name the field ("Failed to parse compute field: ... at
    # CreateRunRequest.compute.cpus"); keep them, on one line.
    text = " ".join(str(exc).split())
    return InvalidArgumentError(f"invalid request: {text}")


def build_request(route: Route, path: Mapping[str, str], query: Mapping[str, str], body: bytes) -> Message:
    """The route's request message from the path parameters, the query string and the body."""
    data: dict[str, object] = {}
    if route.body:
        if body.strip():
            try:
                parsed = json.loads(body)
            except (ValueError, RecursionError) as exc:
                raise InvalidArgumentError(f"the request body is not valid JSON: {exc}") from None
            if not isinstance(parsed, dict):
                raise InvalidArgumentError(f"the request body must be a JSON object, not {type(parsed).__name__}")
            data = parsed
        if query:
            raise InvalidArgumentError(
                f"unknown query parameter {next(iter(query))!r}: {route.method} {route.path} takes a JSON body"
            )
    else:
        allowed = ", ".join(f.name for f in route.query_fields) or "none"
        for key in query:
            field = _field_by_name(route.request_descriptor, key)
            if field is None or field.name in route.path_params:
                raise InvalidArgumentError(f"unknown query parameter {key!r} (allowed: {allowed})")
            if field.name in data:
                raise InvalidArgumentError(f"query parameter {field.name} is given twice")
            data[field.name] = _query_value(field, query[key])
    for name in route.path_params:
        for key in (name, _field_by_name(route.request_descriptor, name).json_name):  # type: ignore[union-attr]
            if key in data and data[key] != path[name]:
                raise InvalidArgumentError(f"{name} is in the path; the body gives a different one")
            data.pop(key, None)
        data[name] = path[name]
    message = route.new_request()
    try:
        _check_fields(data, route.request_descriptor, "")
        json_format.ParseDict(data, message)
    except json_format.ParseError as exc:
        raise _parse_error(exc) from None
    except RecursionError:
        raise InvalidArgumentError("the request body is nested too deeply") from None
    return message
