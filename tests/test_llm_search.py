"""The llm-search agent end to end through the gateway: a real runner, grader and preparer, the
scripted model upstream on 127.0.0.1 answering with code that trains real models on demo-digits.

The run succeeds with a valid submission better than the sample, its report carries model_usage,
the upstream saw the configured key and nothing of the run holds it, and a replay of the run makes
zero upstream calls and yields the same submission."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mleredux import proto_json
from mleredux.client import GatewayClient
from mleredux.config import Home
from mleredux.embedded import EmbeddedStack
from mleredux.v1 import common_pb2, gateway_pb2
from tests.model_upstream import ModelUpstream, Reply


def _payload(event: common_pb2.RunEvent) -> dict[str, Any]:
    return proto_json.struct_to_python(event.rollout.payload)


RunState = common_pb2.RunState

TEMPLATE = """Plan: {plan}

```python
import os

import pandas as pd
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
{imports}

train = pd.read_csv("/home/data/train.csv")
test = pd.read_csv("/home/data/test.csv")
features = [c for c in train.columns if c.startswith("pixel_")]
x_train, x_valid, y_train, y_valid = train_test_split(
    train[features], train["label"], test_size=0.2, random_state=0, stratify=train["label"]
)
model = {model}
model.fit(x_train, y_train)
print("VALIDATION_METRIC:", accuracy_score(y_valid, model.predict(x_valid)))
print("LOWER_IS_BETTER: false")
{bug}
model.fit(train[features], train["label"])
predictions = pd.DataFrame({{"id": test["id"], "label": model.predict(test[features])}})
predictions.to_csv(os.environ["SUBMISSION_PATH"], index=False)
```
"""

SOLUTIONS = {
    "draft 1": TEMPLATE.format(
        plan="a logistic regression on the raw pixels.",
        imports="from sklearn.linear_model import LogisticRegression",
        model="LogisticRegression(max_iter=3000)",
        bug="",
    ),
    # The second draft is broken on purpose: the search must debug it.
    "draft 2": TEMPLATE.format(
        plan="k nearest neighbours.",
        imports="from sklearn.neighbors import KNeighborsClassifier",
        model="KNeighborsClassifier(n_neighbors=3)",
        bug='raise RuntimeError("forgot to scale")',
    ),
    "debug": TEMPLATE.format(
        plan="remove the stray raise.",
        imports="from sklearn.neighbors import KNeighborsClassifier",
        model="KNeighborsClassifier(n_neighbors=3)",
        bug="",
    ),
    "improve": TEMPLATE.format(
        plan="an RBF support vector machine, which suits small images.",
        imports="from sklearn.svm import SVC",
        model='SVC(C=10, gamma="scale")',
        bug="",
    ),
}


def scripted(body: Any) -> Reply:
    prompt = body["messages"][-1]["content"]
    stage = re.search(r"\(stage: (draft \d+|improve|debug)", prompt)
    return Reply(SOLUTIONS[stage.group(1)] if stage else "I do not understand.")


@pytest.fixture(scope="module")
def upstream() -> Iterator[ModelUpstream]:
    server = ModelUpstream(api_key="sk-llm-search-secret-77aa01").start()
    server.responder = scripted
    yield server
    server.stop()


@pytest.fixture(scope="module")
def llm_image(docker_engine: None) -> str:
    from mleredux.images import build_image

    return build_image("llm-search").tag


@pytest.fixture(scope="module")
def model_stack(
    tmp_path_factory: pytest.TempPathFactory, upstream: ModelUpstream, llm_image: str
) -> Iterator[EmbeddedStack]:
    root = tmp_path_factory.mktemp("llm-home")
    (root / "local.key").write_text(upstream.api_key)
    models = root / "models.toml"
    models.write_text(
        f"""
