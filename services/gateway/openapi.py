"""The OpenAPI 3.1 document of the HTTP API, generated from the route table and the proto descriptors.

Nothing here is written by hand per message: every schema comes from a message descriptor, following
the JSON the API writes (`mleredux.proto_json`: integers as numbers, enums by name, Timestamps as
RFC 3339 strings, bytes as base64, Structs as objects, unset optional fields null), so the document
cannot drift from the .proto files.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from mleredux.proto_json import is_nullable
from services.gateway.rest_routes import HTTP_STATUS, ROUTES, TOKEN_COOKIE, Kind, Route

_INT64 = (
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64,
)
_INT32 = (
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_FIXED32,
    FieldDescriptor.TYPE_SFIXED32,
)
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?\d+(\.\d+)?s$"},
    "google.protobuf.Struct": {"type": "object", "description": "any JSON object"},
    "google.protobuf.Value": {"description": "any JSON value"},
    "google.protobuf.ListValue": {"type": "array", "description": "any JSON array"},
}
_ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error: the gRPC status name and a message for people (naming the field for bad input).",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "string", "enum": sorted(HTTP_STATUS)},
        "message": {"type": "string"},
    },
}


def _ref(descriptor: Descriptor) -> dict[str, Any]:
    if descriptor.full_name in _WELL_KNOWN:
        return dict(_WELL_KNOWN[descriptor.full_name])
    return {"$ref": f"#/components/schemas/{descriptor.full_name}"}


def _scalar_schema(field: FieldDescriptor) -> dict[str, Any]:
    if field.message_type is not None:
        return _ref(field.message_type)
    if field.enum_type is not None:
        return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
    if field.type == FieldDescriptor.TYPE_BOOL:
        return {"type": "boolean"}
    if field.type == FieldDescriptor.TYPE_STRING:
        return {"type": "string"}
    if field.type == FieldDescriptor.TYPE_BYTES:
        return {"type": "string", "contentEncoding": "base64"}
    if field.type in _INT64:
        return {
            "type": "integer",
            "format": "int64",
            "description": "a 64-bit integer, a JSON number (requests may also send a decimal string)",
        }
    if field.type in _INT32:
        return {"type": "integer", "format": "int32"}
    # float and double: JSON numbers, or "NaN", "Infinity", "-Infinity".
    return {"type": ["number", "string"], "format": "double"}


def field_schema(field: FieldDescriptor) -> dict[str, Any]:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value = field.message_type.fields_by_name["value"]
        return {"type": "object", "additionalProperties": _scalar_schema(value)}
    if field.is_repeated:
        return {"type": "array", "items": _scalar_schema(field)}
    schema = _scalar_schema(field)
    if is_nullable(field):
        # Unset, it is written as null.
        return {"anyOf": [schema, {"type": "null"}]}
    return schema


def _collect(descriptor: Descriptor, schemas: dict[str, dict[str, Any]]) -> None:
    """Adds the schema of `descriptor` and of every message it reaches."""
    if descriptor.full_name in schemas or descriptor.full_name in _WELL_KNOWN:
        return
    properties: dict[str, Any] = {}
    schemas[descriptor.full_name] = {"type": "object", "additionalProperties": False, "properties": properties}
    for field in descriptor.fields:
        properties[field.name] = field_schema(field)
        target = field.message_type
        if target is not None:
            if target.GetOptions().map_entry:
                target = target.fields_by_name["value"].message_type
            if target is not None:
                _collect(target, schemas)


def _error_responses(route: Route) -> dict[str, Any]:
    codes = {400: "bad input; the message names the field", 401: "no valid API token", 404: "no such resource"}
    if route.method == "POST":
        codes[403] = "not allowed for this caller"
        codes[409] = "the server's state does not allow it (e.g. not prepared)"
    codes[503] = "a service behind the gateway is unavailable"
    ref = {"$ref": "#/components/schemas/Error"}
    return {
        str(code): {"description": text, "content": {"application/json": {"schema": ref}}}
        for code, text in sorted(codes.items())
    }


def _operation(route: Route) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = []
    for name in route.path_params:
        field = route.request_descriptor.fields_by_name[name]
        parameters.append({"name": name, "in": "path", "required": True, "schema": field_schema(field)})
    for field in route.query_fields:
        parameters.append({"name": field.name, "in": "query", "required": False, "schema": field_schema(field)})
    operation: dict[str, Any] = {
        "operationId": route.rpc,
        "summary": route.summary,
        "description": f"gRPC: mleredux.v1.GatewayService/{route.rpc}",
        "parameters": parameters,
        "security": [{"bearer": []}, {"cookie": []}] if route.cookie_auth else [{"bearer": []}],
        "responses": _error_responses(route),
    }
    if route.body:
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": _ref(route.request_descriptor)}},
        }
    if route.kind is Kind.UNARY:
        body = {"application/json": {"schema": _ref(route.answer_descriptor)}}
        operation["responses"]["200"] = {"description": "OK", "content": body}
    elif route.kind is Kind.EVENTS:
        item = route.response_descriptor
        if route.rpc == "WatchRun":
            item = route.response_descriptor.fields_by_name["events"].message_type or item
            parameters.append(
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "required": False,
                    "description": "resume after this seq (EventSource sends it on reconnect); wins over from_seq",
                    "schema": {"type": "string"},
                }
            )
        operation["responses"]["200"] = {
            "description": (
                f"text/event-stream: each `data:` line is one {item.name} as JSON"
                + (" with `id:` its seq" if route.rpc == "WatchRun" else "")
                + "; a final `event: end` closes the stream; `event: stream_error` carries an Error"
            ),
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    else:
        operation["responses"]["200"] = {
            "description": "the artifact's bytes",
            "content": {"application/octet-stream": {"schema": {"type": "string", "contentMediaType": "*/*"}}},
        }
    return operation


def openapi_document() -> dict[str, Any]:
    schemas: dict[str, dict[str, Any]] = {"Error": _ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        _collect(route.request_descriptor, schemas)
        _collect(route.answer_descriptor, schemas)
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    paths["/v1/openapi.json"] = {
        "get": {
            "operationId": "GetOpenApiDocument",
            "summary": "This document",
            "security": [],
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "MLE-Bench Redux gateway",
            "version": "v1",
            "description": (
                "HTTP/JSON over the gateway's gRPC API (mleredux.v1.GatewayService): the same calls, auth, "
                "validation and errors. Bodies use protobuf's JSON mapping with proto field names."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an API token, mlx_<id>_<secret>"},
                "cookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": TOKEN_COOKIE,
                    "description": "the viewer's token, for EventSource and download links only",
                },
            },
        },
    }
