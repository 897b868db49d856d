"""Agent images built locally, with no registry.

Every subdirectory of `agent_images/` holding a `build.sh` is an image; `build.sh TAG` must leave an image
called TAG in the local Docker engine (nothing is ever pulled). `agent_images/common/` holds files shared by
all images (the validation client) and is not an image itself.

The images are looked for inside the installed package first (a wheel carries `agent_images/` as
`mleredux/agent_images/`, see setup.py), then in the source tree beside the package; `MLEREDUX_AGENT_IMAGES`
overrides both.

Tags are content-addressed: `mleredux-agent-<name>:<12 hex>` over the image's directory and `common/`, so
editing any file yields a new tag and the next `build_image` rebuilds; an unchanged tree is never rebuilt.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from mleredux.errors import ImageMissingError, MleReduxError

COMMON_DIR_NAME = "common"
#: Inside `common/`: the script every agent container gets at /home/validate_submission.sh.
VALIDATE_SCRIPT_NAME = "validate_submission.sh"


def find_agent_images_dir() -> Path:
    """Where the agent images are: `MLEREDUX_AGENT_IMAGES` when set, else inside the installed package
    (a wheel carries them as `mleredux/agent_images/`, see setup.py), else the source tree's
    `agent_images/` beside the package (a checkout or an editable install)."""
    override = os.environ.get("MLEREDUX_AGENT_IMAGES")
    if override:
        return Path(override).resolve()
    packaged = Path(str(resources.files("mleredux"))) / "agent_images"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "agent_images"


AGENT_IMAGES_DIR = find_agent_images_dir()
TAG_PREFIX = "mleredux-agent-"

#: How many of the build's last output lines an ImageBuildError quotes.
_ERROR_TAIL_LINES = 40
#: Names Docker accepts as a repository path component (and that we accept as image dirs).
_NAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
#: Generated or cache files that never count towards an image's content hash.
_IGNORED_NAMES = frozenset({"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".DS_Store"})
_IGNORED_TOP_DIRS = frozenset({"build"})


class ImageBuildError(MleReduxError):
    """An agent image could not be built (build.sh failed, or Docker is unusable)."""

    grpc_code = "FAILED_PRECONDITION"


@dataclass(frozen=True)
class ImageBuildResult:
    name: str
    tag: str
    built: bool
    seconds: float


def validate_script() -> Path:
    """The validation client script mounted into every agent container (from `common/`)."""
    return AGENT_IMAGES_DIR / COMMON_DIR_NAME / VALIDATE_SCRIPT_NAME


def list_images() -> list[str]:
    """Names of the images under `agent_images/` (dirs with a build.sh), sorted."""
    if not AGENT_IMAGES_DIR.is_dir():
        return []
    return sorted(
        d.name
        for d in AGENT_IMAGES_DIR.iterdir()
        if d.is_dir() and d.name != COMMON_DIR_NAME and (d / "build.sh").is_file()
    )


def _image_dir(name: str) -> Path:
    if not _NAME_RE.match(name) or name == COMMON_DIR_NAME:
        raise ImageMissingError(f"{name!r} is not a valid agent image name")
    d = AGENT_IMAGES_DIR / name
    if not (d / "build.sh").is_file():
        known = ", ".join(list_images()) or "none"
        raise ImageMissingError(
            f"no agent image {name!r}: {d / 'build.sh'} does not exist (images under {AGENT_IMAGES_DIR}: {known})"
        )
    return d


def _iter_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        dirnames[:] = sorted(
            d for d in dirnames if d not in _IGNORED_NAMES and not (rel_dir == Path(".") and d in _IGNORED_TOP_DIRS)
        )
        for f in filenames:
            if f not in _IGNORED_NAMES and not f.endswith(".pyc"):
                yield Path(dirpath) / f


def content_digest(dirs: list[Path], root: Path | None = None) -> str:
    """sha256 over the paths (relative to `root`, default the agent images dir) and contents of every file."""
    root = root or AGENT_IMAGES_DIR
    entries: list[tuple[str, Path]] = []
    for d in dirs:
        if d.is_dir():
            entries.extend((p.relative_to(root).as_posix(), p) for p in _iter_files(d))
    h = hashlib.sha256()
    for rel, path in sorted(entries):
        if path.is_symlink():
            data = b"symlink:" + os.readlink(path).encode()
        else:
            data = path.read_bytes()
        rel_b = rel.encode()
        h.update(len(rel_b).to_bytes(8, "big") + rel_b)
        h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest()


def image_tag(name: str) -> str:
    """`mleredux-agent-<name>:<12 hex>`: sha256 over the image's dir and `common/` (paths and contents)."""
    d = _image_dir(name)
    return f"{TAG_PREFIX}{name}:{content_digest([d, AGENT_IMAGES_DIR / COMMON_DIR_NAME])[:12]}"


