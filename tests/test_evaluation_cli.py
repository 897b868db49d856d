"""The `eval` command functions through the real gateway: create with a live progress line and the
aggregate table, list, get, export (MLE-bench reports and the run table), compare, cancel."""

from __future__ import annotations

import argparse
import io
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mleredux.cli import eval_commands as cli_commands
from mleredux.client import GatewayClient
from mleredux.embedded import EmbeddedStack


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mleredux")
    cli_commands.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


@pytest.fixture
async def client(stack: EmbeddedStack) -> AsyncIterator[GatewayClient]:
    async with GatewayClient(stack.gateway_address, stack.admin_token) as gateway:
        yield gateway


def evaluation_id_in(text: str) -> str:
    found = re.search(r"\bev[0-9a-f]{14}\b", text)
    assert found, text
    return found.group(0)


async def run(client: GatewayClient, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = await cli_commands.run(parse(*argv), client, out)
    return code, out.getvalue()


def test_the_wiring_parses_the_documented_forms(tmp_path: Path) -> None:
    args = parse("eval", "create", "-a", "dummy", "-c", "demo-digits", "-c", "demo-diabetes", "--seeds", "3")
    assert (args.eval_command, args.agent, args.competitions, args.seeds) == (
        "create",
        "dummy",
        ["demo-digits", "demo-diabetes"],
        3,
    )
    args = parse(
        "eval", "create", "-a", "dummy", "--split", "demo", "--seeds", "2", "--concurrency", "4", "--name", "x"
    )
    assert (args.split, args.concurrency, args.name) == ("demo", 4, "x")
    with pytest.raises(SystemExit):
        parse("eval", "create", "-a", "dummy", "--split", "demo", "-c", "demo-digits", "--seeds", "1")
    args = parse("eval", "export", "ev1", "--format", "mlebench", "-o", str(tmp_path))
    assert (args.format, args.output) == ("mlebench", tmp_path)
    assert parse("eval", "compare", "A", "B").eval_command == "compare"
    assert parse("eval", "get", "ev1", "--json").json
    args = parse(
        "eval", "create", "-a", "dummy", "-c", "demo-digits", "--seeds", "1", "--task", "missing", "--hint-rollouts"
    )
    assert (args.task, args.hint_rollouts, args.hint_evaluation, args.hint_runs) == ("missing", True, "", None)
    args = parse("eval", "create", "-a", "dummy", "--split", "demo", "--seeds", "1", "--hints-from-evaluation", "ev1")
    options = cli_commands.EvaluationOptions.from_args(args)
    assert (options.hint_evaluation, options.split, options.competitions, options.task) == ("ev1", "demo", (), "")
    with pytest.raises(SystemExit):  # hints from runs or from an evaluation, not both
        parse(
            "eval",
            "create",
            "-a",
            "dummy",
            "-c",
            "x",
            "--seeds",
            "1",
            "--hints-from",
            "r",
            "--hints-from-evaluation",
            "e",
        )
    listed = tmp_path / "set.txt"
    listed.write_text("# the set\ndemo-digits\n\ndemo-diabetes\n")
    options = cli_commands.EvaluationOptions.from_args(
        parse("eval", "create", "-a", "x", "--list", str(listed), "--seeds", "2")
    )
    assert options.competitions == ("demo-digits", "demo-diabetes") and options.seeds == 2


def test_every_eval_command_takes_the_common_options() -> None:
    parser = argparse.ArgumentParser(prog="mleredux")

    def common(leaf: argparse.ArgumentParser) -> None:
        leaf.add_argument("--gateway")

    cli_commands.add_parser(parser.add_subparsers(dest="command", required=True), common)
    for argv in (["list"], ["get", "x"], ["watch", "x"], ["cancel", "x"], ["resume", "x"], ["compare", "a", "b"]):
        assert parser.parse_args(["eval", *argv, "--gateway", "h:1"]).gateway == "h:1"


async def test_create_shows_progress_and_ends_with_the_aggregate_table(client: GatewayClient, tmp_path: Path) -> None:
    code, text = await run(
        client, "eval", "create", "-a", "dummy", "-c", "demo-digits", "--seeds", "2", "--name", "cli"
    )
    assert code == 0, text
    lines = text.splitlines()
    assert lines[0].startswith("evaluation ev") and "dummy on 1 competitions x 2 seeds" in lines[0]
    assert any(line.startswith("[####################] 2/2 done, 0 running, 0 queued; medals 0") for line in lines)
    assert any(line.startswith("any medal %") and "0.0 ±  0.0" in line for line in lines)
    assert any(line.startswith("valid submission %") and "100.0 ±  0.0" in line for line in lines)
    assert "demo-digits" in lines[-1]
    evaluation_id = evaluation_id_in(lines[0])

    code, listed = await run(client, "eval", "list")
    assert evaluation_id in listed and "SUCCEEDED" in listed
    code, as_json = await run(client, "eval", "get", evaluation_id, "--json")
    assert json.loads(as_json)["progress"]["done"] == 2

    code, text = await run(client, "eval", "export", evaluation_id, "--format", "mlebench", "-o", str(tmp_path / "m"))
    reports = sorted((tmp_path / "m").glob("seed_*_grading_report.json"))
    assert len(reports) == 2 and (tmp_path / "m" / "split.txt").read_text() == "demo-digits\n"
    assert json.loads(reports[0].read_text())["total_valid_submissions"] == 1
    code, text = await run(client, "eval", "export", evaluation_id, "--format", "csv", "-o", str(tmp_path / "c"))
    (table,) = (tmp_path / "c").glob("*_runs.csv")
    assert len(table.read_text().splitlines()) == 3

    code, text = await run(client, "eval", "compare", evaluation_id, evaluation_id)
    assert code == 0
    assert any(line.startswith("any medal %") and line.rstrip().endswith("no") for line in text.splitlines())


async def test_cancel_and_watch_of_a_cancelled_evaluation(client: GatewayClient) -> None:
    code, text = await run(
        client, "eval", "create", "-a", "dummy", "-c", "demo-digits", "--seeds", "3", "--concurrency", "1", "--detach"
    )
    evaluation_id = evaluation_id_in(text)
    code, text = await run(client, "eval", "cancel", evaluation_id)
    assert "CANCELLED" in text
    code, text = await run(client, "eval", "watch", evaluation_id)
    assert code == cli_commands.EXIT_CANCELLED
    # Resuming runs the cancelled cells again; the evaluation then ends like any other.
    code, text = await run(client, "eval", "resume", evaluation_id)
    assert code == 0, text
    assert "3/3 done" in text and "SUCCEEDED" in text
    evaluation = await client.get_evaluation(evaluation_id)
    assert evaluation.progress.succeeded == 3 and all(c.attempts == 1 for c in evaluation.runs)


async def test_the_demo_job_is_a_small_evaluation(client: GatewayClient) -> None:
    out = io.StringIO()
    assert await cli_commands.demo(client, out, agent="dummy", seeds=1) == 0
    text = out.getvalue()
    assert "dummy on split demo x 1 seeds" in text and "3/3 done" in text
    assert all(cid in text for cid in ("demo-breast-cancer", "demo-diabetes", "demo-digits"))


async def test_hints_from_a_technique_evaluation_through_the_commands(
    client: GatewayClient, baseline_image: str
) -> None:
    code, text = await run(
        client, "eval", "create", "-a", "baseline", "-c", "demo-digits", "--seeds", "1", "--task", "missing"
    )
    assert code == 0, text
    assert "baseline on 1 competitions x 1 seeds, technique task missing" in text and "1 succeeded" in text
    source = evaluation_id_in(text)
    code, text = await run(
        client, "eval", "create", "-a", "dummy", "-c", "demo-digits", "--seeds", "1", "--hints-from-evaluation", source
    )
    assert code == 0, text
    assert f"hints from evaluation {source} (1 runs)" in text and "1 succeeded" in text
    hinted = await client.get_evaluation(evaluation_id_in(text))
    assert hinted.hint_evaluation_id == source and len(hinted.hint_run_ids) == 1
    names = {a.name for a in await client.list_artifacts(hinted.runs[0].run_id)}
    assert f"hints/missing-{hinted.hint_run_ids[0]}-analysis.json" in names
