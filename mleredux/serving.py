"""The composition root: the one module outside `services/` that imports the services and wires them.

`mleredux serve SERVICE` lands here; the embedded stack (`mleredux up`, `demo`) starts one process per
service through the same command. Domain code never imports a service; this module is the exception
the import contract allows, so that the CLI itself stays a client of the domain and of the SDK.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

from mleredux.config import Home
from mleredux.errors import MleReduxError
from services.cpu_priority import CpuPriorityError, scheduling_note, set_cpu_nice
from services.server import Hosted, serve


def _require(args: argparse.Namespace, *names: str) -> None:
    missing = [f"--{n.replace('_', '-')}" for n in names if getattr(args, n) in (None, "")]
    if missing:
        raise MleReduxError(f"`serve {args.service}` needs {', '.join(missing)}")


def _models_file(args: argparse.Namespace) -> Path | None:
    value = getattr(args, "models", None) or os.environ.get("MLEREDUX_MODELS_FILE")
    return Path(value) if value else None


def _hosted(args: argparse.Namespace, home: Home) -> Hosted:
    store = args.store or home.store_url
    if args.service == "grader":
        from services.grader.servicer import GraderSettings, hosted_grader

        grader = GraderSettings(data_dir=args.data_dir or home.data_dir, store_url=store)
        if args.max_request_mb:
            grader = dataclasses.replace(grader, max_request_bytes=args.max_request_mb << 20)
        return hosted_grader(grader)
    if args.service == "preparer":
        from services.preparer.servicer import PreparerSettings, hosted_preparer

        return hosted_preparer(
            PreparerSettings(data_dir=args.data_dir or home.data_dir, store_url=store),
            max_request_bytes=(args.max_request_mb << 20) if args.max_request_mb else None,
        )
    if args.service == "runner":
        from services.runner.servicer import RunnerSettings, hosted_runner
        from services.runner.validation_socket import SocketLimits

        _require(args, "grader")
        budget: dict[str, Any] = {"gpus_total": args.gpus_total}
        if args.cpus_total is not None:
            budget["cpus_total"] = args.cpus_total
        if args.memory_total is not None:
            budget["memory_bytes_total"] = args.memory_total << 20
        if args.max_request_mb:
            budget["max_request_bytes"] = args.max_request_mb << 20
        if args.docker_timeout:
            budget["docker_timeout_seconds"] = args.docker_timeout
        socket = SocketLimits()
        if args.validation_max_connections:
            socket = dataclasses.replace(socket, max_connections=args.validation_max_connections)
        if args.validation_max_body_mib:
            socket = dataclasses.replace(socket, max_body_bytes=args.validation_max_body_mib << 20)
        if args.validation_idle_timeout:
            socket = dataclasses.replace(socket, idle_timeout_seconds=args.validation_idle_timeout)
        budget["validation"] = socket
        return hosted_runner(
            RunnerSettings(
                work_root=args.work_dir or home.runner_work_dir,
                store_url=store,
                grader_address=args.grader,
                max_concurrent=args.max_concurrent,
                store_wait_seconds=args.store_wait,
                # `--models FILE`, else MLEREDUX_MODELS_FILE (how `mleredux up` and tests hand it down).
                models_file=_models_file(args),
                allow_file_git=args.allow_file_git,
                **(
                    {"container_starts_per_second": args.container_starts_per_second}
                    if args.container_starts_per_second is not None
                    else {}
                ),
                **({"agent_build_timeout_seconds": args.agent_build_timeout} if args.agent_build_timeout else {}),
                **budget,
            )
        )
    from services.gateway.model_quota import ModelQuota
    from services.gateway.quotas import UserQuota
    from services.gateway.retention import RetentionPolicy
    from services.gateway.servicer import GatewaySettings, hosted_gateway

    _require(args, "preparer", "runner", "grader")
    quota = UserQuota()
    for flag, name in (
        ("requests_per_second", "requests_per_second"),
        ("request_burst", "request_burst"),
        ("max_watch_streams", "max_watch_streams"),
    ):
        if getattr(args, flag, None) is not None:
            quota = dataclasses.replace(quota, **{name: getattr(args, flag)})
    unfinished = {}
    if getattr(args, "max_unfinished_runs_per_user", None) is not None:
        unfinished["max_unfinished_runs_per_user"] = args.max_unfinished_runs_per_user
    return hosted_gateway(
        GatewaySettings(
            db_path=args.db or home.db_path,
            store_url=store,
            preparer_address=args.preparer,
            runner_address=args.runner,
            grader_address=args.grader,
            max_concurrent_runs=args.max_concurrent,
            per_user_limit=args.per_user_limit,
            model_quota=ModelQuota(
                tokens_per_day=getattr(args, "model_tokens_per_user_day", 0) or 0,
                cost_per_day_usd=getattr(args, "model_cost_per_user_day", 0.0) or 0.0,
            ),
            http_listen=args.http_listen,
            user_quota=quota,
            **unfinished,
            **({"agent_quota_count": args.agent_quota} if args.agent_quota else {}),
            **({"agent_quota_bytes": args.agent_quota_mib << 20} if args.agent_quota_mib else {}),
            **({"agent_context_max_bytes": args.agent_context_mib << 20} if args.agent_context_mib else {}),
            **({"max_request_bytes": args.max_request_mb << 20} if args.max_request_mb else {}),
            retention=RetentionPolicy(
                max_age_seconds=args.retention_days * 86400,
                max_runs=args.retention_runs,
                max_database_bytes=args.retention_db_mib << 20,
            ),
        )
    )


def serve_service(args: argparse.Namespace, home: Home) -> int:
    """Runs the one service `args.service` names in the foreground until it is stopped (`mleredux serve`)."""
    if getattr(args, "cpu_nice", None) is not None:
        # Before any thread starts: threads inherit the nice value of the thread that starts them.
        try:
            print(f"{args.service}: CPU priority: {set_cpu_nice(args.cpu_nice)}", file=sys.stderr, flush=True)
            note = scheduling_note()
            if note is not None:
                print(f"{args.service}: note: {note}", file=sys.stderr, flush=True)
        except CpuPriorityError as exc:
            print(f"{args.service}: runs at the default CPU priority: {exc}", file=sys.stderr, flush=True)

    async def main() -> None:
        # Built inside the running loop: grpc.aio channels and asyncio primitives bind to the loop
        # that exists when they are created.
        await serve(_hosted(args, home), args.listen, metrics_listen=args.metrics_listen)

    asyncio.run(main())
    return 0