[endpoints.local]
kind = "openai"
base_url = "{upstream.url}"
api_key_file = "local.key"
models = ["scripted-coder"]
[endpoints.local.prices."scripted-coder"]
input = 3.0
output = 15.0
"""
    )
    stack = EmbeddedStack(Home(root / "home"), models_file=models)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


ENV = {"LLM_SEARCH_STEPS": "4", "LLM_SEARCH_DRAFTS": "2", "LLM_SEARCH_EXEC_TIMEOUT": "300", "OMP_NUM_THREADS": "1"}
COMPUTE = common_pb2.ComputeProfile(cpus=1.0, memory_bytes=1 << 30, time_limit_seconds=900)


async def finished_run(
    stack: EmbeddedStack, access: common_pb2.ModelAccess
) -> tuple[gateway_pb2.Run, list[common_pb2.RunEvent], dict[str, bytes]]:
    async with GatewayClient(stack.gateway_address, stack.admin_token) as gateway:
        run = await gateway.create_run("demo-digits", "llm-search", env=ENV, compute=COMPUTE, model_access=access)
        events = [event async for event in gateway.watch(run.run_id)]
        run = await gateway.get_run(run.run_id)
    root = Path(stack.home.store_url.removeprefix("file://")) / "runs" / run.run_id
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    return run, events, files


@pytest.fixture(scope="module")
async def searched(
    model_stack: EmbeddedStack, upstream: ModelUpstream
) -> AsyncIterator[tuple[gateway_pb2.Run, list[common_pb2.RunEvent], dict[str, bytes]]]:
    yield await finished_run(model_stack, common_pb2.ModelAccess(endpoints=["local"], max_requests=20))


async def test_llm_search_succeeds_with_a_valid_submission_and_model_usage(
    searched: tuple[gateway_pb2.Run, list[common_pb2.RunEvent], dict[str, bytes]],
    model_stack: EmbeddedStack,
    upstream: ModelUpstream,
) -> None:
    run, events, files = searched
    assert run.state == RunState.RUN_STATE_SUCCEEDED, run.message
    report = run.report
    assert report.valid_submission
    answers = pd.read_csv(model_stack.home.data_dir / "demo-digits" / "prepared" / "private" / "test.csv")
    assert report.score > float((answers["label"] == 0).mean()) + 0.5
    assert report.model_usage.calls == 4 and report.model_usage.input_tokens > 0
    assert report.model_usage.cost_usd > 0 and run.model_usage == report.model_usage
    stored_report = json.loads(files["report.json"])
    assert int(stored_report["model_usage"]["calls"]) == 4

    rollouts = [(e.rollout.kind, _payload(e)) for e in events if e.HasField("rollout")]
    metrics = [p for k, p in rollouts if k == "metric"]
    assert [m["buggy"] for m in metrics] == [False, True, False, False]  # draft, broken draft, debug, improve
    assert metrics[3]["value"] > metrics[0]["value"]  # the SVM improved on the first draft
    assert {"plan", "code", "execution", "metric", "model_call", "validation", "result"} <= {k for k, _ in rollouts}
    assert [p["status"] for k, p in rollouts if k == "model_call"] == [200] * 4

    seen = upstream.calls("/chat/completions")
    assert len(seen) == 4 and {r.headers["Authorization"] for r in seen} == {f"Bearer {upstream.api_key}"}
    secret = upstream.api_key.encode()
    assert all(secret not in data for data in files.values())
    assert all(secret not in e.SerializeToString() for e in events)
    for log in (model_stack.home.root / "logs").glob("*.log"):
        assert secret not in log.read_bytes(), log


async def test_a_replay_makes_zero_upstream_calls_and_yields_the_same_submission(
    searched: tuple[gateway_pb2.Run, list[common_pb2.RunEvent], dict[str, bytes]],
    model_stack: EmbeddedStack,
    upstream: ModelUpstream,
) -> None:
    original, _, original_files = searched
    before = len(upstream.calls())
    run, events, files = await finished_run(model_stack, common_pb2.ModelAccess(replay_run_id=original.run_id))
    assert run.state == RunState.RUN_STATE_SUCCEEDED, run.message
    assert len(upstream.calls()) == before
    calls = [_payload(e) for e in events if e.HasField("rollout") and e.rollout.kind == "model_call"]
    assert len(calls) == 4 and all(c["replayed"] for c in calls)
    assert files["submission/submission.csv"] == original_files["submission/submission.csv"]
    assert run.report.score == original.report.score and run.model_usage.cost_usd == 0


async def test_a_request_budget_stops_the_search_and_the_run_still_ends_with_its_best(
    model_stack: EmbeddedStack, upstream: ModelUpstream
) -> None:
    run, events, _ = await finished_run(model_stack, common_pb2.ModelAccess(endpoints=["local"], max_requests=1))
    calls = [_payload(e) for e in events if e.HasField("rollout") and e.rollout.kind == "model_call"]
    assert [c["status"] for c in calls] == [200, 429] and calls[1]["budget"] == "requests"
    assert run.state == RunState.RUN_STATE_SUCCEEDED, run.message  # the first draft was enough to submit
    assert run.model_usage.calls == 1 and run.model_usage.refused == 1


@pytest.mark.parametrize(
    ("access", "words"),
    [
        (common_pb2.ModelAccess(endpoints=["nope"]), "unknown model endpoint 'nope' (known: local)"),
        (common_pb2.ModelAccess(replay_run_id="never-ran"), "run never-ran has no recorded model calls"),
    ],
)
async def test_bad_model_access_fails_the_run_with_a_specific_message(
    model_stack: EmbeddedStack, access: common_pb2.ModelAccess, words: str
) -> None:
    run, _, _ = await finished_run(model_stack, access)
    assert run.state == RunState.RUN_STATE_FAILED and words in run.message, run.message


async def test_an_evaluation_gives_every_run_model_access_and_sums_its_usage(model_stack: EmbeddedStack) -> None:
    """Issue 16's model access per run: the evaluation's budgets reach each run; usage is totalled."""
    from mleredux.evaluation.tables import progress_line

    access = common_pb2.ModelAccess(endpoints=["local"], max_requests=20)
    async with GatewayClient(model_stack.gateway_address, model_stack.admin_token) as gateway:
        evaluation = await gateway.create_evaluation(
            "llm-search", competition_ids=["demo-digits"], seeds=2, env=ENV, compute=COMPUTE, model_access=access
        )
        assert evaluation.model_access == access
        async for _ in gateway.watch_evaluation(evaluation.evaluation_id):
            pass
        evaluation = await gateway.get_evaluation(evaluation.evaluation_id)
        runs = [await gateway.get_run(cell.run_id) for cell in evaluation.runs]
    assert evaluation.progress.succeeded == 2, evaluation.message
    assert all(run.model_access == access for run in runs)
    usage = evaluation.progress.model_usage
    assert usage.calls == sum(run.model_usage.calls for run in runs) == 8
    assert usage.input_tokens == sum(run.model_usage.input_tokens for run in runs) > 0
    assert usage.cost_usd == pytest.approx(sum(run.model_usage.cost_usd for run in runs)) and usage.cost_usd > 0
    assert "model 8 calls" in progress_line(evaluation.progress)
