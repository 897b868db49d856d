"""An agent's build context: checked, unpacked, cloned and built on a runner host's Docker engine.

A context is a directory with a `Dockerfile` (and optionally `agent.toml`, see agent_manifest.py). It
reaches a runner as a tar (uploaded through the gateway into the store) or as a git URL and ref the
runner clones. Before anything is built:

- the tar must be a tar of plain files and directories, with no absolute path, no `..`, no link
  pointing out of it and no device; it must hold a Dockerfile at its top;
- every `FROM` must be one of our local bases (`mleredux-base-python:latest`,
  `mleredux-base-busybox:latest`) or an earlier stage; nothing is ever pulled;
- `ADD` of a URL, `RUN --network` and `--platform` are refused: the build has no network
  (`docker build --network none`), so these could only fail later with a vaguer message.

The image tag is `mleredux-user-agent:<16 hex>`, a sha256 over the unpacked files' paths and contents:
the same context builds once, however often (and by whomever) it is uploaded.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from mleredux.agent_manifest import MANIFEST_NAME, AgentDefinitionError, parse_manifest
from mleredux.errors import MleReduxError
from mleredux.images import content_digest
from mleredux.user_agents import BUSYBOX_BASE, PYTHON_BASE
from mleredux.v1 import common_pb2

ALLOWED_BASES = (PYTHON_BASE, BUSYBOX_BASE)
USER_AGENT_REPOSITORY = "mleredux-user-agent"
#: Marks images built from users' contexts (the value is the agent's resource name).
AGENT_LABEL = "mleredux.agent_resource"
#: A tar with more members than this is refused (a context is an agent's code, not a dataset).
MAX_MEMBERS = 10_000
#: What a context may unpack to: a gzip tar under the upload cap could otherwise fill a disk.
MAX_UNPACKED_BYTES = 1 << 30
DOCKERFILE_MAX_BYTES = 256 * 1024
_FROM_RE = re.compile(r"^\s*FROM\s+(.*)$", re.IGNORECASE)
_ADD_URL_RE = re.compile(r"^\s*ADD\s+(?:--\S+\s+)*\S*(?:https?|ftp|git)://", re.IGNORECASE)
_RUN_NETWORK_RE = re.compile(r"^\s*RUN\s+(?:--\S+\s+)*--network", re.IGNORECASE)
_ERROR_TAIL = 30


class AgentBuildError(MleReduxError):
    """A context that was fine to look at did not build (Docker failed, a timeout, a clone failed)."""

    grpc_code = "FAILED_PRECONDITION"


class GitSourceError(AgentDefinitionError):
    """A git URL that is not allowed, does not clone, or has no such ref."""


def check_dockerfile(text: str) -> None:
    """Refuses a Dockerfile that would pull, reach the network or build on anything but our bases."""
    stages: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        if _ADD_URL_RE.match(line):
            raise AgentDefinitionError(
                f"Dockerfile line {number}: ADD of a URL needs the network, and agent builds have none; "
                "put the file in the context"
            )
        if _RUN_NETWORK_RE.match(line):
            raise AgentDefinitionError(f"Dockerfile line {number}: RUN --network is not allowed (builds have none)")
        match = _FROM_RE.match(line)
        if not match:
            continue
        words = match.group(1).split()
        if any(word.lower().startswith("--platform") for word in words):
            raise AgentDefinitionError(f"Dockerfile line {number}: FROM --platform is not allowed (nothing is pulled)")
        if not words:
            raise AgentDefinitionError(f"Dockerfile line {number}: FROM names no image")
        image = words[0]
        if image not in stages and image not in ALLOWED_BASES:
            raise AgentDefinitionError(
                f"Dockerfile line {number}: FROM {image} is not one of our bases; nothing is pulled, so an agent "
                f"builds on {PYTHON_BASE} or {BUSYBOX_BASE} (or an earlier stage of the same Dockerfile)"
            )
        if len(words) >= 3 and words[1].lower() == "as":
            stages.add(words[2])
    if not stages and not any(_FROM_RE.match(line) for line in text.splitlines()):
        raise AgentDefinitionError("the Dockerfile has no FROM line")


def check_directory(directory: Path) -> common_pb2.AgentManifest:
    """Checks an unpacked context (Dockerfile, manifest); returns its manifest (empty without one)."""
    dockerfile = directory / "Dockerfile"
    if not dockerfile.is_file() or dockerfile.is_symlink():
        raise AgentDefinitionError("the context has no Dockerfile at its top (an agent is a folder with a Dockerfile)")
    if dockerfile.stat().st_size > DOCKERFILE_MAX_BYTES:
        raise AgentDefinitionError(f"the Dockerfile is larger than {DOCKERFILE_MAX_BYTES} bytes")
    check_dockerfile(dockerfile.read_text(errors="replace"))
    manifest = directory / MANIFEST_NAME
    if manifest.is_symlink():
        raise AgentDefinitionError(f"{MANIFEST_NAME} must be a file, not a link")
    return parse_manifest(manifest.read_bytes()) if manifest.is_file() else common_pb2.AgentManifest()


def unpack_tar(archive: Path, target: Path, *, max_bytes: int = MAX_UNPACKED_BYTES) -> None:
    """Unpacks a context tar into `target` (which must exist), refusing anything but files and folders
    inside it."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = []
            unpacked = 0
            for member in tar:
                members.append(member)
                unpacked += member.size
                if len(members) > MAX_MEMBERS:
                    raise AgentDefinitionError(f"the context has more than {MAX_MEMBERS} entries")
                if unpacked > max_bytes:
                    raise AgentDefinitionError(f"the context unpacks to more than {max_bytes >> 20} MiB")
                name = member.name
                if name.startswith("/") or ".." in Path(name).parts:
                    raise AgentDefinitionError(f"the context's entry {name[:100]!r} points outside it")
                if not (member.isfile() or member.isdir() or member.issym()):
                    raise AgentDefinitionError(f"the context's entry {name[:100]!r} is not a file, folder or link")
            # The "data" filter refuses links out of the tree and drops modes a context has no use for.
            tar.extractall(target, members=members, filter="data")
    except tarfile.ReadError:
        raise AgentDefinitionError("the context is not a tar archive (plain or gzip)") from None
    except tarfile.FilterError as exc:
        raise AgentDefinitionError(f"the context has an entry that points outside it: {exc}") from None
    except EOFError:
        raise AgentDefinitionError("the context tar is truncated") from None


