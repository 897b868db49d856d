"""Shared fixtures: the real Docker engine, the dummy image, and one embedded stack per session.

The stack is the four services as separate processes on loopback (what `mleredux up` starts), with
a fresh home in a temp dir. At the end of the session no container labelled by the project may remain.

Tests that need something outside this process are marked (markers registered in pyproject.toml):
`docker` (the engine), `services` (service processes), `s3` (an S3-protocol server), `browser`
(Chromium), `subprocess` (other programs: the CLI, agents on the host, compilers), and all of them
`integration` too. `pytest -m "not integration"` runs the pure tests only. Marks come from the
fixtures a test uses (`FIXTURE_MARKERS`, through every fixture it depends on) and from explicit marks
on tests that start processes themselves. `--check-pure` fails an unmarked test that starts a process.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from types import FrameType

import pytest

from mleredux.config import Home
from mleredux.embedded import EmbeddedStack

#: Fixtures that reach outside the test process, and what they need.
FIXTURE_MARKERS: dict[str, tuple[str, ...]] = {
    "docker_engine": ("docker",),
    "stack": ("services",),
    "s3_endpoint": ("s3",),
    # Fixtures of single test modules; in this suite these names always mean the thing they start.
    "s3": ("s3",),
    "browser": ("browser",),
    "preparer": ("services",),
    "grader": ("services",),
    "runner": ("services",),
    "small_runner": ("services",),
    "model_runner": ("services",),
    "own_stack": ("services",),
    "two_runners": ("services",),
    "scheduling_gateway": ("services",),
    "host_run": ("subprocess",),
    "baseline_runs": ("subprocess",),
}
#: Markers that say a test needs more than this process; each also marks the test `integration`.
OUTSIDE_MARKERS = ("docker", "services", "s3", "browser", "subprocess")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            for name in FIXTURE_MARKERS.get(fixture, ()):
                item.add_marker(name)
        if any(item.get_closest_marker(name) for name in OUTSIDE_MARKERS):
            item.add_marker("integration")


REPO = Path(__file__).resolve().parents[1]
_SPAWN_EVENTS = frozenset({"subprocess.Popen", "os.posix_spawn", "os.fork", "os.system", "os.exec"})
#: Processes our code started while a test not marked `integration` ran (None: not watching).
_spawned: list[str] | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--check-pure",
        action="store_true",
        help="fail a test not marked integration that starts a process itself (see docs/testing.md)",
    )


def _our_caller() -> str | None:
    """Where the repository's code asked for a process; None when a library did (joblib counting CPUs)."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if "site-packages" in name:
            return None
        if name.startswith(str(REPO)):
            return f"{Path(name).relative_to(REPO)}:{frame.f_lineno}"
        frame = frame.f_back
    return None


def _audit(event: str, args: tuple[object, ...]) -> None:
    if _spawned is not None and event in _SPAWN_EVENTS:
        caller = _our_caller()
        if caller is not None:
            _spawned.append(f"{event} {str(args[0])[:80] if args else ''} from {caller}")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--check-pure"):
        sys.addaudithook(_audit)  # cannot be removed; it only records while a pure test runs


def _watch_pure(item: pytest.Item) -> Generator[None, object, object]:
    global _spawned
    if not item.config.getoption("--check-pure") or item.get_closest_marker("integration"):
        return (yield)
    _spawned = []
    try:
        result = yield
    finally:
        seen, _spawned = _spawned, None
    if seen:
        pytest.fail(f"not marked integration, yet started processes (mark it, see docs/testing.md): {seen[:5]}")
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _watch_pure(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _watch_pure(item))


def project_containers() -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=mleredux.run_id"], capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def containers_under(root: Path) -> list[str]:
    """The project's containers with a bind mount under `root`: those of one stack, even when other test
    sessions share the Docker engine."""
    ids = project_containers()
    if not ids:
        return []
    command = ["docker", "inspect", "--format", "{{.Id}} {{range .Mounts}}{{.Source}} {{end}}", *ids]
    out = subprocess.run(command, capture_output=True, text=True, check=False)  # a container may be gone
    prefix = str(root.resolve())
    return [
        cid[:12]
        for cid, *sources in (line.split() for line in out.stdout.splitlines() if line.strip())
        if any(source == prefix or source.startswith(prefix + "/") for source in sources)
    ]


def containers_of(run_id: str) -> list[str]:
    command = ["docker", "ps", "-aq", "--filter", f"label=mleredux.run_id={run_id}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return out.stdout.split()


@pytest.fixture(scope="session")
def docker_engine() -> None:
    result = subprocess.run(["docker", "info"], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"no Docker engine answers (run scripts/ensure_docker.sh): {result.stderr.strip()}")


@pytest.fixture(scope="session")
def dummy_image(docker_engine: None) -> str:
    from mleredux.images import build_image

    return build_image("dummy").tag


@pytest.fixture(scope="session")
def baseline_image(docker_engine: None) -> str:
    """The baseline agent (Python, pandas, scikit-learn); built once, skipped when its tag exists.
    From nothing its cached base takes about a minute; a change to the agent's code only seconds."""
    from mleredux.images import build_image

    return build_image("baseline").tag


@pytest.fixture(scope="session")
def stack_home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    return Home(tmp_path_factory.mktemp("mleredux-home"))


@pytest.fixture(scope="session")
def stack(stack_home: Home, dummy_image: str) -> Iterator[EmbeddedStack]:
    embedded = EmbeddedStack(stack_home)
    embedded.start()
    try:
        yield embedded
    finally:
        embedded.stop()
        leftover = containers_under(stack_home.root)
        assert not leftover, f"containers left behind by the tests: {leftover}"


@pytest.fixture
def data_dir(stack_home: Home) -> Path:
    return stack_home.data_dir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3-protocol server (moto's threaded server) on 127.0.0.1, one per test session."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop()
