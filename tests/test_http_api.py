"""The gateway's HTTP/JSON API through the real embedded stack: REST, SSE, downloads, OpenAPI, bad input."""

from __future__ import annotations

import hashlib
import http.client
import json
import string
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mleredux.client import GatewayClient
from mleredux.embedded import EmbeddedStack
from services.gateway.http_api import GatewayHttp
from services.gateway.rest_routes import ROUTES, to_json

TERMINAL = {"RUN_STATE_SUCCEEDED", "RUN_STATE_FAILED", "RUN_STATE_CANCELLED", "RUN_STATE_TIMED_OUT", "RUN_STATE_LOST"}


@pytest.fixture(scope="module")
def base(stack: EmbeddedStack) -> str:
    assert stack.http_address, "the embedded gateway reported no HTTP address"
    return f"http://{stack.http_address}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=180)) as client:
        yield client


async def new_user(session: aiohttp.ClientSession, base: str, admin_token: str, user: str) -> str:
    """A token for `user`, made over HTTP by the admin."""
    async with session.post(f"{base}/v1/tokens", json={"user": user, "name": "http"}, headers=bearer(admin_token)) as r:
        assert r.status == 200, await r.text()
        body = await r.json()
    assert body["api_token"]["user"] == user and body["token"].startswith("mlx_")
    return str(body["token"])


