"""Protobuf messages as the house writes them in JSON: one mapping for report.json, `mleredux grade`,
the CLI and the HTTP API, so one message never has two JSON shapes.

It is protobuf's JSON mapping (`json_format`) with the proto field names and every field present,
and two departures that make the documents plain JSON a reader need not know protobuf for:
- 64-bit integers are JSON numbers, not decimal strings (every value we carry fits in the 2^53 a
  JSON number holds exactly; protobuf's parsers accept numbers for int64 too);
- a field that can be unset (`optional` scalars, messages outside a `oneof`) is `null` when unset, so
  MLE-bench's `"score": null` for an invalid submission keeps its shape. `oneof` members that are not
  set stay absent: the one that is present says which it is.

`google.protobuf.Struct` values (rollout payloads, report details) are JSON objects; their numbers are
doubles on the wire, and the integral ones come back as integers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format, struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

_INT64 = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED64,
    }
)
_STRUCT_TYPES = frozenset({"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"})
#: Integers up to this magnitude survive a round trip through a double exactly.
_EXACT_INT = 2**53


def to_json(message: Message) -> dict[str, Any]:
    """The message as a JSON object (see the module's docstring for the rules)."""
    data = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return _normalize(message.DESCRIPTOR, data)  # type: ignore[arg-type]


def from_json(data: Mapping[str, Any], message: Message) -> Message:
    """Fills `message` from a JSON object written by `to_json` (nulls are unset fields); returns it."""
    json_format.ParseDict(dict(data), message)
    return message


def is_nullable(field: FieldDescriptor) -> bool:
    """True for a field `to_json` writes as null when it is unset."""
    if field.is_repeated or not field.has_presence:
        return False
    oneof = field.containing_oneof
    # proto3 `optional` is a oneof of one field, named after it with a leading underscore.
    return oneof is None or (len(oneof.fields) == 1 and oneof.name == f"_{field.name}")


def struct_from(value: Any, *, non_finite_as_null: bool = False) -> struct_pb2.Struct:
    """A JSON value as a Struct: an object as itself, anything else as {"value": ...}.

    Raises ValueError for keys that are not strings and for what JSON cannot hold (NaN, infinities;
    with `non_finite_as_null` those become null instead), so a caller turns an agent's value into a
    warning instead of storing something no reader can print.
    """
    if not isinstance(value, Mapping):
        value = {"value": value}
    if non_finite_as_null:
        value = _finite_or_null(value)
    _check_finite(value)
    struct = struct_pb2.Struct()
    try:
        struct.update(value)
    except (TypeError, AttributeError) as exc:
        raise ValueError(f"not a JSON value: {exc}") from None
    return struct


def struct_to_python(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as a plain dict, integral numbers as ints."""
    return _integral(json_format.MessageToDict(struct))  # type: ignore[no-any-return]


def _check_finite(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"{item} is not a JSON number")
        if isinstance(item, Mapping):
            for key in item:
                if not isinstance(key, str):
                    raise ValueError(f"object key {key!r} is not a string")
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


def _finite_or_null(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite_or_null(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_null(v) for v in value]
    return value


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) <= _EXACT_INT:
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def _normalize(descriptor: Descriptor, data: dict[str, Any]) -> dict[str, Any]:
    """`data` with the rules applied, its keys in the .proto's declaration order."""
    out: dict[str, Any] = {}
    for field in descriptor.fields:
        if field.name not in data:
            if is_nullable(field):
                out[field.name] = None
            continue
        value = data[field.name]
        message_type = field.message_type
        if message_type is not None and message_type.GetOptions().map_entry:
            value_field = message_type.fields_by_name["value"]
            out[field.name] = {key: _value(value_field, item) for key, item in value.items()}
        elif field.is_repeated:
            out[field.name] = [_value(field, item) for item in value]
        else:
            out[field.name] = _value(field, value)
    return out


def _value(field: FieldDescriptor, value: Any) -> Any:
    message_type = field.message_type
    if message_type is not None:
        if message_type.full_name in _STRUCT_TYPES:
            return _integral(value)
        if isinstance(value, dict) and not message_type.full_name.startswith("google.protobuf."):
            return _normalize(message_type, value)
        return value
    if field.type in _INT64 and isinstance(value, str):
        return int(value)
    return value
