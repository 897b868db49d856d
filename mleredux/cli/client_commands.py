"""Commands that talk to a gateway through the SDK: `run`, `tail`, `runs`, `cancel`, `artifacts`,
`login`, `tokens`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

from mleredux.cli.exit_codes import EXIT_OK, EXIT_RUN_FAILED
from mleredux.config import Home, gateway_address, gateway_token, save_credentials
from mleredux.v1 import common_pb2

if TYPE_CHECKING:
    from mleredux.client import SyncGatewayClient


def _endpoint(args: argparse.Namespace, home: Home) -> tuple[str, str]:
    """The gateway address and the API token to use, looked up in `home` ("" when it has none: the
    client must not then look in the default home instead)."""
    address = gateway_address(args.gateway, home)
    return address, gateway_token(getattr(args, "token", None), address, home) or ""


def _sync_client(args: argparse.Namespace, home: Home) -> SyncGatewayClient:
    from mleredux.client import SyncGatewayClient

    address, token = _endpoint(args, home)
    return SyncGatewayClient(address, token)


async def follow_run(
    address: str, token: str | None, run_id: str, from_seq: int, follow: bool
) -> common_pb2.GradeReport | None:
    """Prints a run's events from `from_seq` (live while `follow`); returns its report if one came."""
    from mleredux.client import GatewayClient
    from mleredux.rendering import format_event

    report = None
    async with GatewayClient(address, token) as client:
        async for event in client.watch(run_id, from_seq=from_seq, follow=follow):
            print(format_event(event), flush=True)
            if event.HasField("report"):
                report = event.report
    return report


async def run_agent(
    address: str,
    token: str | None,
    competition: str,
    agent: str,
    *,
    task: str = "",
    compute: common_pb2.ComputeProfile | None = None,
    model_access: common_pb2.ModelAccess | None = None,
    detach: bool = False,
) -> int:
    """Creates a run, streams it to the end and prints its report and final state; returns the exit code."""
    from mleredux.client import GatewayClient
    from mleredux.rendering import print_report, reason_name, state_name

    async with GatewayClient(address, token) as client:
        run = await client.create_run(
            competition, agent, task=task, compute=compute or common_pb2.ComputeProfile(), model_access=model_access
        )
        print(f"run {run.run_id}: {run.agent} ({run.image}) on {run.competition_id}", flush=True)
        if detach:
            return EXIT_OK
        report = await follow_run(address, token, run.run_id, 1, True)
        final = await client.get_run(run.run_id)
    if report is not None:
        print_report(report, sys.stdout)
    reason = f" ({reason_name(final.failure_reason)})" if final.failure_reason else ""
    print(f"run {final.run_id} {state_name(final.state)}{reason}: {final.message}", flush=True)
    return EXIT_OK if final.state == common_pb2.RunState.RUN_STATE_SUCCEEDED else EXIT_RUN_FAILED


def cmd_run(args: argparse.Namespace, home: Home) -> int:
    compute = common_pb2.ComputeProfile(
        cpus=args.cpus,
        memory_bytes=args.memory * (1 << 20),
        gpus=args.gpus,
        time_limit_seconds=args.time_limit,
        disk_bytes=args.disk * (1 << 20),
    )
    from mleredux.models.access import model_access

    access = model_access(
        args.model_endpoint,
        max_requests=args.max_model_requests,
        max_tokens=args.max_model_tokens,
        max_cost_usd=args.max_model_cost,
        replay_run_id=args.replay,
    )
    address, token = _endpoint(args, home)
    return asyncio.run(
        run_agent(
            address,
            token,
            args.competition,
            args.agent,
            task=args.task,
            compute=compute,
            model_access=access,
            detach=args.detach,
        )
    )


def cmd_tail(args: argparse.Namespace, home: Home) -> int:
    asyncio.run(follow_run(*_endpoint(args, home), args.run_id, args.from_seq, not args.no_follow))
    return EXIT_OK


def cmd_runs(args: argparse.Namespace, home: Home) -> int:
    from google.protobuf import json_format

    from mleredux.rendering import reason_name, state_name

    with _sync_client(args, home) as client:
        if args.runs_command == "get":
            print(json_format.MessageToJson(client.get_run(args.run_id), preserving_proto_field_name=True))
            return EXIT_OK
        if args.runs_command == "prune":
            pruned = client.prune_runs(
                older_than_seconds=int(args.older_than * 86400),
                keep_last=args.keep,
                max_database_bytes=args.max_db_mib << 20,
                dry_run=args.dry_run,
            )
            verb = "would remove" if args.dry_run else "removed"
            print(
                f"{verb} {len(pruned.run_ids)} run(s): {pruned.database_bytes / 2**20:.1f} MiB of database, "
                f"{pruned.store_bytes / 2**20:.1f} MiB of store"
            )
            for error in pruned.errors:
                print(f"kept (store error): {error}", file=sys.stderr)
            return EXIT_OK
        for run in client.list_runs(page_size=args.limit).runs:
            reason = f" ({reason_name(run.failure_reason)})" if run.failure_reason else ""
            created = run.create_time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")
            print(f"{run.run_id}  {created}  {state_name(run.state)}{reason:<22}  {run.competition_id}  {run.agent}")
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace, home: Home) -> int:
    from mleredux.rendering import state_name

    with _sync_client(args, home) as client:
        run = client.cancel_run(args.run_id)
    print(f"run {run.run_id}: {state_name(run.state)}: {run.message}")
    return EXIT_OK


def cmd_login(args: argparse.Namespace, home: Home) -> int:
    address = gateway_address(args.gateway, home)
    with _sync_client(args, home) as client:
        caller = client.whoami()
    path = save_credentials(address, args.token, home)
    role = " (admin)" if caller.admin else ""
    print(f"logged in to {address} as {caller.user}{role}; token saved in {path}")
    return EXIT_OK


def cmd_tokens(args: argparse.Namespace, home: Home) -> int:
    with _sync_client(args, home) as client:
        if args.tokens_command == "create":
            created = client.create_token(args.user, args.name, admin=args.admin)
            record = created.api_token
            print(f"token {record.token_id} for {record.user}{' (admin)' if record.admin else ''}:")
            print(created.token)
            print("it is shown only this once; give it to its user (`mleredux login --token ...`)", file=sys.stderr)
            return EXIT_OK
        if args.tokens_command == "revoke":
            record = client.revoke_token(args.token_id)
            print(f"token {record.token_id} of {record.user} revoked")
            return EXIT_OK
        for record in client.list_tokens(args.user):
            created_at = record.create_time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")
            state = "revoked" if record.HasField("revoke_time") else "valid"
            role = "admin" if record.admin else "user"
            print(f"{record.token_id}  {created_at}  {state:<7}  {record.user} ({role})  {record.name}")
    return EXIT_OK


def cmd_artifacts(args: argparse.Namespace, home: Home) -> int:
    with _sync_client(args, home) as client:
        if args.artifacts_command == "list":
            for artifact in client.list_artifacts(args.run_id):
                print(f"{artifact.size_bytes:>12}  {artifact.name}")
            return EXIT_OK
        data = client.get_artifact(args.run_id, args.name)
    if args.output:
        args.output.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
    return EXIT_OK


def cmd_eval(args: argparse.Namespace, home: Home) -> int:
    """`mleredux eval ...`: evaluations through the gateway (mleredux/cli/eval_commands.py)."""
    from mleredux.cli import eval_commands
    from mleredux.client import GatewayClient

    async def main() -> int:
        async with GatewayClient(*_endpoint(args, home)) as client:
            return await eval_commands.run(args, client)

    return asyncio.run(main())
