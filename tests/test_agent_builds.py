"""Agent contexts on their own: the manifest and Dockerfile checks (pure), and a runner's build of a
context that outlives its time limit (the real Docker engine)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from mleredux.agent_context import AgentBuildError, check_dockerfile, check_git_url, unpack_tar
from mleredux.agent_manifest import AgentDefinitionError, parse_manifest
from mleredux.store import open_store
from mleredux.v1 import runner_pb2
from services.runner.agent_builder import AgentBuilder, AgentBuildSettings


def test_a_full_manifest_is_read_into_its_message() -> None:
    manifest = parse_manifest(
        b'command = ["python3", "a.py"]\ngpus = 1\nmodel_endpoints = ["openai"]\n'
        b'[env]\nSTEPS = "3"\n[args]\nsteps = 3\n[compute]\ncpus = 2.0\nmemory_mib = 512\ntime_limit_seconds = 60\n'
    )
    assert list(manifest.command) == ["python3", "a.py"] and manifest.gpus == 1
    assert dict(manifest.env) == {"STEPS": "3"} and manifest.args_json == '{"steps": 3}'
    assert manifest.compute.cpus == 2.0 and manifest.compute.memory_bytes == 512 << 20
    assert manifest.compute.time_limit_seconds == 60 and manifest.compute.gpus == 1
    assert list(manifest.model_endpoints) == ["openai"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (b"command = 'python3 a.py'", "command must be a list"),
        (b"[env]\n'1BAD' = 'x'", "is not a variable name"),
        (b"[env]\nA = 3", "env.A must be a string"),
        (b"[compute]\ncpus = -1", "compute.cpus must be positive"),
        (b"[compute]\nmemory_mib = 1.5", "compute.memory_mib must be a whole number"),
        (b"[compute]\ndisks = 1", "compute: unknown key 'disks'"),
        (b"gpus = true", "gpus must be a whole number"),
        (b"args = 3", "[args] must be a table"),
        (b"= broken", "is not valid TOML"),
        (b"\xff\xfe", "is not UTF-8"),
        (b"x" * (65 * 1024), "above the limit"),
    ],
)
def test_a_malformed_manifest_names_what_is_wrong(text: bytes, says: str) -> None:
    with pytest.raises(AgentDefinitionError) as refused:
        parse_manifest(text)
    assert says in str(refused.value) and str(refused.value).startswith("agent.toml: ")


@pytest.mark.parametrize(
    ("dockerfile", "says"),
    [
        ("FROM python:3.12-slim\n", "FROM python:3.12-slim is not one of our bases"),
        ("FROM --platform=linux/arm64 mleredux-base-python:latest\n", "FROM --platform is not allowed"),
        ("FROM mleredux-base-python:latest\nADD https://example.invalid/x.tgz /x\n", "ADD of a URL"),
        ("FROM mleredux-base-python:latest\nRUN --network=host true\n", "RUN --network is not allowed"),
        ("COPY . /x\n", "has no FROM line"),
    ],
)
def test_a_dockerfile_that_would_pull_or_reach_out_is_refused(dockerfile: str, says: str) -> None:
    with pytest.raises(AgentDefinitionError) as refused:
        check_dockerfile(dockerfile)
    assert says in str(refused.value)


def test_stages_of_our_bases_are_allowed() -> None:
    check_dockerfile(
        "FROM mleredux-base-python:latest AS build\nRUN true\nFROM build\nFROM mleredux-base-busybox:latest\n"
    )


def _context(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.docker
async def test_a_build_past_its_time_limit_fails_saying_so(dummy_image: str, tmp_path: Path) -> None:
    del dummy_image  # the busybox base is its image
    store = open_store(f"file://{tmp_path / 'store'}")
    # A unique context, so no earlier build of it can be reused.
    marker = str(tmp_path).encode()
    dockerfile = b"FROM mleredux-base-busybox:latest\nRUN echo " + marker + b" && sleep 120\n"
    store.put_bytes("agents/contexts/slow.tar", _context({"Dockerfile": dockerfile}))
    builder = AgentBuilder(AgentBuildSettings(tmp_path / "work", timeout_seconds=3), store)
    lines = []
    with pytest.raises(AgentBuildError) as timed_out:
        async for message in builder.build(runner_pb2.BuildAgentRequest(context_key="agents/contexts/slow.tar")):
            lines.append(message.line)
    assert "did not finish within its limit of 3 s" in str(timed_out.value)
    # Its scratch folder is gone: only the runner process's own (empty) scratch folder is left.
    left = list((tmp_path / "work").rglob("*"))
    assert not [p for p in left if p.name.startswith("agent-build-") or not p.is_dir()], left


def test_git_urls_are_https_or_file_where_the_runner_allows_it() -> None:
    check_git_url("https://example.invalid/a.git", allow_file=False)
    check_git_url("file:///srv/repo", allow_file=True)
    for url, allow_file in (("file:///srv/repo", False), ("ssh://host/repo", True), ("git://host/r", True)):
        with pytest.raises(AgentDefinitionError) as refused:
            check_git_url(url, allow_file=allow_file)
        assert "URLs are cloned" in str(refused.value)


def test_a_context_that_unpacks_past_its_bound_is_refused_before_it_is_written(tmp_path: Path) -> None:
    import gzip

    # Zeros compress a thousandfold: a small upload, a large unpacked size (here over a 1 MiB bound;
    # the default is MAX_UNPACKED_BYTES).
    archive = tmp_path / "bomb.tar.gz"
    with gzip.open(archive, "wb", compresslevel=1) as raw, tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("zeros")
        info.size = 3 << 20
        tar.addfile(info, _Zeros(info.size))
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(AgentDefinitionError) as refused:
        unpack_tar(archive, target, max_bytes=1 << 20)
    assert archive.stat().st_size < 100_000
    assert "unpacks to more than 1 MiB" in str(refused.value) and not list(target.iterdir())


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return bytes(n)
