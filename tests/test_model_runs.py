"""Model access in real runs on a real runner process: the agent's container (network `none`)
reaches the model API on its own 127.0.0.1 through the relay container, the upstream sees the real
key, nothing the container or the run's records hold contains it, and a budget of N lets N through."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from mleredux import proto_json
from mleredux.v1 import common_pb2, runner_pb2
from services.runner.servicer import RunnerSettings
from tests.model_upstream import ModelUpstream, Reply
from tests.runner_harness import RunnerProcess, collect, execute_request, make_public_dir, runner_containers, stub


def _payload(event: common_pb2.RunEvent) -> dict[str, Any]:
    return proto_json.struct_to_python(event.rollout.payload)


RunState = common_pb2.RunState
KEY_ENV = "MLEREDUX_TEST_MODEL_KEY"

#: A busybox agent that calls the model API CALLS times with wget and records what it sees.
PROBE = r"""#!/bin/sh
L=/home/logs
env | sort > $L/env.txt
ls /sys/class/net > $L/interfaces.txt
if wget -q -T 3 -O $L/direct.txt "http://127.0.0.1:$UPSTREAM_PORT/v1/models" 2>$L/direct_err.txt; then
    echo "direct: REACHED"
else
    echo "direct: unreachable"
fi
n=0
while [ $n -lt "${CALLS:-3}" ]; do
    n=$((n + 1))
    body="{\"model\": \"test-model\", \"messages\": [{\"role\": \"user\", \"content\": \"call number $n\"}]}"
    if wget -q -O $L/answer_$n.json --header "Authorization: Bearer $OPENAI_API_KEY" \
        --header "Content-Type: application/json" --post-data "$body" "$OPENAI_BASE_URL/chat/completions" \
        2>$L/error_$n.txt; then
        echo "call $n: ok"
    else
        echo "call $n: refused $(cat $L/error_$n.txt)"
    fi
    if [ "$n" = 1 ] && [ -n "$WAIT_FOR" ]; then
        echo "waiting for $WAIT_FOR"
        i=0
        while [ ! -e "/home/data/$WAIT_FOR" ] && [ $i -lt 600 ]; do sleep 0.2; i=$((i + 1)); done
    fi
done
if [ -n "$FLOOD" ]; then
    i=0
    while [ $i -lt "$FLOOD" ]; do
        i=$((i + 1))
        body="{\"model\": \"test-model\", \"messages\": [{\"role\": \"user\", \"content\": \"flood $i\"}]}"
        (wget -q -O /dev/null --header "Content-Type: application/json" --post-data "$body" \
            "$OPENAI_BASE_URL/chat/completions" 2>$L/flood_$i.txt && echo "flood: ok" || echo "flood: refused") &
    done
    wait
fi
if [ -n "$ANTHROPIC_BASE_URL" ]; then
    body='{"model": "claude-test", "max_tokens": 16, "messages": [{"role": "user", "content": "hi claude"}]}'
    if wget -q -O $L/claude.json --header "x-api-key: $ANTHROPIC_API_KEY" --header "anthropic-version: 2023-06-01" \
        --header "Content-Type: application/json" --post-data "$body" "$ANTHROPIC_BASE_URL/v1/messages" \
        2>$L/claude_err.txt; then
        echo "claude: ok"
    else
        echo "claude: refused $(cat $L/claude_err.txt)"
    fi
fi
cp /home/data/sample_submission.csv /home/submission/submission.csv
"""


@pytest.fixture(scope="module")
def probe_image(dummy_image: str) -> Iterator[str]:
    digest = hashlib.sha256(f"{dummy_image}\n{PROBE}".encode()).hexdigest()[:12]
    tag = f"mleredux-test-model-probe:{digest}"
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode != 0:
        name = f"mleredux-probe-build-{digest}"
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        subprocess.run(
            ["docker", "create", "--pull=never", "--name", name, dummy_image, "true"], check=True, capture_output=True
        )
        try:
            script = subprocess.run(
                ["docker", "cp", "-", f"{name}:/agent"],
                input=_tar("probe.sh", PROBE.encode()),
                capture_output=True,
                check=True,
            )
            assert script.returncode == 0
            subprocess.run(
                ["docker", "commit", "-c", 'CMD ["/bin/sh","/agent/probe.sh"]', name, tag],
                check=True,
                capture_output=True,
            )
        finally:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    yield tag


def _tar(name: str, data: bytes) -> bytes:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o755
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def upstream() -> Iterator[ModelUpstream]:
    server = ModelUpstream(api_key="sk-run-secret-5c1b4e0f9a7d").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def model_runner(tmp_path_factory: pytest.TempPathFactory, upstream: ModelUpstream) -> Iterator[RunnerProcess]:
    root = tmp_path_factory.mktemp("model-runner")
    models = root / "models.toml"
    models.write_text(
        f"""
