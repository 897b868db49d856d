"""`mleredux agents`: add, list, get, rm and share agents through the gateway (docs/agents.md)."""

from __future__ import annotations

import argparse
import asyncio
import re
from pathlib import Path

from mleredux.cli.exit_codes import EXIT_OK, EXIT_RUN_FAILED
from mleredux.config import Home, gateway_address, gateway_token
from mleredux.errors import MleReduxError
from mleredux.v1 import gateway_pb2


def _state(agent: gateway_pb2.Agent) -> str:
    state = gateway_pb2.AgentBuildState.Name(agent.build_state).removeprefix("AGENT_BUILD_STATE_").lower()
    if agent.verify_state:
        verify = gateway_pb2.AgentVerifyState.Name(agent.verify_state).removeprefix("AGENT_VERIFY_STATE_")
        state += f", {verify.lower().replace('_', ' ')}"
    return state


def _source(args: argparse.Namespace) -> tuple[Path | None, str, str]:
    """(folder to upload, git URL, default name) of `agents add SOURCE`."""
    source: str = args.source
    if "://" in source:
        stem = re.sub(r"\.git$", "", source.rstrip("/").rsplit("/", 1)[-1])
        return None, source, stem.lower()
    directory = Path(source).expanduser().resolve()
    if not directory.is_dir():
        raise MleReduxError(f"{source} is neither a folder nor a git URL (https://... or file://...)")
    if args.ref:
        # A local repository at a ref: the runner clones it (one machine, file:// allowed there).
        return None, directory.as_uri(), directory.name.lower()
    return directory, "", directory.name.lower()


async def _add(address: str, token: str | None, args: argparse.Namespace) -> int:
    from mleredux.client import GatewayClient

    directory, git_url, default_name = _source(args)
    name = args.name or default_name
    async with GatewayClient(address, token) as client:
        agent = await client.create_agent(
            name, directory=directory, git_url=git_url, git_ref=args.ref or "", verify=args.verify
        )
        print(f"agent {agent.name}: building", flush=True)
        final = agent
        async for message in client.watch_agent_build(agent.name):
            if message.HasField("agent"):
                final = message.agent
            else:
                print(f"  {message.line}", flush=True)
    if final.build_state != gateway_pb2.AgentBuildState.AGENT_BUILD_STATE_READY:
        print(f"agent {final.name}: {_state(final)}: {final.build_message}", flush=True)
        return EXIT_RUN_FAILED
    commit = f" commit {final.git_commit}" if final.git_commit else ""
    print(f"agent {final.name}: {final.digest} ({final.image}){commit}; {_state(final)}", flush=True)
    print(f"run it with `mleredux run -a {final.agent_id} -c COMPETITION`", flush=True)
    return EXIT_OK


async def _other(address: str, token: str | None, args: argparse.Namespace) -> int:
    from google.protobuf import json_format

    from mleredux.client import GatewayClient

    async with GatewayClient(address, token) as client:
        if args.agents_command == "get":
            agent = await client.get_agent(args.name)
            print(json_format.MessageToJson(agent, preserving_proto_field_name=True))
        elif args.agents_command == "rm":
            agent = await client.delete_agent(args.name)
            print(f"agent {agent.name} deleted")
        elif args.agents_command == "share":
            agent = await client.share_agent(args.name, not args.unshare)
            print(f"agent {agent.name}: {'shared' if agent.shared else 'not shared'}")
        else:
            token_ = ""
            while True:
                page = await client.list_agents(page_token=token_)
                for agent in page.agents:
                    shared = " shared" if agent.shared and agent.owner else ""
                    print(f"{agent.name:<40} {_state(agent):<24} {agent.image}{shared}")
                token_ = page.next_page_token
                if not token_:
                    break
    return EXIT_OK


def cmd_agents(args: argparse.Namespace, home: Home) -> int:
    address = gateway_address(args.gateway, home)
    token = gateway_token(args.token, address, home) or ""  # "": none in this home (see GatewayClient)
    if args.agents_command == "add":
        return asyncio.run(_add(address, token, args))
    return asyncio.run(_other(address, token, args))
