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


class _StopSignals:
    """SIGINT and SIGTERM, caught from the moment this is made. `up` makes it before it starts the
    stack: a signal that came while the services started (a supervisor's SIGTERM right after the
    address is printed, say) killed the launcher with Python's default action, skipping the orderly
    stop; now it is kept and the stack stopped as soon as it is up."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._why: list[str] = []
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._why.append(signal.Signals(signum).name)
        self._stop.set()

    def wait(self, stack_dead: Callable[[], list[str]]) -> str:
        """Blocks until a signal came (or had come) or a service dies; returns why."""
        while not self._stop.wait(0.5):
            dead = stack_dead()
            if dead:
                return f"service(s) exited: {', '.join(dead)}"
        return self._why[0] if self._why else "stopped"


def cmd_up(args: argparse.Namespace, home: Home) -> int:
    from mleredux.embedded import EmbeddedStack

    signals = _StopSignals()
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
        why = signals.wait(stack.dead)
        print(f"stopping ({why})", flush=True)
        return EXIT_OK if why in ("SIGINT", "SIGTERM") else EXIT_ERROR
    finally:
        stack.stop()
