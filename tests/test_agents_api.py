"""Agents as resources (issue 14), from a second machine's point of view: a CLI with its own home and
only `--gateway` and a token. Two users each add an agent called `probe` (one from a folder, one from a
local git repository at a ref); each user's run of `probe` runs their own; neither can see or run the
other's; a build that tries the network fails with a clear reason; bad input is a specific error."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import tarfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from mleredux.client import GatewayClient, GatewayError
from mleredux.embedded import EmbeddedStack
from mleredux.v1 import common_pb2, gateway_pb2

RunState = common_pb2.RunState
READY = gateway_pb2.AgentBuildState.AGENT_BUILD_STATE_READY
FAILED = gateway_pb2.AgentBuildState.AGENT_BUILD_STATE_FAILED

PROBE_SCRIPT = """\
#!/bin/sh
# Submits the sample submission and says whose agent it is (and what arguments it got).
echo "probe agent: {who}"
echo "probe args file: $(cat /home/agent_args.json)"
echo "probe args env: $AGENT_ARGS"
cp /home/data/sample_submission.csv "$SUBMISSION_DIR/submission.csv"
"""
DOCKERFILE = 'FROM mleredux-base-busybox:latest\nCOPY probe.sh /agent/probe.sh\nCMD ["/bin/sh", "/agent/probe.sh"]\n'
MANIFEST = (
    'command = ["/bin/sh", "/agent/probe.sh"]\n[args]\ngreeting = "{who}"\n[env]\nPROBE_OWNER = "{who}"\n'
    "[compute]\ntime_limit_seconds = 321\n"
)


def _write_agent(directory: Path, who: str, *, manifest: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    # The folder's path makes the content new to this session, so it is built, not reused.
    # Unique to this call: the engine keeps images across test runs, and tmp paths repeat once old
    # ones are removed, so a context named only by its path could be "reused" instead of built.
    (directory / "probe.sh").write_text(PROBE_SCRIPT.format(who=who) + f"# from {directory}, {uuid.uuid4().hex}\n")
    (directory / "Dockerfile").write_text(DOCKERFILE)
    if manifest:
        (directory / "agent.toml").write_text(MANIFEST.format(who=who))
    return directory


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _cli(home: Path, address: str, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mleredux", "--home", str(home), *args, "--gateway", address, "--token", token]
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


async def _users(stack: EmbeddedStack) -> tuple[str, str]:
    async with GatewayClient(stack.gateway_address, stack.admin_token) as admin:
        ann = (await admin.create_token("agents-ann", "laptop")).token
        ben = (await admin.create_token("agents-ben", "laptop")).token
    return ann, ben


@pytest.fixture(scope="module")
async def two_probes(stack: EmbeddedStack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """ann adds `probe` from a folder, ben from a git repository at tag v1 (v2 says something else)."""
    ann, ben = await _users(stack)
    root = tmp_path_factory.mktemp("probes")
    folder = _write_agent(root / "ann-probe", "ann")
    repo = _write_agent(root / "ben-repo", "ben at v1")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "v1")
    _git(repo, "tag", "v1")
    v1 = _git(repo, "rev-parse", "v1")
    _write_agent(repo, "ben at v2")
    _git(repo, "commit", "-q", "-am", "v2")
    laptop = tmp_path_factory.mktemp("laptop-home")  # the CLI's own home: nothing of the stack's
    added_ann = _cli(laptop, stack.gateway_address, ann, "agents", "add", str(folder), "--name", "probe")
    added_ben = _cli(
        laptop, stack.gateway_address, ben, "agents", "add", repo.as_uri(), "--ref", "v1", "--name", "probe"
    )
    return {"ann": ann, "ben": ben, "home": laptop, "added": (added_ann, added_ben), "v1": v1, "root": root}


async def test_two_users_each_run_their_own_probe(two_probes: dict[str, object], stack: EmbeddedStack) -> None:
    added_ann, added_ben = two_probes["added"]  # type: ignore[misc]
    assert added_ann.returncode == 0, added_ann.stdout + added_ann.stderr
    assert added_ben.returncode == 0, added_ben.stdout + added_ben.stderr
    # The build was printed as it happened and ended with the name and digest.
    assert "COPY probe.sh" in added_ann.stdout and "agent users/agents-ann/agents/probe: sha256:" in added_ann.stdout
    assert f"checked out {two_probes['v1']}" in added_ben.stdout
    assert f"commit {two_probes['v1']}" in added_ben.stdout

    home, address = two_probes["home"], stack.gateway_address
    outputs = {}
    for user in ("ann", "ben"):
        ran = _cli(home, address, two_probes[user], "run", "-a", "probe", "-c", "demo-digits")  # type: ignore[arg-type]
        assert ran.returncode == 0, ran.stdout + ran.stderr
        outputs[user] = ran.stdout
    assert "probe agent: ann" in outputs["ann"] and "ben" not in outputs["ann"].split("probe agent:")[1][:20]
    assert "probe agent: ben at v1" in outputs["ben"] and "ben at v2" not in outputs["ben"]
    # The manifest's arguments reached the container as a file and as env.
    assert 'probe args file: {"greeting": "ann"}' in outputs["ann"]
    assert 'probe args env: {"greeting": "ann"}' in outputs["ann"]

    for user, commit in (("ann", ""), ("ben", two_probes["v1"])):
        async with GatewayClient(address, two_probes[user]) as client:  # type: ignore[arg-type]
            agent = await client.get_agent("probe")
            [run] = [r for r in (await client.list_runs()).runs if r.agent == "probe"]
            report = json.loads(await client.get_artifact(run.run_id, "report.json"))
        assert agent.name == f"users/agents-{user}/agents/probe" and agent.build_state == READY
        assert agent.digest.startswith("sha256:") and agent.git_commit == commit
        assert run.agent_resource == agent.name and run.agent_digest == agent.digest and run.agent_commit == commit
        assert run.env["PROBE_OWNER"].startswith(user)
        # The manifest's compute profile is the run's default (the run asked for no time limit).
        assert run.compute.time_limit_seconds == 321 and report["compute_profile"]["time_limit_seconds"] == 321
        assert report["agent"] == agent.name and report["agent_digest"] == agent.digest
        assert report["agent_commit"] == commit and report["valid_submission"] is True


async def test_a_user_can_neither_see_nor_run_the_other_users_agent(
    two_probes: dict[str, object], stack: EmbeddedStack
) -> None:
    async with GatewayClient(stack.gateway_address, two_probes["ann"]) as ann:  # type: ignore[arg-type]
        listed = [a.name for a in (await ann.list_agents()).agents]
        assert "users/agents-ann/agents/probe" in listed and "builtin/dummy" in listed
        assert not any("agents-ben" in name for name in listed)
        with pytest.raises(GatewayError) as hidden:
            await ann.get_agent("users/agents-ben/agents/probe")
        assert hidden.value.code == grpc.StatusCode.NOT_FOUND
        with pytest.raises(GatewayError) as not_runnable:
            await ann.create_run("demo-digits", "users/agents-ben/agents/probe")
        assert not_runnable.value.code == grpc.StatusCode.NOT_FOUND
        with pytest.raises(GatewayError) as not_deletable:
            await ann.delete_agent("users/agents-ben/agents/probe")
        assert not_deletable.value.code == grpc.StatusCode.NOT_FOUND
        # A bare image reference is for admins only, even one that exists on the runner.
        ben_image = (await GatewayClient(stack.gateway_address, two_probes["ben"]).get_agent("probe")).image  # type: ignore[arg-type]
        with pytest.raises(GatewayError) as bare:
            await ann.create_run("demo-digits", ben_image)
        assert bare.value.code == grpc.StatusCode.PERMISSION_DENIED and "only admins" in str(bare.value)
        with pytest.raises(GatewayError) as untagged:
            await ann.create_run("demo-digits", "someone/agent")
        assert untagged.value.code == grpc.StatusCode.PERMISSION_DENIED
        # Built-ins are read-only.
        with pytest.raises(GatewayError) as builtin:
            await ann.delete_agent("dummy")
        assert builtin.value.code == grpc.StatusCode.PERMISSION_DENIED
    # A name is the user's: ann cannot add a second probe while hers exists.
    again = _cli(
        two_probes["home"],  # type: ignore[arg-type]
        stack.gateway_address,
        two_probes["ann"],  # type: ignore[arg-type]
        "agents",
        "add",
        str(Path(two_probes["root"]) / "ann-probe"),  # type: ignore[arg-type]
        "--name",
        "probe",
    )
    assert again.returncode != 0 and "already have an agent 'probe'" in again.stderr
    assert "Traceback" not in again.stderr


async def test_an_admin_shares_an_agent_read_only(two_probes: dict[str, object], stack: EmbeddedStack) -> None:
    async with (
        GatewayClient(stack.gateway_address, stack.admin_token) as admin,
        GatewayClient(stack.gateway_address, two_probes["ann"]) as ann,  # type: ignore[arg-type]
    ):
        with pytest.raises(GatewayError) as not_admin:
            await ann.share_agent("users/agents-ann/agents/probe")
        assert not_admin.value.code == grpc.StatusCode.PERMISSION_DENIED
        shared = await admin.share_agent("users/agents-ben/agents/probe")
        assert shared.shared
        try:
            seen = await ann.get_agent("users/agents-ben/agents/probe")
            assert seen.shared and seen.git_commit == two_probes["v1"]
            with pytest.raises(GatewayError) as read_only:
                await ann.delete_agent("users/agents-ben/agents/probe")
            assert read_only.value.code == grpc.StatusCode.PERMISSION_DENIED
        finally:
            await admin.share_agent("users/agents-ben/agents/probe", shared=False)
        with pytest.raises(GatewayError):
            await ann.get_agent("users/agents-ben/agents/probe")


async def _final(client: GatewayClient, name: str) -> tuple[gateway_pb2.Agent, list[str]]:
    lines, final = [], None
    async for message in client.watch_agent_build(name):
        if message.HasField("agent"):
            final = message.agent
        else:
            lines.append(message.line)
    assert final is not None
    return final, lines


async def test_a_build_that_tries_the_network_fails_with_a_clear_reason(
    two_probes: dict[str, object], stack: EmbeddedStack, tmp_path: Path
) -> None:
    folder = _write_agent(tmp_path / "netty", "netty", manifest=False)
    # TEST-NET-1: nothing can answer, and with no network in the build nothing is even sent.
    (folder / "Dockerfile").write_text(
        DOCKERFILE + 'RUN ["/bin/busybox", "wget", "-q", "-O", "-", "http://192.0.2.1/"]\n'
    )
    async with GatewayClient(stack.gateway_address, two_probes["ann"]) as ann:  # type: ignore[arg-type]
        created = await ann.create_agent("netty", directory=folder)
        final, lines = await _final(ann, created.name)
        assert final.build_state == FAILED, final
        assert "tried to reach the network" in final.build_message and "agent builds have none" in final.build_message
        assert any("build failed" in line for line in lines)
        # The failed step's container is not left on the host.
        listed = await asyncio.to_thread(
            subprocess.run,
            ["docker", "ps", "-a", "--no-trunc", "--format", "{{.Command}}"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "192.0.2.1" not in listed.stdout
        with pytest.raises(GatewayError) as unusable:
            await ann.create_run("demo-digits", "netty")
        assert unusable.value.code == grpc.StatusCode.FAILED_PRECONDITION and "not ready" in str(unusable.value)
        # A failed build leaves its name free: the fixed agent builds under it.
        _write_agent(folder, "netty", manifest=False)
        (folder / "Dockerfile").write_text(DOCKERFILE)
        fixed, _ = await _final(ann, (await ann.create_agent("netty", directory=folder)).name)
        assert fixed.build_state == READY
        await ann.delete_agent("netty")


async def _raw_create(client: GatewayClient, messages: list[gateway_pb2.CreateAgentRequest]) -> gateway_pb2.Agent:
    async def stream() -> AsyncIterator[gateway_pb2.CreateAgentRequest]:
        for message in messages:
            yield message

    answer = await client._call(client._stub.CreateAgent(stream(), timeout=120, metadata=client._metadata))
    return answer.agent


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _upload(agent_id: str, data: bytes) -> list[gateway_pb2.CreateAgentRequest]:
    header = gateway_pb2.CreateAgentRequest(header=gateway_pb2.CreateAgentHeader(agent_id=agent_id))
    return [header, gateway_pb2.CreateAgentRequest(context_chunk=data)]


async def test_bad_input_is_a_specific_error_and_leaves_nothing(
    two_probes: dict[str, object], stack: EmbeddedStack, tmp_path: Path
) -> None:
    good = {"Dockerfile": DOCKERFILE.encode(), "probe.sh": b"echo hi\n"}
    cases: list[tuple[str, list[gateway_pb2.CreateAgentRequest], grpc.StatusCode, str]] = [
        (
            "not-a-tar",
            _upload("bad1", b"this is not a tar archive" * 100),
            grpc.StatusCode.INVALID_ARGUMENT,
            "not a tar",
        ),
        (
            "foreign-base",
            _upload("bad2", _tar({**good, "Dockerfile": b"FROM python:3.12-slim\n"})),
            grpc.StatusCode.INVALID_ARGUMENT,
            "FROM python:3.12-slim is not one of our bases",
        ),
        (
            "add-url",
            _upload("bad3", _tar({**good, "Dockerfile": DOCKERFILE.encode() + b"ADD https://example.invalid/x /x\n"})),
            grpc.StatusCode.INVALID_ARGUMENT,
            "ADD of a URL needs the network",
        ),
        (
            "escape",
            _upload("bad4", _tar({**good, "../outside": b"x"})),
            grpc.StatusCode.INVALID_ARGUMENT,
            "points outside it",
        ),
        (
            "bad-manifest",
            _upload("bad5", _tar({**good, "agent.toml": b"gpus = 'many'\n"})),
            grpc.StatusCode.INVALID_ARGUMENT,
            "agent.toml: gpus must be a whole number",
        ),
        (
            "unknown-manifest-key",
            _upload("bad6", _tar({**good, "agent.toml": b"comand = ['x']\n"})),
            grpc.StatusCode.INVALID_ARGUMENT,
            "unknown key 'comand'",
        ),
        ("no-dockerfile", _upload("bad7", _tar({"probe.sh": b"x"})), grpc.StatusCode.INVALID_ARGUMENT, "no Dockerfile"),
        ("bad-name", _upload("Bad_Name!", _tar(good)), grpc.StatusCode.INVALID_ARGUMENT, "is not an agent name"),
        ("builtin-name", _upload("dummy", _tar(good)), grpc.StatusCode.INVALID_ARGUMENT, "is a built-in agent"),
    ]
    async with GatewayClient(stack.gateway_address, two_probes["ann"]) as ann:  # type: ignore[arg-type]
        before = [a.name for a in (await ann.list_agents()).agents]
        for label, messages, code, text in cases:
            with pytest.raises(GatewayError) as refused:
                await _raw_create(ann, messages)
            assert refused.value.code == code and text in str(refused.value), (label, str(refused.value))

        # Over the cap: tests/test_agent_limits.py (a stack of its own with a small cap).

        # Git sources: a URL that does not clone, a ref that does not exist: failed builds saying so.
        repo = _write_agent(tmp_path / "repo", "x")
        _git(repo, "init", "-q", "-b", "main")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", "one")
        missing = await ann.create_agent("gitbad1", git_url=(tmp_path / "nowhere").as_uri())
        no_ref = await ann.create_agent("gitbad2", git_url=repo.as_uri(), git_ref="no-such-ref")
        for agent, text in ((missing, "does not clone"), (no_ref, "ref 'no-such-ref' does not exist")):
            final, _ = await _final(ann, agent.name)
            assert final.build_state == FAILED and text in final.build_message, final.build_message
            await ann.delete_agent(agent.name)
        with pytest.raises(GatewayError) as scheme:
            await ann.create_agent("gitbad3", git_url="ssh://example.invalid/repo.git")
        assert scheme.value.code == grpc.StatusCode.INVALID_ARGUMENT and "only https://" in str(scheme.value)
        after = [a.name for a in (await ann.list_agents()).agents]
    assert after == before


async def test_verification_marks_an_agent_verified_or_says_why_not(
    two_probes: dict[str, object], stack: EmbeddedStack, tmp_path: Path
) -> None:
    good = _write_agent(tmp_path / "good", "verified one")
    silent = _write_agent(tmp_path / "silent", "silent", manifest=False)
    (silent / "probe.sh").write_text("#!/bin/sh\necho 'I submit nothing'\n")
    async with GatewayClient(stack.gateway_address, two_probes["ben"]) as ben:  # type: ignore[arg-type]
        verified, lines = await _final(ben, (await ben.create_agent("checked", directory=good, verify=True)).name)
        not_verified, _ = await _final(ben, (await ben.create_agent("unchecked", directory=silent, verify=True)).name)
        for name in ("checked", "unchecked"):
            await ben.delete_agent(name)
    assert verified.verify_state == gateway_pb2.AgentVerifyState.AGENT_VERIFY_STATE_VERIFIED, verified
    assert "made a valid submission" in verified.verify_message and any("verified:" in line for line in lines)
    assert not_verified.build_state == READY
    assert not_verified.verify_state == gateway_pb2.AgentVerifyState.AGENT_VERIFY_STATE_NOT_VERIFIED
    assert "on demo-digits ended" in not_verified.verify_message, not_verified.verify_message


async def test_agents_over_http(two_probes: dict[str, object], stack: EmbeddedStack, tmp_path: Path) -> None:
    import aiohttp

    repo = _write_agent(tmp_path / "http-repo", "over http")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "one")
    base = f"http://{stack.http_address}"
    headers = {"Authorization": f"Bearer {two_probes['ann']}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        async with session.get(f"{base}/v1/agents", headers=headers) as listed:
            assert listed.status == 200, await listed.text()
            names = [a["name"] for a in (await listed.json())["agents"]]
        assert "users/agents-ann/agents/probe" in names and not any("agents-ben" in n for n in names)
        async with session.get(f"{base}/v1/agents/users/agents-ann/agents/probe", headers=headers) as got:
            assert got.status == 200 and (await got.json())["digest"].startswith("sha256:")
        async with session.get(f"{base}/v1/agents/users/agents-ben/agents/probe", headers=headers) as hidden:
            assert hidden.status == 404
        body = {"header": {"agent_id": "from-http", "git_url": repo.as_uri(), "git_ref": "main"}}
        async with session.post(f"{base}/v1/agents", headers=headers, json=body) as created:
            assert created.status == 200, await created.text()
            assert (await created.json())["name"] == "users/agents-ann/agents/from-http"
        async with session.get(f"{base}/v1/agents/from-http/build", headers=headers) as stream:
            assert stream.status == 200
            text = (await stream.read()).decode()
        assert "event: line" in text and "checked out" in text and "event: agent" in text and "event: end" in text
        final = json.loads(text.split("event: agent\ndata: ", 1)[1].split("\n", 1)[0])
        assert final["build_state"] == "AGENT_BUILD_STATE_READY" and len(final["git_commit"]) == 40
        async with session.delete(f"{base}/v1/agents/from-http", headers=headers) as deleted:
            assert deleted.status == 200
        async with session.get(f"{base}/v1/agents/from-http", headers=headers) as gone:
            assert gone.status == 404
