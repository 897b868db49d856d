"""`mleredux serve` and `mleredux up`: starting services in the foreground.

The wiring itself lives in `mleredux.serving` (the composition root) and `mleredux.embedded`; these
commands only hand the parsed flags over and wait for a signal.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable

from mleredux.cli.exit_codes import EXIT_ERROR, EXIT_OK
from mleredux.config import Home


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

    stack = EmbeddedStack(
        home, gateway_listen=args.listen, gateway_http_listen=args.http_listen, models_file=args.models
    )
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
        return EXIT_OK if why in ("SIGINT", "SIGTERM") else EXIT_ERROR
    finally:
        stack.stop()
