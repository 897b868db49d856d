"""Our local base images for agents, and the host-side build of an agent folder.

Users bring agents through the gateway (`mleredux agents add`, services/gateway/agents.py), and the
runners build them (mleredux/agent_context.py). Those builds, and `add_agent` below (a build on this
host's engine, kept for tests and operators), have stable aliases of our bases to build on:

- `mleredux-base-python:latest`: Debian's Python 3.11 with pandas, numpy and scikit-learn (the
  baseline agent's base; built on first use, about a minute);
- `mleredux-base-busybox:latest`: busybox and the validation client (the dummy agent's image).

Nothing is pulled, and builds run with no network (`--network none`), like the agents themselves.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mleredux.errors import MleReduxError
from mleredux.images import (
    _NAME_RE,
    TAG_PREFIX,
    ImageBuildError,
    _docker,
    _image_exists,
    build_image,
    content_digest,
    list_images,
    stream_command,
)

#: Marks images built by `agents add`, so `agents list` and runs can find them.
USER_AGENT_LABEL = "mleredux.user_agent"
PYTHON_BASE = "mleredux-base-python:latest"
BUSYBOX_BASE = "mleredux-base-busybox:latest"
_FROM_RE = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)", re.IGNORECASE | re.MULTILINE)


class AgentDefinitionError(MleReduxError):
    """The agent directory cannot be built as given (no Dockerfile, a bad name, a base we do not have)."""

    grpc_code = "INVALID_ARGUMENT"


@dataclass(frozen=True)
class AddedAgent:
    name: str
    tag: str
    built: bool
    seconds: float


def ensure_bases(on_output: Callable[[str], None] | None = None) -> None:
    """Build (if needed) the baseline and dummy images and alias their bases for Dockerfiles."""
    build_image("baseline", on_output=on_output)
    python = _docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", "mleredux-base-python").stdout.split()
    hashed = [tag for tag in python if not tag.endswith(":latest")]
    if not hashed:
        raise ImageBuildError("building the baseline agent left no mleredux-base-python image to build on")
    _tag(hashed[0], PYTHON_BASE)
    _tag(build_image("dummy", on_output=on_output).tag, BUSYBOX_BASE)


def _tag(source: str, target: str) -> None:
    done = _docker("tag", source, target)
    if done.returncode != 0:
        raise ImageBuildError(f"cannot tag {source} as {target}: {done.stderr.strip()}")


def _bases(dockerfile: Path) -> list[str]:
    stages: set[str] = set()
    bases = []
    for match in _FROM_RE.finditer(dockerfile.read_text(errors="replace")):
        image = match.group(1)
        line = match.string[match.start() : match.string.find("\n", match.start())]
        alias = re.search(r"\s+AS\s+(\S+)", line, re.IGNORECASE)
        if image not in stages and image.lower() != "scratch":
            bases.append(image)
        if alias:
            stages.add(alias.group(1))
    return bases


def add_agent(
    directory: Path, name: str | None = None, *, on_output: Callable[[str], None] | None = None
) -> AddedAgent:
    """Build the agent in `directory` (its Dockerfile) unless that exact content is built already."""
    start = time.monotonic()
    directory = directory.resolve()
    dockerfile = directory / "Dockerfile"
    if not dockerfile.is_file():
        raise AgentDefinitionError(f"{directory} has no Dockerfile (an agent is a directory with a Dockerfile)")
    name = name or directory.name.lower()
    if not _NAME_RE.match(name):
        raise AgentDefinitionError(
            f"{name!r} is not a valid agent name (lowercase letters and digits, separated by . _ or -); pass --name"
        )
    if name in list_images():
        raise AgentDefinitionError(f"{name!r} is a built-in agent; choose another --name")
    bases = _bases(dockerfile)
    if any(base in (PYTHON_BASE, BUSYBOX_BASE) for base in bases):
        ensure_bases(on_output)
    missing = [base for base in bases if not _image_exists(base)]
    if missing:
        raise AgentDefinitionError(
            f"{dockerfile} builds FROM {', '.join(missing)}, which this Docker engine does not have and cannot "
            f"pull (no registry); build on {PYTHON_BASE} or {BUSYBOX_BASE}"
        )
    tag = f"{TAG_PREFIX}{name}:{content_digest([directory], root=directory.parent)[:12]}"
    if _image_exists(tag):
        _tag(tag, f"{TAG_PREFIX}{name}:latest")
        return AddedAgent(name, tag, built=False, seconds=time.monotonic() - start)
    command = ["docker", "build", "--network", "none", "--label", f"{USER_AGENT_LABEL}={name}"]
    command += ["-t", tag, "-t", f"{TAG_PREFIX}{name}:latest", str(directory)]
    rc, tail = stream_command(command, directory, on_output)
    if rc != 0:
        quoted = "\n".join(f"  {line}" for line in tail) or "  (no output)"
        raise ImageBuildError(f"building agent {name!r} from {dockerfile} failed (exit {rc}); last output:\n{quoted}")
    return AddedAgent(name, tag, built=True, seconds=time.monotonic() - start)


def list_user_agents() -> dict[str, str]:
    """Agents added with `agents add`: name -> image (its latest build)."""
    done = _docker(
        "image",
        "ls",
        "--filter",
        f"label={USER_AGENT_LABEL}",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    )
    if done.returncode != 0:
        return {}
    agents = {}
    for reference in done.stdout.split():
        repository, _, tag = reference.partition(":")
        if tag == "latest" and repository.startswith(TAG_PREFIX):
            agents[repository[len(TAG_PREFIX) :]] = reference
    return dict(sorted(agents.items()))


def user_agent_image(name: str) -> str | None:
    """The image of an added agent called `name`, or None."""
    if not _NAME_RE.match(name):
        return None
    reference = f"{TAG_PREFIX}{name}:latest"
    done = _docker("image", "inspect", "--format", f'{{{{index .Config.Labels "{USER_AGENT_LABEL}"}}}}', reference)
    if done.returncode != 0 or done.stdout.strip() != name:
        return None
    return reference
