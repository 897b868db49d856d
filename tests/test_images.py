"""Agent images: the dummy image is built locally and behaves in a network-none, non-root sandbox."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mleredux import images

SAMPLE = "id,target\n1,0.5\n2,0.5\n3,0.5\n"
ROLLOUT_LINE = {"step": 1, "kind": "plan", "payload": {"text": "copy the sample submission"}}

pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(
        shutil.which("docker") is None
        or subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0,
        reason="no Docker engine (run scripts/ensure_docker.sh)",
    ),
]


@pytest.fixture(scope="module")
def dummy_tag() -> str:
    first = images.build_image("dummy")
    second = images.build_image("dummy")
    assert second.built is False
    assert second.tag == first.tag == images.image_tag("dummy")
    return first.tag


@pytest.fixture
def workdir() -> Iterator[Path]:
    # Short path under /tmp: unix socket paths are limited to 108 bytes.
    d = Path(tempfile.mkdtemp(prefix="mlr-img-"))
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _sandbox(root: Path) -> dict[str, Path]:
    dirs = {k: root / k for k in ("data", "submission", "code", "logs")}
    for k, d in dirs.items():
        d.mkdir()
        os.chmod(d, 0o755 if k == "data" else 0o777)
    (dirs["data"] / "sample_submission.csv").write_text(SAMPLE)
    return dirs


def _docker_run(tag: str, dirs: dict[str, Path], extra: list[str]) -> subprocess.CompletedProcess[str]:
    name = f"mleredux-test-{uuid.uuid4().hex[:12]}"
    cmd = [
        "docker", "run", "--rm", "--pull=never", "--network", "none", "--user", "65534:65534",
        "--name", name, "--label", "mleredux.test=1",
        "-v", f"{dirs['data']}:/home/data:ro",
        "-v", f"{dirs['submission']}:/home/submission",
        "-v", f"{dirs['code']}:/home/code",
        "-v", f"{dirs['logs']}:/home/logs",
        "-e", "SUBMISSION_DIR=/home/submission", "-e", "CODE_DIR=/home/code", "-e", "LOGS_DIR=/home/logs",
        *extra,
        tag,
    ]  # fmt: skip
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def test_tags_and_resolution() -> None:
    assert "dummy" in images.list_images()
    assert "common" not in images.list_images()
    tag = images.image_tag("dummy")
    repo, digest = tag.split(":")
    assert repo == "mleredux-agent-dummy"
    assert len(digest) == 12 and int(digest, 16) >= 0
    assert images.resolve_agent_image("dummy") == tag
    assert images.resolve_agent_image("me/agent:1") == "me/agent:1"
    assert images.resolve_agent_image("python:3.11") == "python:3.11"
    with pytest.raises(images.ImageMissingError):
        images.resolve_agent_image("no-such-agent")


def test_dummy_agent_in_sandbox(dummy_tag: str, workdir: Path) -> None:
    dirs = _sandbox(workdir)
    res = _docker_run(dummy_tag, dirs, [])
    assert res.returncode == 0, res.stderr + res.stdout
    out_lines = res.stdout.splitlines()
    assert (dirs["submission"] / "submission.csv").read_text() == SAMPLE
    rollout = (dirs["logs"] / "rollout.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in rollout] == [ROLLOUT_LINE]
    assert (dirs["code"] / "solution.sh").is_file()
    assert any(line.startswith("dummy-agent stdout:") for line in out_lines)
    assert any(line.startswith("dummy-agent stderr:") for line in res.stderr.splitlines())
    assert "interfaces: lo" in out_lines
    assert "answers: absent" in out_lines
    assert "data-write: refused" in out_lines
    assert "validation: unavailable" in out_lines
    assert not (dirs["data"] / ".dummy-agent-write-probe").exists()


def test_failed_build_and_content_tags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "agent_images"
    (root / "common").mkdir(parents=True)
    (root / "common" / "shared.txt").write_text("v1\n")
    (root / "broken").mkdir()
    (root / "broken" / "build.sh").write_text("echo step one\necho 'no such base image' >&2\nexit 3\n")
    (root / "notanimage").mkdir()
    monkeypatch.setattr(images, "AGENT_IMAGES_DIR", root)

    assert images.list_images() == ["broken"]
    tag1 = images.image_tag("broken")
    assert tag1.startswith("mleredux-agent-broken:")
    (root / "common" / "shared.txt").write_text("v2\n")
    tag2 = images.image_tag("broken")
    assert tag2 != tag1
    (root / "broken" / "build").mkdir()  # build outputs do not count
    (root / "broken" / "build" / "out").write_text("x")
    assert images.image_tag("broken") == tag2

    seen: list[str] = []
    with pytest.raises(images.ImageBuildError) as err:
        images.build_image("broken", on_output=seen.append)
    assert seen == ["step one", "no such base image"]
    assert "exited with 3" in str(err.value) and "no such base image" in str(err.value)
    with pytest.raises(images.ImageMissingError):
        images.build_image("notanimage")


class _Grader:
    """A tiny HTTP server on a unix socket, in its own thread and event loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bodies: list[bytes] = []
        self.requests: list[str] = []
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self._loop.run_until_complete(self._main())

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            self.requests.append(lines[0])
            headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if lines[0].startswith("POST /validate "):
                self.bodies.append(body)
                status, answer = "200 OK", b'{"valid": true, "message": "ok"}'
            else:
                status, answer = "404 Not Found", b'{"valid": false, "message": "not found"}'
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(answer)}\r\nConnection: close\r\n\r\n".encode()
                + answer
            )
            await writer.drain()
        finally:
            writer.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_unix_server(self._handle, path=str(self.path))
        os.chmod(self.path, 0o666)
        self._ready.set()
        async with server:
            await self._stop.wait()

    def __enter__(self) -> _Grader:
        self._thread.start()
        assert self._ready.wait(10), "grader did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self._loop.close()


def test_dummy_agent_validates_through_socket(dummy_tag: str, workdir: Path) -> None:
    dirs = _sandbox(workdir)
    sock_dir = workdir / "run"
    sock_dir.mkdir()
    os.chmod(sock_dir, 0o755)
    script = images.AGENT_IMAGES_DIR / "common" / "validate_submission.sh"
    with _Grader(sock_dir / "grader.sock") as grader:
        res = _docker_run(
            dummy_tag,
            dirs,
            ["-v", f"{sock_dir}:/run/mleredux", "-v", f"{script}:/home/validate_submission.sh:ro"],
        )
    assert res.returncode == 0, res.stderr + res.stdout
    assert 'validation: {"valid": true' in res.stdout, res.stdout + res.stderr
    assert "validation-exit: 0" in res.stdout.splitlines()
    assert grader.requests == ["POST /validate HTTP/1.1"]
    assert grader.bodies == [SAMPLE.encode()]