[endpoints.local]
kind = "openai"
base_url = "{upstream.url}"
api_key_env = "{KEY_ENV}"
models = ["test-model"]
[endpoints.local.prices."test-model"]
input = 1.0
output = 2.0

[endpoints.claude]
kind = "anthropic"
base_url = "{upstream.anthropic_url}"
api_key_env = "{KEY_ENV}"
"""
    )
    runner = RunnerProcess(
        root / "runner",
        (root / "store").as_uri(),
        env={KEY_ENV: upstream.api_key, "MLEREDUX_MODELS_FILE": str(models)},
    )
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()
        assert runner_containers(RunnerSettings(runner.work_dir, "", "").runner_id) == []


def relay_containers() -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=mleredux.model_relay_of"], capture_output=True, text=True, check=True
    )
    return out.stdout.split()


async def run_probe(
    runner: RunnerProcess, image: str, tmp_path: Path, run_id: str, access: common_pb2.ModelAccess, **env: str
) -> list[common_pb2.RunEvent]:
    request = execute_request(run_id, image, make_public_dir(tmp_path), **env)
    request.model_access.CopyFrom(access)
    events: list[common_pb2.RunEvent] = []
    async with runner.channel() as channel:
        await collect(stub(channel).ExecuteRun(request), events)
    return events


def model_calls(events: list[common_pb2.RunEvent]) -> list[dict[str, object]]:
    return [_payload(e) for e in events if e.HasField("rollout") and e.rollout.kind == "model_call"]


def stored_files(runner: RunnerProcess, run_id: str) -> dict[str, bytes]:
    root = Path(runner.store_url.removeprefix("file://")) / "runs" / run_id
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


async def test_a_run_reaches_the_model_through_loopback_with_a_budget_of_n_and_never_sees_the_key(
    model_runner: RunnerProcess, probe_image: str, upstream: ModelUpstream, tmp_path: Path
) -> None:
    upstream.reset()
    upstream.responder = lambda body: Reply("a fine answer")
    access = common_pb2.ModelAccess(endpoints=["local"], max_requests=3)
    events = await run_probe(
        model_runner, probe_image, tmp_path, "model-probe", access, CALLS="5", UPSTREAM_PORT=str(upstream.port)
    )
    final = events[-1].status_change
    assert final.state == RunState.RUN_STATE_GRADING, final.message
    lines = [e.log_line.text for e in events if e.HasField("log_line")]
    assert "direct: unreachable" in lines  # the container has no way to the host's upstream
    assert [line.split(":")[0] + ":" + line.split(":")[1][:4] for line in lines if line.startswith("call")] == [
        "call 1: ok",
        "call 2: ok",
        "call 3: ok",
        "call 4: ref",
        "call 5: ref",
    ]
    # The upstream saw exactly N calls, each with the configured key.
    seen = upstream.calls("/chat/completions")
    assert len(seen) == 3
    assert {r.headers["Authorization"] for r in seen} == {f"Bearer {upstream.api_key}"}
    calls = model_calls(events)
    assert [c["status"] for c in calls] == [200, 200, 200, 429, 429]
    assert calls[3]["budget"] == "requests"
    usage = final.model_usage
    assert (usage.calls, usage.refused, usage.input_tokens, usage.output_tokens) == (3, 2, 9, 9)
    assert usage.cost_usd == pytest.approx((9 * 1.0 + 9 * 2.0) / 1e6)
    files = stored_files(model_runner, "model-probe")
    env_seen = files["logs/env.txt"].decode()
    assert "OPENAI_BASE_URL=http://127.0.0.1:8400/v1" in env_seen
    assert "OPENAI_API_KEY=mleredux-placeholder-model-probe" in env_seen
    assert files["logs/interfaces.txt"].decode().split() == ["lo"]
    assert sorted(n for n in files if n.startswith("model_calls/")) == [
        f"model_calls/{i:05d}.json" for i in range(1, 6)
    ]
    assert json.loads(files["model_calls/00001.json"])["request"]["messages"][0]["content"] == "call number 1"
    # Nothing the container could see, nothing stored, no event holds the key.
    secret = upstream.api_key.encode()
    for name, data in files.items():
        assert secret not in data, name
    assert all(secret not in e.SerializeToString() for e in events)
    runner_log = model_runner.log_path.read_bytes()
    assert secret not in runner_log
    assert relay_containers() == []


async def test_a_run_asking_for_an_unknown_endpoint_is_refused_before_it_starts(
    model_runner: RunnerProcess, probe_image: str, tmp_path: Path
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await run_probe(
            model_runner, probe_image, tmp_path, "model-unknown", common_pb2.ModelAccess(endpoints=["nope"])
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown model endpoint 'nope' (known: claude, local)" in (refused.value.details() or "")


async def test_replay_of_a_run_makes_zero_upstream_calls_and_gives_the_same_answers(
    model_runner: RunnerProcess, probe_image: str, upstream: ModelUpstream, tmp_path: Path
) -> None:
    upstream.reset()
    upstream.script = [Reply(f"answer {i}") for i in range(1, 4)]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    recorded = await run_probe(
        model_runner, probe_image, tmp_path / "a", "model-rec", common_pb2.ModelAccess(endpoints=["local"]), CALLS="3"
    )
    assert recorded[-1].status_change.model_usage.calls == 3
    upstream.reset()
    replayed = await run_probe(
        model_runner,
        probe_image,
        tmp_path / "b",
        "model-replay",
        common_pb2.ModelAccess(replay_run_id="model-rec"),
        CALLS="4",
    )
    assert upstream.calls() == []
    calls = model_calls(replayed)
    assert [c["status"] for c in calls] == [200, 200, 200, 409]
    assert all(c.get("replayed") for c in calls[:3])
    first, second = stored_files(model_runner, "model-rec"), stored_files(model_runner, "model-replay")
    for i in (1, 2, 3):
        assert json.loads(first[f"logs/answer_{i}.json"]) == json.loads(second[f"logs/answer_{i}.json"])
    assert replayed[-1].status_change.model_usage.calls == 3


async def test_a_run_without_model_access_gets_no_model_environment(
    model_runner: RunnerProcess, probe_image: str, tmp_path: Path
) -> None:
    request = execute_request("model-none", probe_image, make_public_dir(tmp_path), CALLS="0")
    events: list[common_pb2.RunEvent] = []
    async with model_runner.channel() as channel:
        await collect(stub(channel).ExecuteRun(request), events)
    env_seen = stored_files(model_runner, "model-none")["logs/env.txt"].decode()
    assert "OPENAI_BASE_URL" not in env_seen and not events[-1].status_change.HasField("model_usage")


async def test_model_access_survives_a_runner_killed_and_restarted_mid_run(
    model_runner: RunnerProcess, probe_image: str, upstream: ModelUpstream, tmp_path: Path
) -> None:
    upstream.reset()
    public = make_public_dir(tmp_path)
    request = execute_request("model-restart", probe_image, public, CALLS="3", WAIT_FOR="go")
    request.model_access.CopyFrom(common_pb2.ModelAccess(endpoints=["local"], max_requests=2))
    events: list[common_pb2.RunEvent] = []
    async with model_runner.channel() as channel:
        call = stub(channel).ExecuteRun(request)
        await collect(call, events, until=lambda e: e.log_line.text == "waiting for go")
        model_runner.kill9()
    assert len(relay_containers()) == 1  # the relay, like the agent, outlives the runner
    model_runner.start()
    (public / "go").write_text("")
    async with model_runner.channel() as channel:
        attach = stub(channel).AttachRun(runner_pb2.AttachRunRequest(run_id="model-restart", after_seq=events[-1].seq))
        await collect(attach, events)
    lines = [e.log_line.text for e in events if e.HasField("log_line") and e.log_line.text.startswith("call")]
    assert lines[:2] == ["call 1: ok", "call 2: ok"] and lines[2].startswith("call 3: refused")
    # The budget held across the restart: the usage before it was read back from the journal.
    calls = model_calls(events)
    assert [c["status"] for c in calls] == [200, 200, 429]
    assert [c["artifact"] for c in calls] == [f"model_calls/{i:05d}.json" for i in (1, 2, 3)]
    assert events[-1].status_change.model_usage.calls == 2 and len(upstream.calls()) == 2
    assert relay_containers() == []


def test_a_restarted_runner_removes_relays_of_runs_it_no_longer_has(model_runner: RunnerProcess) -> None:
    from services.runner.model_relay import RELAY_LABEL, RELAY_RUNNER_LABEL, relay_tag

    runner_id = RunnerSettings(model_runner.work_dir, "", "").runner_id
    labels = {RELAY_LABEL: "ghost-run", RELAY_RUNNER_LABEL: runner_id}
    others = {RELAY_LABEL: "ghost-run", RELAY_RUNNER_LABEL: "another-runner"}
    started = []
    for label_set in (labels, others):
        command = ["docker", "create", "--pull=never", "--network", "none"]
        for key, value in label_set.items():
            command += ["--label", f"{key}={value}"]
        started.append(
            subprocess.run([*command, relay_tag()], capture_output=True, text=True, check=True).stdout.strip()
        )
    try:
        model_runner.stop()
        model_runner.start()
        remaining = set(relay_containers())
        assert started[0][:12] not in {c[:12] for c in remaining}
        assert started[1][:12] in {c[:12] for c in remaining}  # another runner's relay is left alone
    finally:
        subprocess.run(["docker", "rm", "-f", *started], capture_output=True)


async def test_an_anthropic_endpoint_is_reached_through_anthropic_base_url(
    model_runner: RunnerProcess, probe_image: str, upstream: ModelUpstream, tmp_path: Path
) -> None:
    upstream.reset()
    upstream.script = [Reply("hello from claude")]
    events = await run_probe(
        model_runner, probe_image, tmp_path, "model-claude", common_pb2.ModelAccess(endpoints=["claude"]), CALLS="0"
    )
    assert "claude: ok" in [e.log_line.text for e in events if e.HasField("log_line")]
    files = stored_files(model_runner, "model-claude")
    assert json.loads(files["logs/claude.json"])["content"][0]["text"] == "hello from claude"
    env_seen = files["logs/env.txt"].decode()
    assert "ANTHROPIC_BASE_URL=http://127.0.0.1:8400/anthropic" in env_seen and "OPENAI_BASE_URL" not in env_seen
    (seen,) = upstream.calls("/v1/messages")
    assert seen.headers["x-api-key"] == upstream.api_key
    assert [_payload(e)["endpoint"] for e in events if e.rollout.kind == "model_call"] == ["claude"]
    assert all(upstream.api_key.encode() not in data for data in files.values())


def test_a_runner_whose_endpoint_key_is_missing_refuses_to_start(tmp_path: Path) -> None:
    models = tmp_path / "models.toml"
    models.write_text(
        '[endpoints.x]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\napi_key_env = "UNSET_KEY_VAR"\n'
    )
    runner = RunnerProcess(
        tmp_path / "runner", (tmp_path / "store").as_uri(), env={"MLEREDUX_MODELS_FILE": str(models)}
    )
    with pytest.raises(RuntimeError, match=r"endpoints\.x: the environment variable UNSET_KEY_VAR is unset or empty"):
        runner.start(timeout=30)
    assert "Traceback" not in runner.log_path.read_text()


async def test_a_flood_of_model_calls_is_bounded_and_the_run_and_runner_carry_on(
    model_runner: RunnerProcess, probe_image: str, upstream: ModelUpstream, tmp_path: Path
) -> None:
    upstream.reset()
    upstream.responder = lambda body: Reply("slow answer", delay=0.3)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    events = await run_probe(
        model_runner,
        probe_image,
        tmp_path / "a",
        "model-flood",
        common_pb2.ModelAccess(endpoints=["local"]),
        CALLS="0",
        FLOOD="150",
    )
    assert events[-1].status_change.state == RunState.RUN_STATE_GRADING, events[-1].status_change.message
    lines = [e.log_line.text for e in events if e.HasField("log_line") and e.log_line.text.startswith("flood")]
    errors = {n: v for n, v in stored_files(model_runner, "model-flood").items() if n.startswith("logs/flood_")}
    assert len(lines) == 150 and lines.count("flood: ok") >= 32, (model_calls(events)[:3], list(errors.values())[:3])
    # No more calls at once reach the provider than the proxy allows one run.
    assert upstream.max_in_flight <= 32
    ok = [c for c in model_calls(events) if c["status"] == 200]
    assert len(ok) == len(upstream.calls("/chat/completions"))
    upstream.responder = lambda body: Reply("fine")
    after = await run_probe(
        model_runner,
        probe_image,
        tmp_path / "b",
        "model-after-flood",
        common_pb2.ModelAccess(endpoints=["local"]),
        CALLS="1",
    )
    assert "call 1: ok" in [e.log_line.text for e in after if e.HasField("log_line")]
    assert relay_containers() == []
