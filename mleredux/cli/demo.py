"""`mleredux demo`: build the agent's image, start the embedded stack, run the agent once and stream it."""

from __future__ import annotations

import argparse
import asyncio

from mleredux.cli.client_commands import run_agent
from mleredux.config import Home


def run_demo(home: Home, agent: str, competition: str) -> int:
    """Runs `agent` on `competition` through a stack started for this one run; returns the exit code."""
    from mleredux import images
    from mleredux.embedded import EmbeddedStack

    if agent in images.list_images():
        result = images.build_image(agent)
        print(f"image {result.tag} {'built' if result.built else 'up to date'}", flush=True)
    with EmbeddedStack(home) as stack:
        print(f"services up; gateway at {stack.gateway_address}", flush=True)
        return asyncio.run(run_agent(stack.gateway_address, stack.admin_token, competition, agent))


def cmd_demo(args: argparse.Namespace, home: Home) -> int:
    return run_demo(home, args.agent, args.competition)
