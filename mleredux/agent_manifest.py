"""`agent.toml`: what an agent declares about itself, checked when it is created (never at run time).

Every key is optional; an unknown key, a wrong type or a bad value is an `AgentDefinitionError` that
names the key::

    command = ["python3", "/home/agent/agent.py"]   # the container's command (default: the image's CMD)
    gpus = 0                                          # GPUs it needs, passed as device requests
    model_endpoints = ["openai"]                      # endpoints it wants (stored; granted by later work)
    [env]                                             # default environment (a run's env overrides it)
    STEPS = "3"
    [args]                                            # any TOML table: /home/agent_args.json and AGENT_ARGS
    steps = 3
    [compute]                                         # default profile (a run's own fields override it)
    cpus = 1.0
    memory_mib = 2048
    time_limit_seconds = 600
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

from mleredux.errors import InvalidArgumentError
from mleredux.v1 import common_pb2

MANIFEST_NAME = "agent.toml"
#: A manifest is a small file; a larger one is refused before it is parsed.
MANIFEST_MAX_BYTES = 64 * 1024
#: The JSON of `[args]` reaches the container as an environment variable, so it is kept small.
ARGS_MAX_BYTES = 32 * 1024
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEYS = frozenset({"command", "gpus", "model_endpoints", "env", "args", "compute"})
_COMPUTE_KEYS = {"cpus": float, "memory_mib": int, "time_limit_seconds": int, "gpus": int}


class AgentDefinitionError(InvalidArgumentError):
    """An agent's context cannot be built as given (its Dockerfile, its manifest, its archive)."""


def _fail(message: str) -> AgentDefinitionError:
    return AgentDefinitionError(f"{MANIFEST_NAME}: {message}")


def _string_list(value: object, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise _fail(f"{key} must be a list of non-empty strings")
    return list(value)


def parse_manifest(data: bytes) -> common_pb2.AgentManifest:
    """The manifest in `data` (the bytes of agent.toml), validated."""
    if len(data) > MANIFEST_MAX_BYTES:
        raise _fail(f"is {len(data)} bytes, above the limit of {MANIFEST_MAX_BYTES}")
    try:
        table: dict[str, Any] = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise _fail("is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise _fail(f"is not valid TOML: {exc}") from None
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise _fail(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
    manifest = common_pb2.AgentManifest()
    if "command" in table:
        manifest.command.extend(_string_list(table["command"], "command"))
        if not manifest.command:
            raise _fail("command must not be empty (leave it out to use the image's CMD)")
    if "model_endpoints" in table:
        manifest.model_endpoints.extend(_string_list(table["model_endpoints"], "model_endpoints"))
    if "gpus" in table:
        gpus = table["gpus"]
        if isinstance(gpus, bool) or not isinstance(gpus, int) or not 0 <= gpus <= 64:
            raise _fail("gpus must be a whole number from 0 to 64")
        manifest.gpus = gpus
    env = table.get("env", {})
    if not isinstance(env, dict):
        raise _fail('[env] must be a table of NAME = "value"')
    for name, value in env.items():
        if not _ENV_NAME.match(name):
            raise _fail(f"env: {name!r} is not a variable name (letters, digits and _)")
        if not isinstance(value, str) or "\0" in value:
            raise _fail(f"env.{name} must be a string without NUL characters")
        manifest.env[name] = value
    if "args" in table:
        if not isinstance(table["args"], dict):
            raise _fail("[args] must be a table")
        text = json.dumps(table["args"], sort_keys=True, default=str)
        if len(text.encode()) > ARGS_MAX_BYTES:
            raise _fail(f"[args] is {len(text.encode())} bytes as JSON, above the limit of {ARGS_MAX_BYTES}")
        manifest.args_json = text
    compute = table.get("compute", {})
    if not isinstance(compute, dict):
        raise _fail("[compute] must be a table")
    for key, value in compute.items():
        kind = _COMPUTE_KEYS.get(key)
        if kind is None:
            raise _fail(f"compute: unknown key {key!r} (known: {', '.join(_COMPUTE_KEYS)})")
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (kind is int and not isinstance(value, int))
        ):
            raise _fail(f"compute.{key} must be a {'whole ' if kind is int else ''}number")
        if value <= 0:
            raise _fail(f"compute.{key} must be positive")
    if "cpus" in compute:
        manifest.compute.cpus = float(compute["cpus"])
    if "memory_mib" in compute:
        manifest.compute.memory_bytes = int(compute["memory_mib"]) << 20
    if "time_limit_seconds" in compute:
        manifest.compute.time_limit_seconds = int(compute["time_limit_seconds"])
    if "gpus" in compute:
        manifest.compute.gpus = int(compute["gpus"])
    if manifest.gpus and not manifest.compute.gpus:
        manifest.compute.gpus = manifest.gpus
    return manifest
