"""The model proxy against a real HTTP upstream on 127.0.0.1, spoken to over its real unix socket:
the key is added on the way out and never recorded, streams pass through chunk by chunk, budgets,
retries, timeouts, bad requests and replay."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mleredux.models.endpoints import Endpoint, Price
from services.runner.model_proxy import ModelLimits, ModelProxy, ProxySettings, ReplayBook
from tests.model_upstream import ModelUpstream, Reply

FAST = ProxySettings(
    backoff_seconds=0.01, read_timeout_seconds=1.0, request_timeout_seconds=5.0, max_request_bytes=1 << 16
)
CHAT = "http://proxy/v1/chat/completions"
MESSAGES = "http://proxy/anthropic/v1/messages"


@pytest.fixture(scope="module")
def upstream() -> Iterator[ModelUpstream]:
    server = ModelUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def fresh(upstream: ModelUpstream) -> ModelUpstream:
    upstream.reset()
    return upstream


def endpoints_for(upstream: ModelUpstream) -> list[Endpoint]:
    return [
        Endpoint(
            name="local",
            kind="openai",
            base_url=upstream.url,
            api_key=upstream.api_key,
            models=("test-model", "other-model"),
            prices={"test-model": Price(input=1000.0, output=2000.0)},
        ),
        Endpoint(name="claude", kind="anthropic", base_url=upstream.anthropic_url, api_key=upstream.api_key),
    ]


class Harness:
    def __init__(self, proxy: ModelProxy, events: list[dict[str, Any]], session: aiohttp.ClientSession) -> None:
        self.proxy = proxy
        self.events = events
        self.session = session

    async def post(self, url: str, body: Any, **headers: str) -> tuple[int, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with self.session.post(url, data=data, headers={"content-type": "application/json", **headers}) as r:
            text = await r.text()
            try:
                return r.status, json.loads(text)
            except ValueError:
                return r.status, text

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted(self.proxy.calls_dir.glob("*.json"))]


async def open_proxy(
    tmp_path: Path,
    upstream: ModelUpstream,
    *,
    limits: ModelLimits | None = None,
    replay: ReplayBook | None = None,
    name: str = "a",
) -> tuple[ModelProxy, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    (tmp_path / name).mkdir()
    proxy = ModelProxy(
        tmp_path / name / "model.sock",
        endpoints=endpoints_for(upstream),
        calls_dir=tmp_path / name / "model_calls",
        on_call=events.append,
        limits=limits,
        settings=FAST,
        replay=replay,
    )
    await proxy.start()
    return proxy, events


@pytest.fixture
async def harness(tmp_path: Path, fresh: ModelUpstream, request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    limits = getattr(request, "param", None)
    proxy, events = await open_proxy(tmp_path, fresh, limits=limits)
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(proxy.socket_path))) as session:
        yield Harness(proxy, events, session)
    await proxy.stop()


def assert_no_key_in(harness: Harness, upstream: ModelUpstream) -> None:
    for path in harness.proxy.calls_dir.rglob("*"):
        if path.is_file():
            assert upstream.api_key not in path.read_text()
    assert upstream.api_key not in json.dumps(harness.events)


def chat(content: str = "say hello", **extra: Any) -> dict[str, Any]:
    return {"model": "test-model", "messages": [{"role": "user", "content": content}], **extra}


async def test_a_call_reaches_the_upstream_with_the_real_key_and_is_recorded_without_it(
    harness: Harness, fresh: ModelUpstream
) -> None:
    fresh.script = [Reply("hello there friend")]
    status, body = await harness.post(CHAT, chat(), authorization="Bearer mleredux-placeholder-r1")
    assert status == 200 and body["choices"][0]["message"]["content"] == "hello there friend"
    (seen,) = fresh.calls("/chat/completions")
    assert seen.headers["Authorization"] == f"Bearer {fresh.api_key}"  # the placeholder never went out
    assert seen.body == chat()
    (event,) = harness.events
    assert event["endpoint"] == "local" and event["model"] == "test-model" and event["status"] == 200
    assert (event["input_tokens"], event["output_tokens"]) == (2, 3)
    assert event["cost_usd"] == pytest.approx((2 * 1000 + 3 * 2000) / 1e6)
    assert event["artifact"] == "model_calls/00001.json" and event["latency_ms"] > 0
    (record,) = harness.records()
    assert record["request"] == chat() and record["response"]["usage"]["completion_tokens"] == 3
    assert harness.proxy.usage.calls == 1 and harness.proxy.usage.output_tokens == 3
    assert_no_key_in(harness, fresh)


async def test_a_stream_passes_through_chunk_by_chunk_and_is_reassembled(
    harness: Harness, fresh: ModelUpstream
) -> None:
    fresh.script = [Reply("one two three four five six seven eight", chunk_delay=0.05)]
    reads: list[bytes] = []
    body = chat(stream=True, stream_options={"include_usage": True})
    async with harness.session.post(CHAT, json=body) as response:
        assert response.status == 200 and response.headers["content-type"].startswith("text/event-stream")
        async for piece in response.content.iter_any():
            reads.append(piece)
    text = b"".join(reads).decode()
    assert len(reads) >= 4  # the chunks came as the upstream sent them, not in one piece at the end
    assert text.rstrip().endswith("data: [DONE]")
    (event,) = harness.events
    assert event["stream"] is True and (event["input_tokens"], event["output_tokens"]) == (2, 8)
    (record,) = harness.records()
    assert record["assembled"]["choices"][0]["text"] == "one two three four five six seven eight"
    assert record["response_text"] == text


async def test_anthropic_messages_plain_and_streamed(harness: Harness, fresh: ModelUpstream) -> None:
    fresh.script = [Reply("bonjour"), Reply("a streamed answer")]
    body = {"model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": "hi there"}]}
    status, answer = await harness.post(MESSAGES, body, **{"x-api-key": "placeholder"})
    assert status == 200 and answer["content"][0]["text"] == "bonjour"
    status, streamed = await harness.post(MESSAGES, {**body, "stream": True})
    assert status == 200 and "message_delta" in streamed
    first, _ = fresh.calls("/v1/messages")
    assert first.headers["x-api-key"] == fresh.api_key and first.headers["anthropic-version"]
    assert [(e["input_tokens"], e["output_tokens"]) for e in harness.events] == [(2, 1), (2, 3)]
    assert harness.records()[1]["assembled"]["choices"][0]["text"] == "a streamed answer"
    assert_no_key_in(harness, fresh)


@pytest.mark.parametrize("harness", [ModelLimits(max_requests=3)], indirect=True)
async def test_a_request_budget_of_n_lets_exactly_n_calls_through(harness: Harness, fresh: ModelUpstream) -> None:
    answers = [await harness.post(CHAT, chat(f"call {i}")) for i in range(5)]
    assert [status for status, _ in answers] == [200, 200, 200, 429, 429]
    error = answers[3][1]["error"]
    assert error["type"] == "budget_exhausted" and error["budget"] == "requests" and "3" in error["message"]
    assert len(fresh.calls("/chat/completions")) == 3
    assert [e.get("budget") for e in harness.events] == [None, None, None, "requests", "requests"]
    assert harness.proxy.usage.calls == 3 and harness.proxy.usage.refused == 2


@pytest.mark.parametrize("harness", [ModelLimits(max_tokens=10)], indirect=True)
async def test_a_token_budget_refuses_once_used_up(harness: Harness, fresh: ModelUpstream) -> None:
    fresh.responder = lambda body: Reply("four words of answer")
    statuses = [(await harness.post(CHAT, chat("two words")))[0] for _ in range(3)]
    assert statuses == [200, 200, 429]  # 6 tokens, then 12 >= 10
    assert harness.events[-1]["budget"] == "tokens"


@pytest.mark.parametrize("harness", [ModelLimits(max_cost_usd=0.01)], indirect=True)
async def test_a_cost_budget_refuses_once_used_up(harness: Harness, fresh: ModelUpstream) -> None:
    statuses = [(await harness.post(CHAT, chat("a b c d e")))[0] for _ in range(3)]
    # 5*1000 + 1*2000 per million: $0.007 < $0.01, so a second call goes; then $0.014 >= $0.01.
    assert statuses == [200, 200, 429]
    assert harness.events[-1]["budget"] == "cost"


async def test_5xx_is_retried_with_backoff_and_4xx_never(harness: Harness, fresh: ModelUpstream) -> None:
    fresh.script = [Reply(status=500), Reply(status=503), Reply("third time")]
    status, body = await harness.post(CHAT, chat())
    assert status == 200 and body["choices"][0]["message"]["content"] == "third time"
    assert len(fresh.calls()) == 3 and harness.events[-1]["attempts"] == 3
    fresh.reset()
    fresh.script = [Reply(status=429), Reply("never asked")]
    status, body = await harness.post(CHAT, chat())
    assert status == 429 and body["error"]["type"] == "rate_limit_error"  # the upstream's own 429, passed on
    assert len(fresh.calls()) == 1
    fresh.reset()
    fresh.script = [Reply(status=502)] * 10
    status, _ = await harness.post(CHAT, chat())
    assert status == 502 and len(fresh.calls()) == FAST.retries + 1


async def test_a_slow_upstream_times_out_with_a_specific_error(harness: Harness, fresh: ModelUpstream) -> None:
    fresh.script = [Reply(delay=3.0)] * (FAST.retries + 1)
    status, body = await harness.post(CHAT, chat())
    assert status == 504 and body["error"]["type"] == "upstream_timeout"
    assert harness.events[-1]["status"] == 504


async def test_a_down_upstream_is_a_specific_error(tmp_path: Path) -> None:
    down = ModelUpstream()  # never started: nothing listens on its port
    proxy, events = await open_proxy(tmp_path, down)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(proxy.socket_path))) as session:
            async with session.post(CHAT, json=chat()) as response:
                assert response.status == 502
                assert (await response.json())["error"]["type"] == "upstream_unreachable"
    finally:
        await proxy.stop()
    assert events[-1]["status"] == 502


@pytest.mark.parametrize(
    ("url", "body", "status", "kind"),
    [
        (CHAT, {"model": "gpt-9", "messages": []}, 403, "model_not_allowed"),
        ("http://proxy/endpoints/nope/v1/chat/completions", chat(), 404, "unknown_endpoint"),
        ("http://proxy/elsewhere", chat(), 404, "not_found"),
        (CHAT, b"{not json", 400, "invalid_request"),
        (CHAT, b"[1, 2]", 400, "invalid_request"),
        (CHAT, {"model": 7}, 400, "invalid_request"),
        (CHAT, chat("x" * (1 << 17)), 413, "request_too_large"),
    ],
)
async def test_bad_requests_get_specific_errors_and_events(
    harness: Harness, fresh: ModelUpstream, url: str, body: Any, status: int, kind: str
) -> None:
    got, answer = await harness.post(url, body)
    assert got == status and answer["error"]["type"] == kind
    assert harness.events[-1]["status"] == status and harness.events[-1]["error"]
    assert fresh.calls() == []
    # The proxy is still there for the next call.
    assert (await harness.post(CHAT, chat()))[0] == 200


async def test_a_named_endpoint_path_and_the_models_list(harness: Harness, fresh: ModelUpstream) -> None:
    status, _ = await harness.post("http://proxy/endpoints/local/v1/chat/completions", chat())
    assert status == 200 and fresh.calls()[-1].path == "/v1/chat/completions"
    async with harness.session.get("http://proxy/v1/models") as response:
        listed = await response.json()
    assert [m["id"] for m in listed["data"]] == ["other-model", "test-model"]


async def test_replay_answers_from_the_recording_with_zero_upstream_calls(tmp_path: Path, fresh: ModelUpstream) -> None:
    fresh.script = [Reply("first"), Reply("second"), Reply("streamed reply here")]
    proxy, _ = await open_proxy(tmp_path, fresh, name="recorded")
    bodies = [chat("same"), chat("same"), chat("other", stream=True, stream_options={"include_usage": True})]
    recorded: list[Any] = []
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(proxy.socket_path))) as session:
        h = Harness(proxy, [], session)
        for body in bodies:
            recorded.append(await h.post(CHAT, body))
        records = h.records()
    await proxy.stop()
    fresh.reset()

    replaying, events = await open_proxy(tmp_path, fresh, replay=ReplayBook(records), name="replay")
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(replaying.socket_path))) as session:
        h = Harness(replaying, events, session)
        # Out of order across different requests; in order among identical ones.
        again = [await h.post(CHAT, bodies[2]), await h.post(CHAT, bodies[0]), await h.post(CHAT, bodies[1])]
        missing = await h.post(CHAT, chat("never asked before"))
        exhausted = await h.post(CHAT, bodies[0])
    await replaying.stop()
    assert again == [recorded[2], recorded[0], recorded[1]]
    assert missing[0] == 409 and missing[1]["error"]["type"] == "replay_no_match"
    assert exhausted[0] == 409
    assert fresh.calls() == []
    assert [e.get("replayed") for e in events[:3]] == [True, True, True]
    assert all(e["cost_usd"] == 0.0 for e in events[:3])


async def test_the_runners_cap_on_calls_holds_for_a_run_without_a_budget(tmp_path: Path, fresh: ModelUpstream) -> None:
    events: list[dict[str, Any]] = []
    (tmp_path / "cap").mkdir()
    proxy = ModelProxy(
        tmp_path / "cap" / "model.sock",
        endpoints=endpoints_for(fresh),
        calls_dir=tmp_path / "cap" / "model_calls",
        on_call=events.append,
        settings=ProxySettings(max_calls_per_run=2),
    )
    await proxy.start()
    try:
        async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(proxy.socket_path))) as session:
            h = Harness(proxy, events, session)
            answers = [await h.post(CHAT, chat()) for _ in range(3)]
    finally:
        await proxy.stop()
    assert [status for status, _ in answers] == [200, 200, 429]
    assert answers[2][1]["error"]["budget"] == "runner_calls" and len(fresh.calls()) == 2


async def test_a_key_echoed_by_the_upstream_never_reaches_the_agent(harness: Harness, fresh: ModelUpstream) -> None:
    fresh.script = [Reply(f"your key is {fresh.api_key}"), Reply(f"streamed {fresh.api_key} back", chunks=1)]
    status, body = await harness.post(CHAT, chat())
    assert status == 200 and body["choices"][0]["message"]["content"] == "your key is [redacted]"
    status, streamed = await harness.post(CHAT, chat(stream=True))
    assert status == 200 and fresh.api_key not in streamed and "[redacted]" in streamed
    assert_no_key_in(harness, fresh)


async def test_an_agent_leaving_mid_stream_is_recorded_and_the_proxy_carries_on(
    harness: Harness, fresh: ModelUpstream, capfd: pytest.CaptureFixture[str]
) -> None:
    fresh.script = [Reply(" ".join(["word"] * 400), chunks=200, chunk_delay=0.01)]
    async with harness.session.post(CHAT, json=chat(stream=True)) as response:
        await response.content.readany()
        response.close()  # gone after the first chunk
    for _ in range(200):
        if harness.events:
            break
        await asyncio.sleep(0.05)
    (event,) = harness.events
    assert event["status"] == 200 and "closed the connection" in event["error"]
    assert (await harness.post(CHAT, chat()))[0] == 200
    assert "Traceback" not in capfd.readouterr().err


async def test_an_oversized_answer_is_refused_once_and_recorded_once(tmp_path: Path, fresh: ModelUpstream) -> None:
    events: list[dict[str, Any]] = []
    (tmp_path / "big").mkdir()
    proxy = ModelProxy(
        tmp_path / "big" / "model.sock",
        endpoints=endpoints_for(fresh),
        calls_dir=tmp_path / "big" / "model_calls",
        on_call=events.append,
        settings=ProxySettings(max_response_bytes=2000),
    )
    await proxy.start()
    fresh.script = [Reply("long " * 1000)]
    try:
        async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(proxy.socket_path))) as session:
            status, body = await Harness(proxy, events, session).post(CHAT, chat())
    finally:
        await proxy.stop()
    assert status == 502 and body["error"]["type"] == "upstream_answer_too_large"
    assert [e["status"] for e in events] == [502] and len(list(proxy.calls_dir.glob("*.json"))) == 1


async def test_the_models_list_is_the_same_in_a_replay(tmp_path: Path, fresh: ModelUpstream) -> None:
    records = [{"call": 1, "fingerprint": "x", "models_offered": ["test-model", "other-model"], "status": 200}]
    proxy, _ = await open_proxy(tmp_path, fresh, replay=ReplayBook(records), name="replay-models")
    try:
        async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(proxy.socket_path))) as session:
            async with session.get("http://proxy/v1/models") as response:
                listed = await response.json()
    finally:
        await proxy.stop()
    assert [m["id"] for m in listed["data"]] == ["test-model", "other-model"] and fresh.calls() == []
