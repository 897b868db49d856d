"""`mleredux demo`: build the agent's image, start the embedded stack, and evaluate the agent on the
offline demos (or run it once on one competition), live."""

from __future__ import annotations

import argparse
import asyncio

from mleredux.cli.client_commands import run_agent
from mleredux.config import Home


def run_demo(home: Home, agent: str, competition: str | None, seeds: int = 2) -> int:
    """Evaluates `agent` on the offline demos with `seeds` seeds (or, with `competition`, runs it once
    there) through a stack started for it; returns the exit code."""
    from mleredux import images
    from mleredux.cli import eval_commands
    from mleredux.client import GatewayClient
    from mleredux.embedded import EmbeddedStack

    if agent in images.list_images():
        result = images.build_image(agent)
        print(f"image {result.tag} {'built' if result.built else 'up to date'}", flush=True)
    with EmbeddedStack(home) as stack:
        print(f"services up; gateway at {stack.gateway_address}", flush=True)
        if competition:
            return asyncio.run(run_agent(stack.gateway_address, stack.admin_token, competition, agent))

        async def evaluate() -> int:
            async with GatewayClient(stack.gateway_address, stack.admin_token) as client:
                return await eval_commands.demo(client, agent=agent, seeds=seeds)

        return asyncio.run(evaluate())


def cmd_demo(args: argparse.Namespace, home: Home) -> int:
    return run_demo(home, args.agent, args.competition, args.seeds)
