"""The `mleredux` command.

Client commands (`run`, `tail`, `runs`, `cancel`, `artifacts`, `login`, `tokens`) talk to the gateway;
registry, image and preparation commands run in-process; `serve` and `up` run the services. Errors
print one clear line and exit 2 (1 for a run that did not succeed); never a traceback.

`parser` holds the flags, one module per kind of command holds the commands, and `main` below only
dispatches.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from mleredux.cli import agent_commands, client_commands, local_commands, service_commands
from mleredux.cli.demo import cmd_demo
from mleredux.cli.exit_codes import EXIT_ERROR, EXIT_INTERRUPTED
from mleredux.cli.parser import build_parser
from mleredux.config import Home
from mleredux.errors import MleReduxError

COMMANDS: dict[str, Callable[[argparse.Namespace, Home], int]] = {
    "serve": service_commands.cmd_serve,
    "up": service_commands.cmd_up,
    "demo": cmd_demo,
    "run": client_commands.cmd_run,
    "tail": client_commands.cmd_tail,
    "runs": client_commands.cmd_runs,
    "cancel": client_commands.cmd_cancel,
    "artifacts": client_commands.cmd_artifacts,
    "login": client_commands.cmd_login,
    "tokens": client_commands.cmd_tokens,
    "eval": client_commands.cmd_eval,
    "competitions": local_commands.cmd_competitions,
    "prepare": local_commands.cmd_prepare,
    "grade": local_commands.cmd_grade,
    "grade-sample": local_commands.cmd_grade_sample,
    "images": local_commands.cmd_images,
    "agents": agent_commands.cmd_agents,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    home = Home.from_env(args.home)
    try:
        return COMMANDS[args.command](args, home)
    except MleReduxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