async def read_sse(response: aiohttp.ClientResponse, stop_after: int | None = None) -> list[dict[str, Any]]:
    """Parses Server-Sent Events into dicts {id, event, data}; stops after `stop_after` events with an id."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    seen_ids = 0
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if not line:
            if "data" in current:
                current["data"] = json.loads(current["data"])
                events.append(current)
                if "id" in current:
                    seen_ids += 1
                    if stop_after is not None and seen_ids >= stop_after:
                        return events
            current = {}
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        current[field] = value.removeprefix(" ")
    return events


async def run_to_end(session: aiohttp.ClientSession, base: str, token: str, **body: Any) -> tuple[dict, list[dict]]:
    request = {"competition_id": "demo-digits", "agent": "dummy", "env": {"DUMMY_SLEEP": "0"}, **body}
    async with session.post(f"{base}/v1/runs", json=request, headers=bearer(token)) as r:
        assert r.status == 200, await r.text()
        run = await r.json()
    async with session.get(f"{base}/v1/runs/{run['run_id']}/events", headers=bearer(token)) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        events = await read_sse(r)
    async with session.get(f"{base}/v1/runs/{run['run_id']}", headers=bearer(token)) as r:
        return await r.json(), events


@pytest.fixture(scope="module")
async def finished(stack: EmbeddedStack, base: str) -> tuple[dict, list[dict]]:
    """One dummy run created and watched over HTTP by the admin."""
    async with aiohttp.ClientSession() as session:
        return await run_to_end(session, base, stack.admin_token)


async def test_rest_create_get_list_and_cancel(stack: EmbeddedStack, base: str, session: aiohttp.ClientSession) -> None:
    token = await new_user(session, base, stack.admin_token, "rest-user")
    request = {"competition_id": "demo-digits", "agent": "dummy", "env": {"DUMMY_SLEEP": "60"}}
    async with session.post(f"{base}/v1/runs", json=request, headers=bearer(token)) as r:
        assert r.status == 200, await r.text()
        created = await r.json()
    assert created["owner"] == "rest-user" and created["state"] == "RUN_STATE_QUEUED"
    assert created["env"] == {"DUMMY_SLEEP": "60"} and isinstance(created["last_seq"], int)
    run_id = created["run_id"]
    async with session.get(f"{base}/v1/runs/{run_id}", headers=bearer(token)) as r:
        assert r.status == 200 and (await r.json())["run_id"] == run_id
    async with session.get(f"{base}/v1/runs", params={"page_size": "5"}, headers=bearer(token)) as r:
        listed = await r.json()
    assert run_id in [run["run_id"] for run in listed["runs"]]
    # The same run seen through the gRPC API is the same message.
    async with GatewayClient(stack.gateway_address, token) as client:
        assert to_json(await client.get_run(run_id))["competition_id"] == "demo-digits"
    async with session.post(f"{base}/v1/runs/{run_id}:cancel", headers=bearer(token)) as r:
        assert r.status == 200, await r.text()
        cancelled = await r.json()
    assert cancelled["state"] == "RUN_STATE_CANCELLED"
    async with session.get(f"{base}/v1/runs", params={"state": "RUN_STATE_CANCELLED"}, headers=bearer(token)) as r:
        assert run_id in [run["run_id"] for run in (await r.json())["runs"]]
    # Cancelling again is accepted and changes nothing.
    async with session.post(f"{base}/v1/runs/{run_id}:cancel", json={}, headers=bearer(token)) as r:
        assert r.status == 200 and (await r.json())["state"] == "RUN_STATE_CANCELLED"
    async with session.post(
        f"{base}/v1/runs", json={**request, "competition_id": "no-such"}, headers=bearer(token)
    ) as r:
        assert r.status == 404 and (await r.json())["code"] == "NOT_FOUND"


async def test_users_are_isolated_over_http(stack: EmbeddedStack, base: str, session: aiohttp.ClientSession) -> None:
    alice = await new_user(session, base, stack.admin_token, "http-alice")
    bob = await new_user(session, base, stack.admin_token, "http-bob")
    request = {"competition_id": "demo-digits", "agent": "dummy", "env": {"DUMMY_SLEEP": "0"}}
    async with session.post(f"{base}/v1/runs", json=request, headers=bearer(alice)) as r:
        run_id = (await r.json())["run_id"]
    for method, path in [
        ("GET", f"/v1/runs/{run_id}"),
        ("POST", f"/v1/runs/{run_id}:cancel"),
        ("GET", f"/v1/runs/{run_id}/events"),
        ("GET", f"/v1/runs/{run_id}/artifacts"),
        ("GET", f"/v1/runs/{run_id}/artifacts/events.jsonl"),
    ]:
        async with session.request(method, base + path, headers=bearer(bob)) as r:
            body = await r.json()
            assert r.status == 404 and body["code"] == "NOT_FOUND" and run_id in body["message"], (path, body)
        # The cookie carries the same identity where it is accepted, and nothing elsewhere.
        async with session.request(method, base + path, cookies={"mleredux_token": bob}) as r:
            expected = 404 if path.endswith(("/events", "/events.jsonl")) else 401
            assert r.status == expected, (path, await r.text())
    async with session.get(f"{base}/v1/runs", headers=bearer(bob)) as r:
        assert run_id not in [run["run_id"] for run in (await r.json())["runs"]]
    async with session.get(f"{base}/v1/runs", params={"page_size": "1000"}, headers=bearer(stack.admin_token)) as r:
        assert run_id in [run["run_id"] for run in (await r.json())["runs"]]
    for headers in ({}, bearer("mlx_000000000000_" + "x" * 40), {"Authorization": "Basic abc"}):
        async with session.get(f"{base}/v1/runs", headers=headers) as r:
            body = await r.json()
            assert r.status == 401 and body["code"] == "UNAUTHENTICATED" and body["message"], headers
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
    async with session.post(f"{base}/v1/tokens", json={"user": "someone-else"}, headers=bearer(bob)) as r:
        assert r.status == 403 and (await r.json())["code"] == "PERMISSION_DENIED"
    async with session.get(f"{base}/v1/runs/{run_id}/events", headers=bearer(alice)) as r:
        assert (await read_sse(r))[-1]["event"] == "end"


async def test_sse_replays_and_resumes_with_every_event_exactly_once(
    stack: EmbeddedStack, base: str, session: aiohttp.ClientSession, finished: tuple[dict, list[dict]]
) -> None:
    run, events = finished
    assert run["state"] == "RUN_STATE_SUCCEEDED", run["message"]
    numbered = [e for e in events if "id" in e]
    assert [int(e["id"]) for e in numbered] == list(range(1, int(run["last_seq"]) + 1))
    assert all(int(e["data"]["seq"]) == int(e["id"]) and e["event"] in e["data"] for e in numbered)
    assert events[-1]["event"] == "end" and "id" not in events[-1]
    # Exactly what the gRPC API streams.
    async with GatewayClient(stack.gateway_address, stack.admin_token) as client:
        grpc_events = [to_json(e) async for e in client.watch(run["run_id"])]
    assert [e["data"] for e in numbered] == grpc_events
    url = f"{base}/v1/runs/{run['run_id']}/events"
    for headers, params, first in [
        ({"Last-Event-ID": "5"}, {}, 6),
        ({}, {"from_seq": "7"}, 7),
        ({"Last-Event-ID": "3"}, {"from_seq": "9"}, 4),  # the reconnect header wins over the URL
    ]:
        async with session.get(url, headers={**bearer(stack.admin_token), **headers}, params=params) as r:
            resumed = [int(e["id"]) for e in await read_sse(r) if "id" in e]
        assert resumed == list(range(first, int(run["last_seq"]) + 1)), (headers, params)
    for headers, params in [
        ({"Last-Event-ID": "x"}, {}),
        ({}, {"from_seq": "-1"}),
        ({}, {"from_seq": "one"}),
        # Past int64 (issue 12.10: these answered 500).
        ({"Last-Event-ID": str(2**63)}, {}),
        ({"Last-Event-ID": str(2**63 - 1)}, {}),
        ({"Last-Event-ID": "9" * 40}, {}),
        ({}, {"from_seq": str(2**63)}),
    ]:
        async with session.get(url, headers={**bearer(stack.admin_token), **headers}, params=params) as r:
            body = await r.json()
            assert r.status == 400 and body["code"] == "INVALID_ARGUMENT", body
            assert "Last-Event-ID" in body["message"] or "from_seq" in body["message"]


async def test_a_live_stream_cut_midway_resumes_without_gaps_or_duplicates(
    stack: EmbeddedStack, base: str, session: aiohttp.ClientSession
) -> None:
    token = stack.admin_token
    request = {"competition_id": "demo-digits", "agent": "dummy", "env": {"DUMMY_SLEEP": "3"}}
    async with session.post(f"{base}/v1/runs", json=request, headers=bearer(token)) as r:
        run_id = (await r.json())["run_id"]
    url = f"{base}/v1/runs/{run_id}/events"
    seen: list[int] = []
    # Each connection is dropped after a few events, while the run is live; the next one resumes
    # from the last id it saw, as EventSource does.
    for _ in range(50):
        headers = {**bearer(token), **({"Last-Event-ID": str(seen[-1])} if seen else {})}
        async with session.get(url, headers=headers) as r:
            part = await read_sse(r, stop_after=3)
        seen += [int(e["id"]) for e in part if "id" in e]
        if part and part[-1]["event"] == "end":
            break
    async with session.get(f"{base}/v1/runs/{run_id}", headers=bearer(token)) as r:
        run = await r.json()
    assert run["state"] in TERMINAL
    assert seen == list(range(1, int(run["last_seq"]) + 1))


async def test_artifacts_list_and_download(
    stack: EmbeddedStack, base: str, session: aiohttp.ClientSession, finished: tuple[dict, list[dict]]
) -> None:
    run, events = finished
    stored = {
        e["data"]["artifact_stored"]["name"]: e["data"]["artifact_stored"]
        for e in events
        if e["event"] == "artifact_stored"
    }
    assert "submission/submission.csv" in stored
    async with session.get(f"{base}/v1/runs/{run['run_id']}/artifacts", headers=bearer(stack.admin_token)) as r:
        listed = {a["name"]: a for a in (await r.json())["artifacts"]}
    assert {"submission/submission.csv", "report.json", "events.jsonl"} <= set(listed)
    for name, record in stored.items():
        for auth in ({"headers": bearer(stack.admin_token)}, {"cookies": {"mleredux_token": stack.admin_token}}):
            async with session.get(f"{base}/v1/runs/{run['run_id']}/artifacts/{name}", **auth) as r:
                assert r.status == 200, await r.text()
                data = await r.read()
                assert r.headers["Content-Disposition"].startswith("attachment;")
            assert hashlib.sha256(data).hexdigest() == record["sha256"] and len(data) == int(record["size_bytes"])
    async with session.get(
        f"{base}/v1/runs/{run['run_id']}/artifacts/report.json", headers=bearer(stack.admin_token)
    ) as r:
        report = json.loads(await r.read())
    assert report["score"] == pytest.approx(run["report"]["score"])
    for name, status in [("no-such.csv", 404), ("a/../../x", 400), ("/etc/passwd", 400)]:
        async with session.get(
            f"{base}/v1/runs/{run['run_id']}/artifacts/{urllib.parse.quote(name, safe='')}",
            headers=bearer(stack.admin_token),
        ) as r:
            answer = await r.json()
            assert r.status == status and name in answer["message"], answer
            assert status != 400 or answer["message"].startswith("name "), answer


async def test_competitions_callers_and_token_routes(
    stack: EmbeddedStack, base: str, session: aiohttp.ClientSession
) -> None:
    admin = bearer(stack.admin_token)
    async with session.get(f"{base}/v1/competitions", headers=admin) as r:
        ids = [c["id"] for c in (await r.json())["competitions"]]
    assert "demo-digits" in ids
    async with session.get(f"{base}/v1/competitions/demo-digits", headers=admin) as r:
        assert r.status == 200 and (await r.json())["id"] == "demo-digits"
    async with session.post(f"{base}/v1/competitions/demo-digits:prepare", headers=admin, json={}) as r:
        progress = await read_sse(r)
    assert progress[-1]["event"] == "end" and progress[-2]["event"] == "progress"
    async with session.post(f"{base}/v1/competitions/no-such-competition:prepare", headers=admin) as r:
        assert r.status == 404, await r.text()
    token = await new_user(session, base, stack.admin_token, "http-tokens")
    async with session.get(f"{base}/v1/caller", headers=bearer(token)) as r:
        caller = await r.json()
    assert caller["user"] == "http-tokens" and caller["admin"] is False
    async with session.get(f"{base}/v1/tokens", headers=bearer(token)) as r:
        assert [t["token_id"] for t in (await r.json())["tokens"]] == [caller["token_id"]]
    async with session.post(f"{base}/v1/tokens/{caller['token_id']}:revoke", headers=bearer(token)) as r:
        assert r.status == 200 and (await r.json())["revoke_time"]
    async with session.get(f"{base}/v1/caller", headers=bearer(token)) as r:
        assert r.status == 401 and "revoked" in (await r.json())["message"]


@pytest.mark.parametrize(
    "method,path,body,field",
    [
        ("POST", "/v1/runs", b"{not json", "JSON"),
        ("POST", "/v1/runs", b"[1, 2]", "JSON object"),
        ("POST", "/v1/runs", b'{"competition_id": "demo-digits", "agent": "dummy", "colour": 1}', "colour"),
        (
            "POST",
            "/v1/runs",
            b'{"competition_id": "demo-digits", "agent": "dummy", "compute": {"cpu": 1}}',
            "compute.cpu",
        ),
        ("POST", "/v1/runs", b'{"competition_id": "demo-digits", "agent": "dummy", "compute": {"cpus": "x"}}', "cpus"),
        (
            "POST",
            "/v1/runs",
            b'{"competition_id": "demo-digits", "agent": "dummy", "compute": {"cpus": "NaN"}}',
            "compute.cpus",
        ),
        (
            "POST",
            "/v1/runs",
            b'{"competition_id": "demo-digits", "agent": "dummy", "compute": {"gpus": -1}}',
            "compute.gpus",
        ),
        ("POST", "/v1/runs", b'{"competition_id": "demo-digits", "agent": "dummy", "env": {"1X": "a"}}', "env"),
        ("POST", "/v1/runs", b'{"competition_id": "demo-digits", "agent": 7}', "agent"),
        ("POST", "/v1/runs", b'{"competition_id": "demo-digits"}', "agent"),
        ("POST", "/v1/runs", b"{}", "competition_id"),
        ("GET", "/v1/runs?page_size=abc", b"", "page_size"),
        ("GET", "/v1/runs?page_size=-1", b"", "page_size"),
        ("GET", "/v1/runs?page_size=99999999999", b"", "page_size"),
        ("GET", "/v1/runs?state=BOGUS", b"", "state"),
        ("GET", "/v1/runs?page_token=zzz", b"", "page_token"),
        ("GET", "/v1/runs?owner=x", b"", "owner"),
        ("POST", "/v1/runs/abc:cancel", b'{"run_id": "other"}', "run_id"),
        ("POST", "/v1/tokens", b'{"user": "Not A Name"}', "user"),
        ("POST", "/v1/tokens", b'{"admin": "yes"}', "admin"),
    ],
)
async def test_bad_input_is_400_naming_the_field(
    stack: EmbeddedStack, base: str, session: aiohttp.ClientSession, method: str, path: str, body: bytes, field: str
) -> None:
    headers = {**bearer(stack.admin_token), "Content-Type": "application/json"}
    async with session.request(method, base + path, data=body, headers=headers) as r:
        answer = await r.json()
    assert r.status == 400 and answer["code"] == "INVALID_ARGUMENT", answer
    assert field in answer["message"], answer


async def test_the_openapi_document_is_valid_and_covers_every_route(base: str, session: aiohttp.ClientSession) -> None:
    from openapi_spec_validator import validate

    async with session.get(f"{base}/v1/openapi.json") as r:
        document = await r.json()
    validate(document)
    documented = {(m.upper(), p) for p, item in document["paths"].items() for m in item}
    served = {
        (route.method, route.resource.canonical)
        for route in GatewayHttp().app().router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/v1/") and route.method != "HEAD"
    }
    assert documented == served
    from mleredux.v1 import gateway_pb2

    rpcs = {m.name for m in gateway_pb2.DESCRIPTOR.services_by_name["GatewayService"].methods}
    operations = {op["operationId"] for item in document["paths"].values() for op in item.values()}
    assert rpcs <= operations and len(ROUTES) == len(rpcs)
    schemas = document["components"]["schemas"]
    assert set(schemas["mleredux.v1.GradeReport"]["properties"]) >= {"score", "gold_medal", "valid_submission"}


# -- property-based: no input makes the HTTP API answer 5xx ----------------------------------------

KNOWN_COMPETITIONS = {"demo-digits", "demo-breast-cancer", "demo-diabetes"}
_json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def _value_for(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Mostly values of the schema's type, sometimes anything at all."""
    if "anyOf" in schema:
        return st.one_of([_value_for(option, components, depth) for option in schema["anyOf"]])
    if "$ref" in schema:
        target = components[schema["$ref"].rsplit("/", 1)[-1]]
        if depth > 2:
            return st.just({})
        return _object_for(target, components, depth + 1) | _json_values
    kinds = schema.get("type", "string")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    options: list[st.SearchStrategy[Any]] = [_json_values]
    for kind in kinds:
        if "enum" in schema:
            options.append(st.sampled_from(schema["enum"]))
        elif kind == "string":
            options.append(st.text(max_size=30) | st.integers().map(str))
        elif kind == "integer":
            options.append(st.integers(min_value=-(2**70), max_value=2**70))
        elif kind == "number":
            options.append(st.floats() | st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999"]))
        elif kind == "boolean":
            options.append(st.booleans())
        elif kind == "null":
            options.append(st.none())
        elif kind == "array":
            options.append(st.lists(_value_for(schema["items"], components, depth + 1), max_size=3))
        elif kind == "object":
            item = schema.get("additionalProperties") or {}
            options.append(st.dictionaries(st.text(max_size=10), _value_for(item, components, depth + 1), max_size=3))
    return st.one_of(options)


def _object_for(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    properties = schema.get("properties", {})
    fields = {name: _value_for(sub, components, depth) for name, sub in properties.items()}
    known = st.fixed_dictionaries({}, optional=fields) if fields else st.just({})
    unknown = st.dictionaries(st.text(min_size=1, max_size=8), _json_scalars, max_size=2)
    return st.one_of(known, st.tuples(known, unknown).map(lambda pair: {**pair[1], **pair[0]}))


def _request_strategy(document: dict[str, Any]) -> st.SearchStrategy[tuple[str, str, bytes, dict[str, str]]]:
    components = document["components"]["schemas"]
    per_operation = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            params = operation.get("parameters", [])
            path_values = {p["name"]: st.text(max_size=20) for p in params if p["in"] == "path"}
            query_values = {
                p["name"]: _value_for(p["schema"], components).map(lambda v: v if isinstance(v, str) else json.dumps(v))
                for p in params
                if p["in"] == "query"
            }
            bogus_query = st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=2)
            body_schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            bodies = (
                _value_for(body_schema, components).map(lambda v: json.dumps(v).encode())
                if body_schema
                else st.just(b"")
            ) | st.binary(max_size=40)
            headers = st.fixed_dictionaries(
                {},
                optional={
                    "Last-Event-ID": st.text(alphabet=string.printable.strip(), max_size=12),
                    "Authorization": st.text(
                        alphabet=st.characters(min_codepoint=0, max_codepoint=255, exclude_characters="\r\n"),
                        max_size=30,
                    ),
                },
            )
            per_operation.append(
                st.tuples(
                    st.just(method.upper()),
                    st.just(path),
                    st.fixed_dictionaries(path_values),
                    st.fixed_dictionaries({}, optional=query_values) | bogus_query,
                    bodies,
                    headers,
                ).map(_assemble)
            )
    return st.one_of(per_operation)


def _assemble(parts: tuple[str, str, dict[str, str], dict[str, str], bytes, dict[str, str]]) -> tuple:
    method, template, path_values, query, body, headers = parts
    path = template
    for name, value in path_values.items():
        if name == "competition_id" and value in KNOWN_COMPETITIONS:
            value = "no-such-" + value
        path = path.replace("{" + name + "}", urllib.parse.quote(value, safe=""))
    # Runs are never created for real: a competition that exists would queue one per example.
    if body.startswith(b"{"):
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = None
        known = isinstance(decoded, dict) and decoded.get("competition_id")
        if isinstance(known, str) and known in KNOWN_COMPETITIONS:
            decoded["competition_id"] = "no-such-" + decoded["competition_id"]
            body = json.dumps(decoded).encode()
    if query:
        path += "?" + urllib.parse.urlencode(query)
    return method, path, body, headers


@pytest.fixture(scope="module")
def fuzz_token(stack: EmbeddedStack) -> str:
    """A non-admin user's token, so the fuzz cannot touch other users' runs or make admins."""
    host, port = stack.http_address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    status, data, _ = _fetch(
        connection, "POST", "/v1/tokens", b'{"user": "http-fuzz"}', {"Authorization": f"Bearer {stack.admin_token}"}
    )
    connection.close()
    assert status == 200, data
    return str(json.loads(data)["token"])


def test_no_input_makes_the_http_api_answer_5xx(stack: EmbeddedStack, fuzz_token: str) -> None:
    host, port = stack.http_address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    document = json.loads(_fetch(connection, "GET", "/v1/openapi.json", b"", {})[1])
    answered: dict[int, int] = {}

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(_request_strategy(document), st.booleans())
    def check(request: tuple[str, str, bytes, dict[str, str]], authorised: bool) -> None:
        method, path, body, headers = request
        if authorised and "Authorization" not in headers:
            headers = {**headers, "Authorization": f"Bearer {fuzz_token}"}
        status, data, content_type = _fetch(connection, method, path, body, headers)
        answered[status] = answered.get(status, 0) + 1
        assert status < 500, (method, path, body, headers, status, data[:300])
        if status >= 400 and content_type.startswith("application/json"):
            error = json.loads(data)
            assert error["code"] and error["message"], data
        elif status >= 400:
            # Only a request HTTP itself forbids (e.g. a control character in a header) is refused
            # by the HTTP parser, before any route, as plain text.
            assert status == 400 and data.startswith(b"Invalid"), data

    check()
    # The run exercised both sides of the API, not only its error path.
    assert any(status < 300 for status in answered) and any(400 <= status < 500 for status in answered), answered


def _fetch(
    connection: http.client.HTTPConnection, method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes, str]:
    for attempt in range(2):
        try:
            connection.putrequest(method, path, skip_accept_encoding=True)
            for key, value in headers.items():
                connection.putheader(key, value.encode("latin-1"))
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            return response.status, response.read(), response.getheader("Content-Type", "")
        except (http.client.RemoteDisconnected, ConnectionError):
            # The server closed a kept-alive connection (it may, after an error): once more, anew.
            connection.close()
            if attempt:
                raise
    raise AssertionError("unreachable")
