"""The worked example of docs/evaluations.md: technique tasks on a competition set, then the same agent
with and without those analyses as hints, compared with `eval compare`.

Starts the four services on a fresh home (nothing of ~/.mleredux is touched), runs the baseline on the
technique tasks `missing` and `leakage` of every offline demo, then two evaluations of AGENT (2 seeds)
without and with hints, and prints what the `eval` commands print.

    .venv/bin/python scripts/hints_experiment.py [--agent baseline] [--seeds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import tempfile
from pathlib import Path

from mleredux.cli import eval_commands as cli_commands
from mleredux.client import GatewayClient
from mleredux.config import Home
from mleredux.embedded import EmbeddedStack
from mleredux.evaluation.splits import split_competitions
from mleredux.images import build_image

TASKS = ("missing", "leakage")


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mleredux")
    cli_commands.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


async def _experiment(stack: EmbeddedStack, agent: str, seeds: int) -> None:
    async with GatewayClient(stack.gateway_address, stack.admin_token) as client:

        async def command(*argv: str) -> str:
            out = io.StringIO()
            await cli_commands.run(_parse(*argv), client, out)
            text = out.getvalue()
            print("$ mleredux " + " ".join(argv))
            # The progress lines in between are left out; the first and the last stay.
            print("\n".join(line for line in text.splitlines() if not line.startswith("[") or " 0 running" in line))
            return text

        runs = [
            await client.create_run(cid, "baseline", task=task) for cid in split_competitions("demo") for task in TASKS
        ]
        for run in runs:
            async for _ in client.watch(run.run_id):
                pass
            done = await client.get_run(run.run_id)
            print(f"technique run {done.run_id}: {done.task} on {done.competition_id}: {done.message}")
        hints = [arg for run in runs for arg in ("--hints-from", run.run_id)]
        common = ("eval", "create", "-a", agent, "--split", "demo", "--seeds", str(seeds))
        without = await command(*common, "--name", "without hints")
        with_hints = await command(*common, "--name", "with hints", *hints)
        ids = [re.search(r"\bev[0-9a-f]{14}\b", text).group(0) for text in (without, with_hints)]  # type: ignore[union-attr]
        await command("eval", "compare", *ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent", default="baseline")
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    for name in {"baseline", args.agent} & {"baseline", "dummy"}:
        build_image(name)
    with tempfile.TemporaryDirectory() as home, EmbeddedStack(Home(Path(home))) as stack:
        asyncio.run(_experiment(stack, args.agent, args.seeds))


if __name__ == "__main__":
    main()
