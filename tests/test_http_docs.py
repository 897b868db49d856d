"""The curl examples of docs/http_api.md and the README, run as written against a live gateway.

Every ```sh block preceded by `<!-- tested: curl -->` is taken line by line: its first line must set
H and T the documented way; every other line is one curl command, run with real curl (no shell) with
$H, $T and RUN_ID (the run the block's first POST created) filled in. Each answer must be 200 and what
the route promises; a line no check here knows fails the test, so the docs cannot grow untested lines.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mleredux.config import Home
from mleredux.embedded import EmbeddedStack

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "docs" / "http_api.md", REPO / "README.md"]
MARKER = "<!-- tested: curl -->"
SETUP_LINE = "H=http://127.0.0.1:50080 T=$(cat ~/.mleredux/admin.token)"


def curl_blocks(path: Path) -> list[list[str]]:
    text = path.read_text()
    blocks = re.findall("^" + re.escape(MARKER) + r"\n```sh\n(.*?)```", text, flags=re.DOTALL | re.MULTILINE)
    markers = re.findall("^" + re.escape(MARKER) + "$", text, flags=re.MULTILINE)
    assert len(markers) == len(blocks), f"{path}: a {MARKER} line not followed by a ```sh block"
    return [[line for line in block.splitlines() if line.strip()] for block in blocks]


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes
    files: dict[str, bytes] = field(default_factory=dict)

    def json(self) -> Any:
        assert self.content_type.startswith("application/json"), self.content_type
        return json.loads(self.body)


def sse_events(body: bytes) -> list[dict[str, str]]:
    events = []
    for chunk in body.decode().split("\n\n"):
        fields: dict[str, str] = {}
        for line in chunk.splitlines():
            if line and not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        if fields:
            events.append(fields)
    return events


@dataclass
class Block:
    """What the lines of one block have done so far."""

    run_id: str = ""
    ended: bool = False


def check_create(answer: Answer, block: Block, args: list[str]) -> None:
    run = answer.json()
    assert run["competition_id"] == "demo-digits" and run["agent"] == "dummy" and run["run_id"]
    block.run_id = run["run_id"]


def check_get(answer: Answer, block: Block, args: list[str]) -> None:
    assert answer.json()["run_id"] == block.run_id


def check_events(answer: Answer, block: Block, args: list[str]) -> None:
    assert answer.content_type.startswith("text/event-stream")
    events = sse_events(answer.body)
    assert events[-1].get("event") == "end", events[-3:]
    seqs = [int(e["id"]) for e in events if "id" in e]
    resume = next((a.split(":", 1)[1].strip() for a in args if a.lower().startswith("last-event-id:")), None)
    first = int(resume) + 1 if resume is not None else 1
    assert seqs == list(range(first, first + len(seqs))) and seqs, seqs  # gap-free, from where it was asked
    statuses = [json.loads(e["data"]) for e in events if e.get("event") == "status_change"]
    assert statuses[-1]["status_change"]["state"] == "RUN_STATE_SUCCEEDED"
    block.ended = True


def check_list(answer: Answer, block: Block, args: list[str]) -> None:
    runs = answer.json()["runs"]
    url = next(a for a in args if "/v1/runs?" in a)
    wanted = dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))
    assert len(runs) <= int(wanted.get("page_size", "50"))
    if "state" in wanted:
        assert all(r["state"] == wanted["state"] for r in runs)
    if "state" not in wanted or block.ended:
        assert block.run_id in [r["run_id"] for r in runs]


def check_artifacts(answer: Answer, block: Block, args: list[str]) -> None:
    names = [a["name"] for a in answer.json()["artifacts"]]
    assert "submission/submission.csv" in names and "report.json" in names


def check_download(answer: Answer, block: Block, args: list[str]) -> None:
    (content,) = answer.files.values()
    assert content.decode().startswith("id,label\n")


def check_report(answer: Answer, block: Block, args: list[str]) -> None:
    report = answer.json()
    assert report["competition_id"] == "demo-digits" and report["valid_submission"] is True
    assert isinstance(report["score"], float)


def check_cancel(answer: Answer, block: Block, args: list[str]) -> None:
    run = answer.json()
    assert run["run_id"] == block.run_id
    if block.ended:
        assert run["state"] == "RUN_STATE_SUCCEEDED"  # an ended run is returned as it is
    else:
        assert run["state"] in {"RUN_STATE_CANCELLED", "RUN_STATE_SUCCEEDED"}


def check_competition(answer: Answer, block: Block, args: list[str]) -> None:
    assert answer.json()["id"] == "demo-digits"


def check_caller(answer: Answer, block: Block, args: list[str]) -> None:
    assert answer.json()["admin"] is True


def check_openapi(answer: Answer, block: Block, args: list[str]) -> None:
    assert answer.json()["openapi"].startswith("3.1")


#: (method, path pattern after the host) -> check; RUN_ID is already filled in.
ROUTES: list[tuple[str, str, Callable[[Answer, Block, list[str]], None]]] = [
    ("POST", r"/v1/runs", check_create),
    ("GET", r"/v1/runs/\w+", check_get),
    ("GET", r"/v1/runs/\w+/events(\?.*)?", check_events),
    ("GET", r"/v1/runs\?.*", check_list),
    ("GET", r"/v1/runs/\w+/artifacts", check_artifacts),
    ("GET", r"/v1/runs/\w+/artifacts/submission/submission\.csv", check_download),
    ("GET", r"/v1/runs/\w+/artifacts/report\.json", check_report),
    ("POST", r"/v1/runs/\w+:cancel", check_cancel),
    ("GET", r"/v1/competitions/[\w-]+", check_competition),
    ("GET", r"/v1/caller", check_caller),
    ("GET", r"/v1/openapi\.json", check_openapi),
]


def route_of(args: list[str], base: str) -> Callable[[Answer, Block, list[str]], None]:
    method = args[args.index("-X") + 1] if "-X" in args else "GET"
    url = next(a for a in args if a.startswith(base))
    path = url[len(base) :]
    for want_method, pattern, check in ROUTES:
        if method == want_method and re.fullmatch(pattern, path):
            return check
    raise AssertionError(f"no check for {method} {path}: add one to tests/test_http_docs.py")


def run_curl(args: list[str], cwd: Path) -> Answer:
    headers = cwd / "headers.txt"
    before = {p.name for p in cwd.iterdir()}
    done = subprocess.run(
        [shutil.which("curl") or "curl", *args, "-D", str(headers)], cwd=cwd, capture_output=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    lines = headers.read_text().splitlines()
    status = int(lines[0].split()[1])
    content_type = next((h.split(":", 1)[1].strip() for h in lines if h.lower().startswith("content-type:")), "")
    files = {p.name: p.read_bytes() for p in cwd.iterdir() if p.name not in before and p != headers}
    for name in files:
        (cwd / name).unlink()
    headers.unlink()
    return Answer(status, content_type, done.stdout, files)


def test_the_setup_line_names_what_mleredux_up_uses() -> None:
    """`~/.mleredux/admin.token` is where a default home keeps the admin token."""
    home = Home(Path.home() / ".mleredux")
    assert home.admin_token_file == Path("~/.mleredux/admin.token").expanduser()
    for doc in DOCS:
        blocks = curl_blocks(doc)
        assert blocks, f"{doc} has no {MARKER} block"
        assert all(block[0] == SETUP_LINE for block in blocks)


@pytest.mark.subprocess
@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
async def test_the_documented_curl_lines_work_as_written(stack: EmbeddedStack, doc: Path, tmp_path: Path) -> None:
    base = f"http://{stack.http_address}"
    for lines in curl_blocks(doc):
        assert lines[0] == SETUP_LINE
        block = Block()
        for line in lines[1:]:
            words = shlex.split(line, comments=True)
            assert words[0] == "curl", line
            args = [w.replace("$H", base).replace("$T", stack.admin_token) for w in words[1:]]
            if "RUN_ID" in line:
                assert block.run_id, f"{line!r} comes before the run is created"
                args = [a.replace("RUN_ID", block.run_id) for a in args]
            check = route_of(args, base)
            answer = await asyncio.to_thread(run_curl, args, tmp_path)
            assert answer.status == 200, (line, answer.status, answer.body[:500])
            check(answer, block, args)
        assert block.run_id, f"a block of {doc.name} never created a run"
