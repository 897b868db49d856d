"""Evaluations over HTTP/JSON: create, the progress stream as Server-Sent Events, get, errors as 4xx."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from mleredux.embedded import EmbeddedStack
from tests.test_http_api import read_sse


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=180)) as client:
        yield client


async def test_an_evaluation_over_http(stack: EmbeddedStack, session: aiohttp.ClientSession) -> None:
    base = f"http://{stack.http_address}"
    headers = {"Authorization": f"Bearer {stack.admin_token}"}
    body = {"agent": "dummy", "competition_ids": ["demo-digits"], "seeds": 2, "name": "over http"}
    async with session.post(f"{base}/v1/evaluations", json=body, headers=headers) as response:
        assert response.status == 200, await response.text()
        created = await response.json()
    evaluation_id = created["evaluation_id"]
    assert created["state"] == "EVALUATION_STATE_RUNNING" and created["seeds"] == 2
    async with session.get(f"{base}/v1/evaluations/{evaluation_id}/events", headers=headers) as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
        events = [e for e in await read_sse(response) if e.get("event") == "progress"]
    assert [int(e["data"]["seq"]) for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["data"]["state"] == "EVALUATION_STATE_SUCCEEDED"
    async with session.get(f"{base}/v1/evaluations/{evaluation_id}", headers=headers) as response:
        got = await response.json()
    overall = next(f for f in got["figures"] if f["group"] == "all")
    assert overall["valid_submission"]["mean"] == 100.0 and len(got["runs"]) == 2
    async with session.get(f"{base}/v1/evaluations", headers=headers) as response:
        assert evaluation_id in {e["evaluation_id"] for e in (await response.json())["evaluations"]}


@pytest.mark.parametrize(
    "body,status,message",
    [
        ({"agent": "dummy", "split": "nope", "seeds": 1}, 400, "unknown split 'nope'"),
        ({"agent": "dummy", "competition_ids": ["demo-digits"], "seeds": 0}, 400, "seeds must be at least 1"),
        ({"agent": "dummy", "competition_ids": ["nope-nope"], "seeds": 1}, 404, "unknown competition 'nope-nope'"),
        (
            {"agent": "dummy", "competition_ids": ["demo-digits"], "seeds": 1, "hint_evaluation_id": "evnope"},
            404,
            "hint_evaluation_id: no evaluation 'evnope'",
        ),
        (
            {"agent": "dummy", "competition_ids": ["demo-digits"], "seeds": 1, "task": "nope"},
            404,
            "unknown technique task 'nope'; the tasks are:",
        ),
    ],
)
async def test_bad_evaluations_are_4xx_with_the_reason(
    stack: EmbeddedStack, session: aiohttp.ClientSession, body: dict[str, object], status: int, message: str
) -> None:
    headers = {"Authorization": f"Bearer {stack.admin_token}"}
    async with session.post(f"http://{stack.http_address}/v1/evaluations", json=body, headers=headers) as response:
        assert response.status == status
        assert message in await response.text()
    async with session.get(f"http://{stack.http_address}/v1/evaluations/evnope", headers=headers) as response:
        assert response.status == 404
    # A stream of an unknown evaluation is refused before it opens, not as an error event inside it.
    async with session.get(f"http://{stack.http_address}/v1/evaluations/evnope/events", headers=headers) as response:
        assert response.status == 404 and "no evaluation 'evnope'" in await response.text()
