"""The `mleredux` command line: every subcommand, its flags and their help text (no behaviour)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mleredux.cli import eval_commands
from mleredux.config import DEFAULT_GATEWAY, DEFAULT_GATEWAY_HTTP


def _add_gateway(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gateway", help=f"gateway address (default: from `mleredux up`, else {DEFAULT_GATEWAY})")
    parser.add_argument(
        "--token",
        help="API token (default: MLEREDUX_TOKEN, then `mleredux login`'s, then the local `mleredux up` admin token)",
    )


def build_parser() -> argparse.ArgumentParser:
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
    serve.add_argument("--grader", help="gateway and runner: grader address")
    serve.add_argument("--max-concurrent", type=int, default=4, help="runner/gateway: concurrent runs")
    serve.add_argument(
        "--container-starts-per-second",
        type=float,
        default=None,
        help="runner: container starts per second across all runs (default 2 per CPU; 0: unpaced)",
    )
    serve.add_argument(
        "--http-listen", help="gateway: HOST:PORT of the HTTP/JSON API and run viewer (default: gRPC only)"
    )
    serve.add_argument("--models", type=Path, help="runner: model endpoints file (TOML, docs/models.md)")
    serve.add_argument(
        "--model-tokens-per-user-day", type=int, default=0, help="gateway: model tokens one user may use per 24 h"
    )
    serve.add_argument(
        "--model-cost-per-user-day", type=float, default=0.0, help="gateway: model USD one user may spend per 24 h"
    )
    serve.add_argument(
        "--max-unfinished-runs-per-user", type=int, help="gateway: unfinished runs one user may have (default 100)"
    )
    serve.add_argument("--requests-per-second", type=float, help="gateway: sustained requests per user (default 50)")
    serve.add_argument("--request-burst", type=int, help="gateway: requests a user may send at once (default 500)")
    serve.add_argument("--max-watch-streams", type=int, help="gateway: event streams one user may hold (default 64)")
    serve.add_argument(
        "--cpu-nice",
        type=int,
        choices=range(-20, 20),
        metavar="N",
        help="this service's CPU priority, -20..19, for it and its own session's scheduling group (below 0 needs "
        "root; `up` gives the gateway -10, the runner -5)",
    )
    serve.add_argument("--metrics-listen", help="HOST:PORT to serve Prometheus metrics on (default: none)")
    serve.add_argument("--max-request-mb", type=int, help="largest gRPC request accepted, MiB (default: 4; grader 256)")
    serve.add_argument("--retention-days", type=float, default=0, help="gateway: prune finished runs older than this")
    serve.add_argument("--retention-runs", type=int, default=0, help="gateway: keep at most this many finished runs")
    serve.add_argument(
        "--retention-db-mib", type=int, default=0, help="gateway: keep finished runs' database bytes under this"
    )
    serve.add_argument(
        "--allow-file-git", action="store_true", help="runner: let agent builds clone file:// git URLs (one machine)"
    )
    serve.add_argument("--agent-build-timeout", type=float, help="runner: seconds one agent build may take (900)")
    serve.add_argument("--agent-quota", type=int, help="gateway: agents one user may have (default 20)")
    serve.add_argument("--agent-context-mib", type=int, help="gateway: largest agent build context, MiB (100)")
    serve.add_argument("--agent-quota-mib", type=int, help="gateway: image MiB one user's agents may take (10240)")
    serve.add_argument("--docker-timeout", type=float, help="runner: seconds one Docker Engine API call may take")
    serve.add_argument(
        "--validation-max-connections", type=int, help="runner: open validation connections per run (default 8)"
    )
    serve.add_argument("--validation-max-body-mib", type=int, help="runner: largest validation body (default 100)")
    serve.add_argument(
        "--validation-idle-timeout", type=float, help="runner: seconds an idle validation connection lives (default 10)"
    )

    up = sub.add_parser("up", help="start the four services on loopback (the embedded default)")
    up.add_argument("--listen", default=DEFAULT_GATEWAY, help="gateway HOST:PORT")
    up.add_argument("--models", type=Path, help="model endpoints file for the runner (TOML, docs/models.md)")
    up.add_argument(
        "--http-listen",
        default=DEFAULT_GATEWAY_HTTP,
        help="gateway HTTP/JSON API and run viewer HOST:PORT ('' for none)",
    )

    demo = sub.add_parser(
        "demo", help="build the agent, start the services, evaluate it on the offline demos and print the figures"
    )
    demo.add_argument("--agent", default="baseline", help="the agent (default: baseline)")
    demo.add_argument("--seeds", type=int, default=2, help="seeds per competition (default: 2)")
    demo.add_argument("--competition", help="run the agent once on this competition instead of evaluating it")

    run = sub.add_parser("run", help="run an agent on a competition through the gateway, streaming live")
    run.add_argument("--competition", "-c", required=True)
    run.add_argument(
        "--agent",
        "-a",
        required=True,
        help="your agent's name (`agents add`), a built-in (dummy, baseline), or (admins) an image NAME:TAG",
    )
    run.add_argument("--task", default="", help="a technique task id")
    run.add_argument("--cpus", type=float, default=0.0)
    run.add_argument("--memory", type=int, default=0, help="memory limit in MiB")
    run.add_argument("--gpus", type=int, default=0)
    run.add_argument("--time-limit", type=int, default=0, help="wall-clock limit in seconds")
    run.add_argument("--disk", type=int, default=0, help="writable disk in MiB (default: the runner's)")
    run.add_argument(
        "--model-endpoint", action="append", default=[], metavar="NAME", help="grant a model endpoint (repeatable)"
    )
    run.add_argument("--max-model-requests", type=int, default=0, help="model calls the run may make (0: no cap)")
    run.add_argument("--max-model-tokens", type=int, default=0, help="model tokens the run may use (0: no cap)")
    run.add_argument("--max-model-cost", type=float, default=0.0, metavar="USD", help="model spend cap (0: none)")
    run.add_argument("--replay", default="", metavar="RUN_ID", help="answer model calls from that run's records")
    run.add_argument("--detach", action="store_true", help="print the run id and return")
    _add_gateway(run)

    tail = sub.add_parser("tail", help="replay a run's events, then follow it live")
    tail.add_argument("run_id")
    tail.add_argument("--from-seq", type=int, default=1)
    tail.add_argument("--no-follow", action="store_true")
    _add_gateway(tail)

    runs = sub.add_parser("runs", help="list runs, show one, prune finished ones (admins)")
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

    agents = sub.add_parser("agents", help="your agents, built on the service's runners (docs/agents.md)")
    agents_sub = agents.add_subparsers(dest="agents_command", required=True)
    agents_add = agents_sub.add_parser(
        "add",
        help="build an agent from a folder with a Dockerfile (FROM mleredux-base-python:latest or "
        "mleredux-base-busybox:latest) or a git URL, on the gateway's runners",
    )
    agents_add.add_argument("source", help="a folder, or a git URL (https://, or file:// on one machine)")
    agents_add.add_argument("--name", help="the agent's name (default: the folder's or repository's name)")
    agents_add.add_argument("--ref", help="git ref to build (branch, tag, commit); with a folder: clone it as git")
    agents_add.add_argument("--verify", action="store_true", help="after the build, a smoke run on demo-digits")
    _add_gateway(agents_add)
    agents_list = agents_sub.add_parser("list", help="the agents you can run: built-ins, shared and your own")
    _add_gateway(agents_list)
    agents_get = agents_sub.add_parser("get", help="one agent (short name or users/<user>/agents/<name>)")
    agents_get.add_argument("name")
    _add_gateway(agents_get)
    agents_rm = agents_sub.add_parser("rm", help="delete one of your agents")
    agents_rm.add_argument("name")
    _add_gateway(agents_rm)
    agents_share = agents_sub.add_parser("share", help="admins: share an agent with every user (read-only)")
    agents_share.add_argument("name", help="users/<user>/agents/<name>")
    agents_share.add_argument("--unshare", action="store_true", help="stop sharing it")
    _add_gateway(agents_share)
    eval_commands.add_parser(sub, _add_gateway)
    return parser
