"""The services' own logs stay bounded: repeats collapse, files rotate at their cap, floods cost little."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from mleredux.service_logs import RepeatCollapser, ServiceLog

MIB = 1 << 20


def test_a_repeat_passes_once_per_window_and_the_held_back_ones_are_counted() -> None:
    collapser = RepeatCollapser(window_seconds=10, remember=4)
    assert collapser.feed("accept failed", now=0) == ["accept failed"]
    assert collapser.feed("accept failed", now=1) == []
    assert collapser.feed("accept failed", now=2) == []
    assert collapser.feed("other", now=3) == [
        "… 2 repeated lines suppressed (each repeat passes at most once per 10s)",
        "other",
    ]
    assert collapser.feed("accept failed", now=11) == ["accept failed"]  # a new window
    # A repeated multi-line block (a traceback) collapses too.
    block = ["Traceback (most recent call last):", '  File "x.py", line 1', "OSError: [Errno 24] Too many open files"]
    out = [line for _ in range(1000) for line in block for line in collapser.feed(line, now=12)]
    assert out == block
    assert collapser.flush() == ["… 2997 repeated lines suppressed (each repeat passes at most once per 10s)"]


def _flood(script: str, log: ServiceLog) -> None:
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], stderr=subprocess.PIPE, bufsize=0)
    assert process.stderr is not None
    log.pump(process.stderr, "flood")
    assert process.wait(120) == 0
    log.close()


def _sizes(path: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted(path.parent.glob(path.name + "*"))}


def test_a_flood_of_identical_errors_leaves_the_log_tiny(tmp_path: Path) -> None:
    path = tmp_path / "runner.log"
    log = ServiceLog(path, max_bytes=1 * MIB, backups=2)
    # 200,000 tracebacks (about 30 MB) written to stderr as fast as the process can.
    _flood(
        """
        import sys, traceback
        for _ in range(200_000):
            try:
                raise OSError(24, "Too many open files")
            except OSError:
                traceback.print_exc()
        """,
        log,
    )
    text = path.read_text()
    assert "OSError: [Errno 24] Too many open files" in text
    assert "repeated lines suppressed" in text
    assert sum(_sizes(path).values()) < 4096


def test_distinct_lines_past_the_cap_rotate_and_the_total_stays_within_it(tmp_path: Path) -> None:
    path = tmp_path / "gateway.log"
    log = ServiceLog(path, max_bytes=1 * MIB, backups=2)
    # About 12 MB of distinct lines: only the newest 3 MiB are kept.
    _flood(
        """
        import sys
        for i in range(200_000):
            sys.stderr.write(f"request {i} failed: " + "x" * 40 + "\\n")
        sys.stderr.write("x" * 100_000)  # and an endless line without a newline at the end
        """,
        log,
    )
    sizes = _sizes(path)
    assert sorted(sizes) == ["gateway.log", "gateway.log.1", "gateway.log.2"]
    assert all(size <= 1 * MIB for size in sizes.values()) and sum(sizes.values()) <= 3 * MIB
    newest = path.read_text()
    assert "request 199999 failed" in newest and newest.rstrip().endswith("… (line cut)")


def test_the_event_loops_error_reports_are_one_line_each_and_collapsed(tmp_path: Path) -> None:
    """What asyncio reports for every failed accept() under a descriptor flood, 100,000 times, in a
    real service process's logging setup."""
    script = """
        import asyncio, errno
        from services.server import bound_service_logging

        async def main():
            bound_service_logging()
            loop = asyncio.get_running_loop()
            for _ in range(100_000):
                loop.call_exception_handler({
                    "message": "socket.accept() out of system resource",
                    "exception": OSError(errno.EMFILE, "Too many open files"),
                })
            try:
                raise ValueError("x")
            except ValueError as exc:
                loop.call_exception_handler({"message": "something else", "exception": exc})

        asyncio.run(main())
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=120, check=True
    )
    lines = done.stderr.splitlines()
    assert len(done.stderr) < 2048, done.stderr[:2048]
    assert sum("socket.accept() out of system resource: OSError: [Errno 24]" in line for line in lines) == 1
    assert any("99999 repeated lines suppressed" in line for line in lines)
    assert "Traceback" in done.stderr and "ValueError: x" in done.stderr  # other errors keep their traceback
