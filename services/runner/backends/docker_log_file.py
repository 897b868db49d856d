"""Following a container's output by reading the engine's json-file log on this host.

Docker's follow API (docker_logs.py) reads this same file inside dockerd, decodes every entry,
encodes it again as a frame and writes it to an HTTP stream: a goroutine and a hop per followed
container. On a loaded 2-core host that hop was where a printed line waited longest (p99 35 of its
~50 ms, with ~60 containers followed at once and dockerd's threads queued for a CPU). Here the
runner reads the file itself: one inotify instance for every followed file wakes the reader when
dockerd appends, and a block of entries is decoded in one `json.loads`.

The entries are the follow API's frames one for one (dockerd writes an entry per frame it would
send, a 16 KiB piece of a longer line included), so a reader that counts frames to resume counts
the same either way. Rotation (json-file `max-size`/`max-file`): dockerd closes the file, renames
it to `.1` (shifting older ones) and creates a new one; the reader reads the renamed file to its
end and goes on in the new one. The end: dockerd closes the log before it records the container's
stop, so once the engine's wait has answered the file holds everything there will be.

Limits: the file must be readable by the runner at the engine's own path (a runner on the engine's
host, as root or with `/var/lib/docker/containers` mounted read-only at the same path); when it is
not, `DockerBackend` follows through the API instead.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import stat
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

from services.runner.backends.base import OutputChunk
from services.runner.backends.docker_logs import COALESCE_BELOW, COALESCE_SECONDS, LogStreamError, merge_lines

_IN_MODIFY = 0x002
_IN_DELETE_SELF = 0x400
_IN_MOVE_SELF = 0x800
_IN_Q_OVERFLOW = 0x4000
_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000
_WATCH_MASK = _IN_MODIFY | _IN_DELETE_SELF | _IN_MOVE_SELF
#: Moved or deleted: the watched file will not grow again.
_LEFT = _IN_MOVE_SELF | _IN_DELETE_SELF
_EVENT = struct.Struct("iIII")
#: One read's bytes: a block of entries decoded, captured and journaled in one step of the loop
#: (~3,000 lines; a step of a 1 MiB block took 0.11-0.16 s under asyncio debug, every other run's lines waiting).
READ_BYTES = 1 << 18
#: How long the new file after a rotation may take to appear before the reader looks again.
_ROTATION_POLL_SECONDS = 0.002


class _Watched:
    """What the watcher has seen of one file since its reader last looked."""

    __slots__ = ("mask", "wake")

    def __init__(self) -> None:
        self.mask = 0
        self.wake = asyncio.Event()


class LogFileWatcher:
    """One inotify instance for every log file the runner follows (one per file would count
    against the host's per-user inotify instances, 128 by default, which dockerd uses too).
    Raises OSError when the kernel gives no inotify instance (the caller follows through the API)."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        fd = self._libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, f"inotify_init1: {os.strerror(code)}")
        self._fd: int = fd
        self._watched: dict[int, list[_Watched]] = {}
        self._reading = False

    def watch(self, path: str) -> tuple[int, _Watched]:
        """Watches the file now at `path` (its inode: a rename keeps the watch on it)."""
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(path), _WATCH_MASK)
        if wd < 0:
            code = ctypes.get_errno()
            raise OSError(code, f"inotify_add_watch {path}: {os.strerror(code)}")
        watched = _Watched()
        # A file followed twice has one kernel watch: both readers are woken by it.
        self._watched.setdefault(wd, []).append(watched)
        if not self._reading:
            asyncio.get_running_loop().add_reader(self._fd, self._readable)
            self._reading = True
        return wd, watched

    def unwatch(self, wd: int, watched: _Watched) -> None:
        readers = self._watched.get(wd)
        if readers is None or watched not in readers:
            return
        readers.remove(watched)
        if not readers:
            del self._watched[wd]
            self._libc.inotify_rm_watch(self._fd, wd)  # EINVAL once the file is gone: nothing to do

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, 1 << 16)
        except BlockingIOError:
            return
        watched = self._watched
        position, size = 0, len(data)
        while position < size:
            wd, mask, _cookie, length = _EVENT.unpack_from(data, position)
            position += _EVENT.size + length
            if mask & _IN_Q_OVERFLOW:  # events were dropped: every reader looks
                for readers in watched.values():
                    for each in readers:
                        each.mask |= _IN_MODIFY
                        each.wake.set()
                continue
            for each in watched.get(wd, ()):
                each.mask |= mask
                each.wake.set()

    def close(self) -> None:
        if self._fd >= 0:
            if self._reading:
                asyncio.get_running_loop().remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
            self._watched.clear()


def decode_entries(block: bytes, into: list[OutputChunk]) -> None:
    """Appends the frames of `block` (whole json-file lines). Consecutive entries of one stream
    that each hold one whole line become one chunk (`merge_lines`, as the follow API's frames)."""
    try:
        entries = json.loads(b"[" + block[:-1].replace(b"\n", b",") + b"]")
        run: list[bytes] = []
        run_stream = 0
        for entry in entries:
            data = entry["log"].encode("utf-8", "surrogateescape")
            stream = 2 if entry.get("stream") == "stderr" else 1
            if data.endswith(b"\n"):
                if stream != run_stream and run:
                    merge_lines(run, run_stream, into)
                    run = []
                run_stream = stream
                run.append(data)
            else:
                if run:
                    merge_lines(run, run_stream, into)
                    run = []
                into.append(OutputChunk("stderr" if stream == 2 else "stdout", data))
        if run:
            merge_lines(run, run_stream, into)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LogStreamError(f"the engine's log file holds an entry that is not a log line: {exc}") from exc