def check_git_url(url: str, *, allow_file: bool) -> None:
    """https:// always; file:// only on a runner that allows it (one machine, its own folders)."""
    scheme = urlparse(url).scheme
    if scheme == "https" or (scheme == "file" and allow_file):
        return
    allowed = "https:// or file://" if allow_file else "https://"
    raise GitSourceError(f"git URL {url[:100]!r}: only {allowed} URLs are cloned")


def _git(args: list[str], cwd: Path | None, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd or Path("/tmp")),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    # Only the protocols check_git_url lets through; no submodules, hooks or credential helpers.
    base = [
        "git",
        "-c",
        "protocol.allow=never",
        "-c",
        "protocol.https.allow=always",
        "-c",
        "protocol.file.allow=always",
    ]
    base += ["-c", "core.hooksPath=/dev/null", "-c", "credential.helper="]
    try:
        return subprocess.run(
            [*base, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise AgentBuildError(f"git {args[0]} did not finish within {timeout:.0f} s") from None
    except FileNotFoundError:
        raise AgentBuildError("git is not installed on the runner host") from None


def clone(url: str, ref: str, target: Path, *, allow_file: bool, timeout: float) -> str:
    """Clones `url` into `target` at `ref` (default branch when empty); returns the commit. The
    checkout's `.git` is removed: the context is the files, and its hash their content."""
    check_git_url(url, allow_file=allow_file)
    if ref.startswith("-"):
        raise GitSourceError(f"ref {ref[:100]!r} is not a git ref")
    done = _git(["clone", "--quiet", "--no-checkout", "--", url, str(target)], None, timeout)
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise GitSourceError(f"git URL {url[:100]!r} does not clone: {detail[:300]}")
    commit = ""
    for candidate in [f"origin/{ref}", ref] if ref else ["HEAD"]:
        found = _git(["rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"], target, timeout)
        if found.returncode == 0:
            commit = found.stdout.strip()
            break
    if not commit:
        raise GitSourceError(f"ref {ref!r} does not exist in {url[:100]!r}")
    done = _git(["checkout", "--quiet", "--detach", commit], target, timeout)
    if done.returncode != 0:
        raise AgentBuildError(f"git checkout of {commit[:12]} failed: {done.stderr.strip()[:300]}")
    shutil.rmtree(target / ".git")
    return commit


def image_tag(directory: Path) -> str:
    return f"{USER_AGENT_REPOSITORY}:{content_digest([directory], root=directory)[:16]}"


@dataclass(frozen=True)
class BuiltImage:
    image: str
    digest: str
    size_bytes: int
    built: bool


def _inspect(tag: str) -> tuple[str, int] | None:
    done = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Id}} {{.Size}}", tag],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        return None
    digest, _, size = done.stdout.strip().partition(" ")
    return json.loads(digest), int(size or 0)


def build(directory: Path, *, label: str, timeout: float, on_output: Callable[[str], None] | None = None) -> BuiltImage:
    """Builds the checked context in `directory` with no network (reusing an identical earlier build)."""
    tag = image_tag(directory)
    existing = _inspect(tag)
    if existing is not None:
        return BuiltImage(tag, existing[0], existing[1], built=False)
    # --force-rm: the engine's classic builder keeps the container of a failed step otherwise, one
    # left on the host per failed build (29 had piled up here from one test's failing build).
    command = [
        "docker",
        "build",
        "--force-rm",
        "--network",
        "none",
        "--label",
        f"{AGENT_LABEL}={label}",
        "-t",
        tag,
        ".",
    ]
    tail: collections.deque[str] = collections.deque(maxlen=_ERROR_TAIL)
    proc = subprocess.Popen(
        command,
        cwd=directory,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        bufsize=1,
    )
    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        proc.kill()  # the engine cancels a build whose client went away

    timer = threading.Timer(timeout, stop)
    timer.start()
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            tail.append(line)
            if on_output is not None:
                on_output(line)
    finally:
        timer.cancel()
        proc.stdout.close()
        rc = proc.wait()
    if timed_out.is_set():
        raise AgentBuildError(f"the build did not finish within its limit of {timeout:.0f} s")
    if rc != 0:
        network = [t for t in tail if re.search(r"resolv|network|could not connect|temporary failure", t, re.I)]
        reason = "it tried to reach the network, and agent builds have none" if network else f"docker exited {rc}"
        quoted = "\n".join(f"  {t}" for t in tail) or "  (no output)"
        raise AgentBuildError(f"the build failed: {reason}; last output:\n{quoted}")
    found = _inspect(tag)
    if found is None:
        raise AgentBuildError(f"the build succeeded but left no image {tag}")
    return BuiltImage(tag, found[0], found[1], built=True)