def resolve_agent_image(agent: str) -> str:
    """The Docker image to run for `agent`.

    A name of an image under `agent_images/` gives its content tag (build it with `build_image`);
    anything with ':' or '/' is a user's own image reference and is returned unchanged.
    """
    if ":" in agent or "/" in agent:
        return agent
    if agent in list_images():
        return image_tag(agent)
    from mleredux.user_agents import user_agent_image

    added = user_agent_image(agent)
    if added is not None:
        return added
    known = ", ".join(list_images()) or "none"
    raise ImageMissingError(
        f"unknown agent {agent!r}: not an image under {AGENT_IMAGES_DIR} (known: {known}); "
        "add your own with `mleredux agents add DIR`, or give an image as NAME:TAG"
    )


def _docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as e:
        raise ImageBuildError("the docker CLI is not installed; run scripts/ensure_docker.sh (as root) first") from e
    except subprocess.TimeoutExpired as e:
        raise ImageBuildError(f"`docker {' '.join(args)}` did not answer within {timeout:.0f} s") from e


def _check_engine() -> None:
    if shutil.which("docker") is None:
        raise ImageBuildError("the docker CLI is not installed; run scripts/ensure_docker.sh (as root) first")
    res = _docker("version", "--format", "{{.Server.Version}}", timeout=30)
    if res.returncode != 0:
        detail = (res.stderr or res.stdout).strip().splitlines()
        raise ImageBuildError(
            "the Docker engine does not answer; run scripts/ensure_docker.sh (as root) to start it"
            + (f": {detail[-1]}" if detail else "")
        )


def _image_id(tag: str) -> str | None:
    res = _docker("image", "inspect", "--format", "{{.Id}}", tag)
    return res.stdout.strip() if res.returncode == 0 else None


def _image_exists(tag: str) -> bool:
    return _image_id(tag) is not None


@contextlib.contextmanager
def _build_lock(name: str) -> Iterator[None]:
    """Serialise builds of one image across processes on this host (pytest workers, CLI and server)."""
    path = Path(tempfile.gettempdir()) / f"mleredux-image-{name}.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield  # cannot lock (read-only tmp, foreign owner): building twice is only slower
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def stream_command(
    command: list[str], cwd: Path, on_output: Callable[[str], None] | None, env: dict[str, str] | None = None
) -> tuple[int, list[str]]:
    """Run `command`, passing each output line (stdout and stderr) to `on_output` as it comes; returns
    the exit code and the last lines, for an error message."""
    tail: collections.deque[str] = collections.deque(maxlen=_ERROR_TAIL_LINES)
    try:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
        )
    except FileNotFoundError as e:
        raise ImageBuildError(f"cannot run {command[0]}: it is not installed") from e
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            tail.append(line)
            if on_output is not None:
                on_output(line)
    finally:
        proc.stdout.close()
        rc = proc.wait()
    return rc, list(tail)


def _run_build(name: str, directory: Path, tag: str, on_output: Callable[[str], None] | None) -> None:
    # Images that copy the host's library versions (the baseline's base) ask this Python, wherever the
    # package is installed, unless the caller chose one.
    env = {**os.environ, "MLEREDUX_HOST_PYTHON": os.environ.get("MLEREDUX_HOST_PYTHON") or sys.executable}
    rc, tail = stream_command(["bash", str(directory / "build.sh"), tag], directory, on_output, env)
    if rc != 0:
        quoted = "\n".join(f"  {t}" for t in tail) or "  (no output)"
        raise ImageBuildError(
            f"building agent image {name!r} ({tag}) failed: {directory / 'build.sh'} exited with {rc}; "
            f"its last output:\n{quoted}"
        )


def build_image(name: str, *, force: bool = False, on_output: Callable[[str], None] | None = None) -> ImageBuildResult:
    """Build `agent_images/<name>` unless its content tag already exists (or `force`).

    Output lines of build.sh go to `on_output` as they come. After a build the image is also tagged
    `mleredux-agent-<name>:latest`.
    """
    start = time.monotonic()
    directory = _image_dir(name)
    tag = image_tag(name)
    _check_engine()
    if not force and _image_exists(tag):
        return ImageBuildResult(name=name, tag=tag, built=False, seconds=time.monotonic() - start)
    with _build_lock(name):
        # Another process may have built it while we waited for the lock.
        if not force and _image_exists(tag):
            return ImageBuildResult(name=name, tag=tag, built=False, seconds=time.monotonic() - start)
        previous = _image_id(tag)
        _run_build(name, directory, tag, on_output)
        current = _image_id(tag)
        if current is None:
            raise ImageBuildError(f"{directory / 'build.sh'} succeeded but left no image {tag} in the Docker engine")
        latest = f"{TAG_PREFIX}{name}:latest"
        res = _docker("tag", tag, latest)
        if res.returncode != 0:
            raise ImageBuildError(f"cannot tag {tag} as {latest}: {res.stderr.strip()}")
        if previous is not None and previous != current:
            # A forced rebuild leaves the old image untagged; drop it unless a container still uses it.
            _docker("image", "rm", previous)
    return ImageBuildResult(name=name, tag=tag, built=True, seconds=time.monotonic() - start)


def build_all(*, force: bool = False, on_output: Callable[[str], None] | None = None) -> list[ImageBuildResult]:
    """Build every image under `agent_images/` (skipping those already present), in name order."""
    return [build_image(name, force=force, on_output=on_output) for name in list_images()]
