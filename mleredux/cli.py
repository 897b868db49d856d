"""The `mleredux` command.

Client commands (`run`, `tail`, `runs`, `cancel`, `artifacts`) talk to the gateway; registry, image
and preparation commands run in-process; `serve` and `up` run the services. Errors print one clear
line and exit 2 (1 for a run that did not succeed); never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mleredux.config import (
    DEFAULT_GATEWAY,
    DEFAULT_GATEWAY_HTTP,
    Home,
    gateway_address,
    gateway_token,
    save_credentials,
)
from mleredux.errors import MleReduxError

if TYPE_CHECKING:
    from mleredux.client import SyncGatewayClient
from mleredux.v1 import common_pb2

EXIT_RUN_FAILED = 1
EXIT_ERROR = 2


def _add_gateway(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gateway", help=f"gateway address (default: from `mleredux up`, else {DEFAULT_GATEWAY})")
    parser.add_argument(
        "--token",
        help="API token (default: MLEREDUX_TOKEN, then `mleredux login`'s, then the local `mleredux up` admin token)",
    )


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mleredux", description="MLE-Bench Redux: evaluate ML agents.")
    parser.add_argument("--home", help="state directory of the embedded service (default: $MLEREDUX_HOME, ~/.mleredux)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run one service in the foreground")
    serve.add_argument("service", choices=["preparer", "runner", "grader", "gateway"])
    serve.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0 picks a free one)")
    serve.add_argument("--data-dir", type=Path, help="prepared competitions (preparer, grader)")
    serve.add_argument("--store", help="artifact store URL: file:///DIR or s3://BUCKET?endpoint=http://HOST:PORT")
    serve.add_argument("--work-dir", type=Path, help="runner: where run work dirs live")
    serve.add_argument("--cpus-total", type=float, help="runner: CPUs it may hand out at once (default: all)")
    serve.add_argument("--memory-total", type=int, help="runner: MiB of memory it may hand out (default: all)")
    serve.add_argument("--gpus-total", type=int, default=0, help="runner: GPUs it may hand out")
    serve.add_argument(
        "--store-wait", type=float, default=600.0, help="runner: seconds a run waits for a store that is down"
    )
    serve.add_argument("--db", type=Path, help="gateway: SQLite database path")
    serve.add_argument("--preparer", help="gateway: preparer address")
    serve.add_argument("--runner", help="gateway: runner address, or several comma-separated (one per Docker host)")
    serve.add_argument(
        "--per-user-limit", type=int, default=0, help="gateway: runs one user may have running at once (0: no limit)"
    )
    serve.add_argument("--retention-days", type=float, default=0, help="gateway: prune finished runs older than this")
    serve.add_argument("--retention-runs", type=int, default=0, help="gateway: keep at most this many finished runs")
    serve.add_argument(
        "--retention-db-mib", type=int, default=0, help="gateway: keep finished runs' database bytes under this"
    )
    serve.add_argument("--grader", help="gateway and runner: grader address")
    serve.add_argument("--max-concurrent", type=int, default=4, help="runner/gateway: concurrent runs")
    serve.add_argument(
        "--http-listen", help="gateway: HOST:PORT of the HTTP/JSON API and run viewer (default: gRPC only)"
    )
    serve.add_argument("--metrics-listen", help="HOST:PORT to serve Prometheus metrics on (default: none)")

    up = sub.add_parser("up", help="start the four services on loopback (the embedded default)")
    up.add_argument("--listen", default=DEFAULT_GATEWAY, help="gateway HOST:PORT")
    up.add_argument(
        "--http-listen",
        default=DEFAULT_GATEWAY_HTTP,
        help="gateway HTTP/JSON API and run viewer HOST:PORT ('' for none)",
    )

    demo = sub.add_parser("demo", help="build the images, start the services, run the dummy agent on demo-digits")
    demo.add_argument("--agent", default="dummy")
    demo.add_argument("--competition", default="demo-digits")

    run = sub.add_parser("run", help="run an agent on a competition through the gateway, streaming live")
    run.add_argument("--competition", "-c", required=True)
    run.add_argument("--agent", "-a", required=True, help="a name under agent_images/ or an image NAME:TAG")
    run.add_argument("--task", default="", help="a technique task id")
    run.add_argument("--cpus", type=float, default=0.0)
    run.add_argument("--memory", type=int, default=0, help="memory limit in MiB")
    run.add_argument("--gpus", type=int, default=0)
    run.add_argument("--time-limit", type=int, default=0, help="wall-clock limit in seconds")
    run.add_argument("--detach", action="store_true", help="print the run id and return")
    _add_gateway(run)

    tail = sub.add_parser("tail", help="replay a run's events, then follow it live")
    tail.add_argument("run_id")
    tail.add_argument("--from-seq", type=int, default=1)
    tail.add_argument("--no-follow", action="store_true")
    _add_gateway(tail)

    runs = sub.add_parser("runs", help="list runs or show one")
    runs_sub = runs.add_subparsers(dest="runs_command", required=True)
    runs_list = runs_sub.add_parser("list")
    runs_list.add_argument("--limit", type=int, default=20)
    _add_gateway(runs_list)
    runs_get = runs_sub.add_parser("get")
    runs_get.add_argument("run_id")
    _add_gateway(runs_get)
    runs_prune = runs_sub.add_parser(
        "prune", help="admins: remove finished runs (records, events, artifacts) by age, count or size"
    )
    runs_prune.add_argument("--older-than", type=float, default=0, metavar="DAYS", help="runs created before")
    runs_prune.add_argument("--keep", type=int, default=0, metavar="N", help="keep only the newest N finished runs")
    runs_prune.add_argument("--max-db-mib", type=int, default=0, metavar="MIB", help="bring their database size under")
    runs_prune.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    _add_gateway(runs_prune)

    cancel = sub.add_parser("cancel", help="cancel a run")
    cancel.add_argument("run_id")
    _add_gateway(cancel)

    artifacts = sub.add_parser("artifacts", help="a run's stored artifacts")
    art_sub = artifacts.add_subparsers(dest="artifacts_command", required=True)
    art_list = art_sub.add_parser("list")
    art_list.add_argument("run_id")
    _add_gateway(art_list)
    art_get = art_sub.add_parser("get")
    art_get.add_argument("run_id")
    art_get.add_argument("name")
    art_get.add_argument("--output", "-o", type=Path, help="file to write (default stdout)")
    _add_gateway(art_get)

    login = sub.add_parser("login", help="check an API token against the gateway and save it for this address")
    login.add_argument("--token", required=True, help="the token (mlx_...) an admin created for you")
    login.add_argument("--gateway", help=f"gateway address (default: from `mleredux up`, else {DEFAULT_GATEWAY})")

    tokens = sub.add_parser("tokens", help="API tokens: create, list, revoke")
    tok_sub = tokens.add_subparsers(dest="tokens_command", required=True)
    tok_create = tok_sub.add_parser("create", help="create a token (for another user: admins only)")
    tok_create.add_argument("--user", default="", help="the user (default: yourself); created if new")
    tok_create.add_argument("--name", default="", help="a label, e.g. laptop or ci")
    tok_create.add_argument("--admin", action="store_true", help="make the user an admin (admins only)")
    _add_gateway(tok_create)
    tok_list = tok_sub.add_parser("list", help="your tokens (admins: --user NAME, or --user '*' for all)")
    tok_list.add_argument("--user", default="")
    _add_gateway(tok_list)
    tok_revoke = tok_sub.add_parser("revoke", help="revoke a token by id")
    tok_revoke.add_argument("token_id")
    _add_gateway(tok_revoke)

    sub.add_parser("competitions", help="list the competition registry")

    prepare = sub.add_parser("prepare", help="prepare competitions into the data dir (in-process)")
    which = prepare.add_mutually_exclusive_group(required=True)
    which.add_argument("-c", "--competition", help="one competition id")
    which.add_argument("--lite", action="store_true", help="the 22 MLE-bench Lite competitions")
    which.add_argument("--all", action="store_true", help="every supported competition")
    which.add_argument("--list", type=Path, help="a file of competition ids, one per line")
    prepare.add_argument("--data-dir", type=Path, help="default: <home>/data")
    prepare.add_argument(
        "--raw",
        type=Path,
        help="offline: the competition's Kaggle zip or extracted folder (with -c), or a folder "
        "holding one <id>.zip or <id>/ per competition",
    )
    prepare.add_argument("--keep-raw", action="store_true", help="keep the extracted raw files in <data>/<id>/raw")
    prepare.add_argument("--overwrite", action="store_true", help="prepare again even if already prepared")
    prepare.add_argument(
        "--overwrite-checksums", action="store_true", help="accept the prepared files as they are; rewrite the manifest"
    )
    prepare.add_argument("--check", action="store_true", help="report what preparing would need; change nothing")

    grade = sub.add_parser("grade", help="grade a JSONL of submissions (in-process, like MLE-bench's grade)")
    grade.add_argument("--submission", type=Path, required=True, help='JSONL: {"competition_id", "submission_path"}')
    grade.add_argument("--output-dir", type=Path, required=True)
    grade.add_argument("--data-dir", type=Path, help="default: <home>/data")

    grade_sample = sub.add_parser("grade-sample", help="grade one CSV for one competition and print the report")
    grade_sample.add_argument("submission", type=Path)
    grade_sample.add_argument("competition_id")
    grade_sample.add_argument("--data-dir", type=Path, help="default: <home>/data")

    images = sub.add_parser("images", help="agent images built locally")
    img_sub = images.add_subparsers(dest="images_command", required=True)
    img_build = img_sub.add_parser("build", help="build every image under agent_images/ (skips built ones)")
    img_build.add_argument("names", nargs="*")
    img_build.add_argument("--force", action="store_true")
    img_sub.add_parser("list")

    agents = sub.add_parser("agents", help="your own agents: images built from a Dockerfile on our base images")
    agents_sub = agents.add_subparsers(dest="agents_command", required=True)
    agents_add = agents_sub.add_parser(
        "add", help="build DIR/Dockerfile (FROM mleredux-base-python:latest or mleredux-base-busybox:latest)"
    )
    agents_add.add_argument("directory", type=Path)
    agents_add.add_argument("--name", help="the agent's name (default: the directory's name)")
    agents_sub.add_parser("list", help="built-in and added agents, and their images")
    return parser


# -- services ----------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, home: Home) -> int:
    from mleredux.serving import serve_service

    return serve_service(args, home)


def _wait_for_signal(stack_dead: Callable[[], list[str]]) -> str:
    """Blocks until SIGINT/SIGTERM or a service dies; returns why."""
    stop = threading.Event()
    why: list[str] = []

    def on_signal(signum: int, _frame: object) -> None:
        why.append(signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop.wait(0.5):
        dead = stack_dead()
        if dead:
            return f"service(s) exited: {', '.join(dead)}"
    return why[0] if why else "stopped"


def cmd_up(args: argparse.Namespace, home: Home) -> int:
    from mleredux.embedded import EmbeddedStack

    stack = EmbeddedStack(home, gateway_listen=args.listen, gateway_http_listen=args.http_listen)
    stack.start()
    try:
        for service in stack.services.values():
            print(f"{service.name:>8}: {service.address} (pid {service.process.pid}, log {service.log_path})")
        if stack.http_address:
            print(f"viewer and HTTP API on http://{stack.http_address}/", flush=True)
        print(f"gateway listening on {stack.gateway_address}", flush=True)
        print(f"home {home.root}; Ctrl-C stops every service", flush=True)
        why = _wait_for_signal(stack.dead)
        print(f"stopping ({why})", flush=True)
        return 0 if why in ("SIGINT", "SIGTERM") else EXIT_ERROR
    finally:
        stack.stop()


# -- client commands ---------------------------------------------------------------------------------


def _endpoint(args: argparse.Namespace, home: Home) -> tuple[str, str | None]:
    """The gateway address and the API token to use."""
    address = gateway_address(args.gateway, home)
    return address, gateway_token(getattr(args, "token", None), address, home)


def _sync_client(args: argparse.Namespace, home: Home) -> SyncGatewayClient:
    from mleredux.client import SyncGatewayClient

    address, token = _endpoint(args, home)
    return SyncGatewayClient(address, token)


async def _follow(
    address: str, token: str | None, run_id: str, from_seq: int, follow: bool
) -> common_pb2.GradeReport | None:
    from mleredux.client import GatewayClient
    from mleredux.rendering import format_event

    report = None
    async with GatewayClient(address, token) as client:
        async for event in client.watch(run_id, from_seq=from_seq, follow=follow):
            print(format_event(event), flush=True)
            if event.HasField("report"):
                report = event.report
    return report


async def _run(args: argparse.Namespace, address: str, token: str | None) -> int:
    from mleredux.client import GatewayClient
    from mleredux.rendering import print_report, reason_name, state_name

    compute = common_pb2.ComputeProfile(
        cpus=args.cpus, memory_bytes=args.memory * (1 << 20), gpus=args.gpus, time_limit_seconds=args.time_limit
    )
    async with GatewayClient(address, token) as client:
        run = await client.create_run(args.competition, args.agent, task=args.task, compute=compute)
        print(f"run {run.run_id}: {run.agent} ({run.image}) on {run.competition_id}", flush=True)
        if args.detach:
            return 0
        report = await _follow(address, token, run.run_id, 1, True)
        final = await client.get_run(run.run_id)
    if report is not None:
        print_report(report, sys.stdout)
    reason = f" ({reason_name(final.failure_reason)})" if final.failure_reason else ""
    print(f"run {final.run_id} {state_name(final.state)}{reason}: {final.message}", flush=True)
    return 0 if final.state == common_pb2.RunState.RUN_STATE_SUCCEEDED else EXIT_RUN_FAILED


def cmd_run(args: argparse.Namespace, home: Home) -> int:
    return asyncio.run(_run(args, *_endpoint(args, home)))


def cmd_tail(args: argparse.Namespace, home: Home) -> int:
    asyncio.run(_follow(*_endpoint(args, home), args.run_id, args.from_seq, not args.no_follow))
    return 0


def cmd_runs(args: argparse.Namespace, home: Home) -> int:
    from google.protobuf import json_format

    from mleredux.rendering import reason_name, state_name

    with _sync_client(args, home) as client:
        if args.runs_command == "get":
            print(json_format.MessageToJson(client.get_run(args.run_id), preserving_proto_field_name=True))
            return 0
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
            return 0
        for run in client.list_runs(page_size=args.limit).runs:
            reason = f" ({reason_name(run.failure_reason)})" if run.failure_reason else ""
            created = run.create_time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")
            print(f"{run.run_id}  {created}  {state_name(run.state)}{reason:<22}  {run.competition_id}  {run.agent}")
    return 0


def cmd_cancel(args: argparse.Namespace, home: Home) -> int:
    from mleredux.rendering import state_name

    with _sync_client(args, home) as client:
        run = client.cancel_run(args.run_id)
    print(f"run {run.run_id}: {state_name(run.state)}: {run.message}")
    return 0


def cmd_login(args: argparse.Namespace, home: Home) -> int:
    address = gateway_address(args.gateway, home)
    with _sync_client(args, home) as client:
        caller = client.whoami()
    path = save_credentials(address, args.token, home)
    role = " (admin)" if caller.admin else ""
    print(f"logged in to {address} as {caller.user}{role}; token saved in {path}")
    return 0


def cmd_tokens(args: argparse.Namespace, home: Home) -> int:
    with _sync_client(args, home) as client:
        if args.tokens_command == "create":
            created = client.create_token(args.user, args.name, admin=args.admin)
            record = created.api_token
            print(f"token {record.token_id} for {record.user}{' (admin)' if record.admin else ''}:")
            print(created.token)
            print("it is shown only this once; give it to its user (`mleredux login --token ...`)", file=sys.stderr)
            return 0
        if args.tokens_command == "revoke":
            record = client.revoke_token(args.token_id)
            print(f"token {record.token_id} of {record.user} revoked")
            return 0
        for record in client.list_tokens(args.user):
            created_at = record.create_time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")
            state = "revoked" if record.HasField("revoke_time") else "valid"
            role = "admin" if record.admin else "user"
            print(f"{record.token_id}  {created_at}  {state:<7}  {record.user} ({role})  {record.name}")
    return 0


def cmd_artifacts(args: argparse.Namespace, home: Home) -> int:
    with _sync_client(args, home) as client:
        if args.artifacts_command == "list":
            for artifact in client.list_artifacts(args.run_id):
                print(f"{artifact.size_bytes:>12}  {artifact.name}")
            return 0
        data = client.get_artifact(args.run_id, args.name)
    if args.output:
        args.output.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
    return 0


# -- in-process commands -----------------------------------------------------------------------------


def cmd_competitions(args: argparse.Namespace, home: Home) -> int:
    from mleredux.competitions import list_competitions

    for info in sorted(list_competitions(), key=lambda i: i.id):
        direction = "lower" if info.is_lower_better else "higher"
        status = "supported" if info.supported else "listed only"
        print(f"{info.id:<50} {info.category:<8} {info.metric} ({direction} is better), {status}")
    return 0


def _prepare_targets(args: argparse.Namespace) -> list[str]:
    from mleredux.competitions import get_competition, list_competitions

    if args.competition:
        return [args.competition]
    if args.list:
        if not args.list.is_file():
            raise MleReduxError(f"competition list not found: {args.list}")
        ids = [line.strip() for line in args.list.read_text().splitlines() if line.strip() and not line.startswith("#")]
        for competition_id in ids:
            get_competition(competition_id)  # an unknown id fails before any work
        return ids
    infos = [i for i in list_competitions() if i.supported and not i.offline]
    if args.lite:
        from mleredux.competitions.catalog import LITE_COMPETITIONS

        return sorted(i.id for i in infos if i.id in LITE_COMPETITIONS)
    return sorted(i.id for i in list_competitions() if i.supported)


def _raw_for(args: argparse.Namespace, competition_id: str, many: bool) -> Path | None:
    if args.raw is None:
        return None
    if not many:
        return Path(args.raw)
    for candidate in (args.raw / f"{competition_id}.zip", args.raw / competition_id):
        if candidate.exists():
            return Path(candidate)
    return None


def cmd_prepare(args: argparse.Namespace, home: Home) -> int:
    from mleredux.preparation.prepare import prepare_competition
    from mleredux.progress import ProgressBar

    data_dir = args.data_dir or home.data_dir
    targets = _prepare_targets(args)
    if args.check:
        from mleredux.preparation.checks import check_preparation

        ok = True
        for competition_id in targets:
            check = check_preparation(competition_id, data_dir, raw=_raw_for(args, competition_id, len(targets) > 1))
            ok = ok and check.ready
            print(check.render(), flush=True)
        return 0 if ok else EXIT_RUN_FAILED
    failures = []
    for competition_id in targets:
        bar = ProgressBar(competition_id, sys.stderr)
        try:
            dataset = prepare_competition(
                competition_id,
                data_dir,
                raw=_raw_for(args, competition_id, len(targets) > 1),
                progress=bar.update,
                overwrite=args.overwrite,
                overwrite_checksums=args.overwrite_checksums,
                keep_raw=args.keep_raw,
            )
        except MleReduxError as exc:
            bar.close()
            print(f"{competition_id}: {exc}", file=sys.stderr, flush=True)
            failures.append(competition_id)
            continue
        bar.close()
        verb = "verified (already prepared)" if dataset.reused else "prepared"
        print(f"{competition_id}: {verb} in {dataset.public_dir.parent} (content hash {dataset.content_hash[:12]})")
    if failures:
        print(f"{len(failures)} of {len(targets)} failed: {', '.join(failures)}", file=sys.stderr)
        return EXIT_RUN_FAILED
    return 0


def cmd_grade(args: argparse.Namespace, home: Home) -> int:
    import json

    from mleredux.grading.batch import grade_jsonl, write_batch_report

    summary, errors = grade_jsonl(args.submission, args.data_dir or home.data_dir)
    for error in errors:
        print(f"not graded: {error}", file=sys.stderr)
    target = write_batch_report(summary, args.output_dir)
    brief = {k: v for k, v in summary.items() if k != "competition_reports"}
    print(json.dumps(brief, indent=2))
    print(f"report written to {target}")
    return EXIT_RUN_FAILED if errors else 0


def cmd_grade_sample(args: argparse.Namespace, home: Home) -> int:
    import json

    from mleredux.grading.submission import grade_submission

    if not args.submission.is_file():
        raise MleReduxError(f"submission not found: {args.submission}")
    report = grade_submission(args.submission, args.competition_id, args.data_dir or home.data_dir)
    print(json.dumps(report.to_dict(), indent=2))
    return 0 if report.valid_submission else EXIT_RUN_FAILED


def cmd_agents(args: argparse.Namespace, home: Home) -> int:
    from mleredux import images
    from mleredux.user_agents import add_agent, list_user_agents

    if args.agents_command == "list":
        for name in images.list_images():
            print(f"{name:<20} built-in  {images.image_tag(name)}")
        for name, reference in list_user_agents().items():
            print(f"{name:<20} added     {reference}")
        return 0
    added = add_agent(args.directory, args.name, on_output=lambda line: print(f"  {line}", flush=True))
    verb = f"built in {added.seconds:.1f}s" if added.built else "up to date"
    print(f"agent {added.name}: {added.tag} {verb}; run it with `mleredux run -a {added.name} -c ...`", flush=True)
    return 0


def cmd_images(args: argparse.Namespace, home: Home) -> int:
    from mleredux import images

    if args.images_command == "list":
        for name in images.list_images():
            print(f"{name:<12} {images.image_tag(name)}")
        return 0
    names = args.names or images.list_images()
    for name in names:
        result = images.build_image(name, force=args.force, on_output=lambda line: print(f"  {line}", flush=True))
        verb = f"built in {result.seconds:.1f}s" if result.built else "up to date"
        print(f"{name}: {result.tag} {verb}", flush=True)
    return 0


def cmd_demo(args: argparse.Namespace, home: Home) -> int:
    from mleredux import images
    from mleredux.embedded import EmbeddedStack

    if args.agent in images.list_images():
        result = images.build_image(args.agent)
        print(f"image {result.tag} {'built' if result.built else 'up to date'}", flush=True)
    with EmbeddedStack(home) as stack:
        print(f"services up; gateway at {stack.gateway_address}", flush=True)
        run_args = argparse.Namespace(
            competition=args.competition,
            agent=args.agent,
            task="",
            cpus=0.0,
            memory=0,
            gpus=0,
            time_limit=0,
            detach=False,
        )
        return asyncio.run(_run(run_args, stack.gateway_address, stack.admin_token))


COMMANDS: dict[str, Callable[[argparse.Namespace, Home], int]] = {
    "serve": cmd_serve,
    "up": cmd_up,
    "demo": cmd_demo,
    "run": cmd_run,
    "tail": cmd_tail,
    "runs": cmd_runs,
    "cancel": cmd_cancel,
    "artifacts": cmd_artifacts,
    "login": cmd_login,
    "tokens": cmd_tokens,
    "competitions": cmd_competitions,
    "prepare": cmd_prepare,
    "grade": cmd_grade,
    "grade-sample": cmd_grade_sample,
    "images": cmd_images,
    "agents": cmd_agents,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    home = Home.from_env(args.home)
    try:
        return COMMANDS[args.command](args, home)
    except MleReduxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