def _open_snapshot(path: str, after_inode: int | None = None) -> tuple[list[int], int]:
    """Opens the rotated files newer than the file `after_inode` (all of them when None), oldest
    first, and the current one, all as of one moment (a rotation in between is seen by the
    current file's inode changing, and the snapshot retaken)."""
    for _ in range(20):
        current = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        rotated: list[int] = []  # newest first while collected
        try:
            info = os.fstat(current)
            if not stat.S_ISREG(info.st_mode):
                raise LogStreamError(f"the engine's log {path} is not a regular file")
            index = 1
            while True:
                try:
                    fd = os.open(f"{path}.{index}", os.O_RDONLY | os.O_CLOEXEC)
                except FileNotFoundError:
                    break
                if os.fstat(fd).st_ino == after_inode:
                    os.close(fd)  # read already: what is older was too
                    break
                rotated.append(fd)
                index += 1
            if os.stat(path).st_ino == info.st_ino:
                return rotated[::-1], current
        except BaseException:
            for fd in (*rotated, current):
                os.close(fd)
            raise
        for fd in (*rotated, current):
            os.close(fd)
    raise LogStreamError(f"the engine's log {path} rotated on every attempt to open it")


async def follow_log_file(
    watcher: LogFileWatcher,
    path: str,
    stopped: Callable[[], Awaitable[object]],
) -> AsyncIterator[list[OutputChunk]]:
    """The frames of the json-file log at `path` from the container's start, following until
    `stopped()` (the engine's wait) has answered and the file is read to its end. Raises
    OSError if the file cannot be opened (nothing yielded yet: the caller may use the API),
    LogStreamError if the file is not a log, and whatever `stopped()` raises."""
    wd, watched = watcher.watch(path)
    fds: list[int] = []  # the files in the order they are read; all but the last are complete
    stop_task: asyncio.Future[object] = asyncio.ensure_future(stopped())
    stop_task.add_done_callback(lambda _: watched.wake.set())
    try:
        rotated, current = _open_snapshot(path)
        fds = [*rotated, current]
        reading = 0  # index in `fds`
        rest = b""  # the start of an entry not yet whole
        last = False  # the file being read is the log's last: nothing was made in its place
        while True:
            watched.wake.clear()
            moved = bool(watched.mask & _LEFT)
            watched.mask = 0
            ended = stop_task.done()  # before the read: a read that then finds nothing found the end
            # One bounded read a turn: a run far ahead of its reader (64 MiB of log at a reattach)
            # is decoded a block at a time, the loop free in between.
            data = os.read(fds[reading], READ_BYTES)
            if data:
                block = rest + data if rest else data
                cut = block.rfind(b"\n") + 1
                rest = block[cut:]
                if cut:
                    frames: list[OutputChunk] = []
                    decode_entries(block[:cut] if rest else block, frames)
                    if frames:
                        yield frames
                if len(data) == READ_BYTES:
                    # More is likely there already. A yield to the caller's `async for` does not give
                    # the loop up, so this does: without it a run far ahead of its reader was read to
                    # its end in one step (1.4 s for a 300,000-line run, every other run held meanwhile).
                    await asyncio.sleep(0)
                    continue
            if reading < len(fds) - 1:
                if not data:
                    reading += 1  # a rotated file read to its end: the next one
                continue
            if ended and not moved and not last:
                # A rotation whose event was not read yet: the name points elsewhere (or nowhere).
                try:
                    moved = os.stat(path).st_ino != os.fstat(fds[reading]).st_ino
                except FileNotFoundError:
                    moved = True
            if moved and not last:
                # Rotated (or removed): the engine closed the file first, so once read to its end
                # it is complete; reading goes on in the file made in its place.
                watcher.unwatch(wd, watched)
                # Every file made since (the engine may have rotated more than once meanwhile).
                opened = await _open_next(path, os.fstat(fds[reading]).st_ino, stop_task)
                if opened is None:
                    last = True  # removed with its container: once read to its end, the output ends
                    fds.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
                else:
                    fds += opened
                    wd, watched = watcher.watch(path)
                    stop_task.add_done_callback(lambda _, w=watched: w.wake.set())  # type: ignore[misc]
                continue
            if ended and not data:
                if rest:
                    raise LogStreamError(f"the engine's log {path} ends mid-entry")
                stop_task.result()
                return
            if data and len(data) < COALESCE_BELOW:
                # The engine writes an entry at a time; a short rest lets a few gather per read.
                await asyncio.sleep(COALESCE_SECONDS)
            if not ended:
                await watched.wake.wait()
    finally:
        stop_task.cancel()
        watcher.unwatch(wd, watched)
        for fd in fds:
            os.close(fd)


async def _open_next(path: str, inode: int, stop_task: asyncio.Future[object]) -> list[int] | None:
    """The files the engine made after the file `inode`, oldest first; None if the container
    stopped without one."""
    while True:
        try:
            rotated, current = _open_snapshot(path, inode)
            return [*rotated, current]
        except FileNotFoundError:
            if stop_task.done():
                return None
        await asyncio.sleep(_ROTATION_POLL_SECONDS)
