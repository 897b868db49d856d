"""A run's writable disk, bounded: /home/submission, /home/code, /home/logs and /tmp of the container
live on one filesystem of `disk_bytes`, so a write beyond it fails with ENOSPC inside the container
and never fills the host.

The filesystem is a sparse file formatted ext4 and loop-mounted at `<work dir>/disk` (it takes host
space only for what is written; no journal, no reserved blocks: it is scratch space that the agent
gets whole). Where loop devices are unavailable a size-capped tmpfs takes its place (charged to the
memory of the container that writes it). Without either (not root) the area is a plain directory and
the run is told its disk is unbounded.

Mounts outlive a runner killed with SIGKILL: a restarted runner finds them in /proc/self/mountinfo,
keeps those of runs it still holds, and unmounts the rest (`stale_mounts`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: The mount point of the run's disk inside its work dir, and the image file behind it.
DISK_DIR = "disk"
IMAGE_FILE = "disk.img"
#: Below this much free space the disk counts as full (ext4 keeps a little metadata slack).
FULL_BELOW_BYTES = 1 << 20
#: The smallest disk that holds an ext4 filesystem with room to spare.
MIN_DISK_BYTES = 16 << 20
_COMMAND_TIMEOUT = 60.0
#: mountinfo writes space, tab, newline and backslash in paths as octal escapes.
_OCTAL = re.compile(r"\\([0-7]{3})")


class DiskSetupError(Exception):
    """The run's disk could not be created or mounted."""


@dataclass(frozen=True)
class DiskUsage:
    size_bytes: int
    used_bytes: int
    available_bytes: int

    @property
    def full(self) -> bool:
        return self.available_bytes < FULL_BELOW_BYTES


def _mount_points() -> set[str]:
    """Every mount point of this mount namespace (octal escapes of mountinfo undone)."""
    points = set()
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as handle:
            for line in handle:
                fields = line.split(" ")
                if len(fields) > 4:
                    points.add(_OCTAL.sub(lambda m: chr(int(m.group(1), 8)), fields[4]))
    except OSError:
        pass
    return points


def _run(*command: str) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=_COMMAND_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DiskSetupError(f"{command[0]}: {exc}") from exc
    if result.returncode != 0:
        raise DiskSetupError(f"{' '.join(command[:2])}: {(result.stderr or result.stdout).strip()[:300]}")


class RunDisk:
    """The bounded writable area of one run, at `<work dir>/disk`."""

    def __init__(self, work_dir: Path, size_bytes: int) -> None:
        self.work_dir = work_dir
        self.size_bytes = max(size_bytes, MIN_DISK_BYTES)
        self.root = work_dir / DISK_DIR
        self.image = work_dir / IMAGE_FILE

    @property
    def mounted(self) -> bool:
        return str(self.root) in _mount_points()

    def ensure(self) -> str:
        """Creates (or, after a host reboot, mounts again) the run's disk; returns how it is bounded:
        "loop", "tmpfs" or "none". Blocking (mkfs, mount): call it off the event loop."""
        self.root.mkdir(exist_ok=True)
        if self.mounted:
            return "loop" if self.image.exists() else "tmpfs"
        try:
            if not self.image.exists():
                with open(self.image, "wb") as handle:
                    handle.truncate(self.size_bytes)  # sparse: host space only for what is written
                _run("mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-m", "0", "-E", "nodiscard", str(self.image))
            _run("mount", "-o", "loop,nosuid,nodev", str(self.image), str(self.root))
            return "loop"
        except DiskSetupError:
            self.image.unlink(missing_ok=True)
        try:
            _run(
                "mount", "-t", "tmpfs", "-o", f"size={self.size_bytes},mode=0755,nosuid,nodev", "tmpfs", str(self.root)
            )
            return "tmpfs"
        except DiskSetupError:
            return "none"

    def usage(self) -> DiskUsage | None:
        """Size, use and free space of a mounted disk; None when it is not bounded."""
        if not self.mounted:
            return None
        try:
            stats = os.statvfs(self.root)
        except OSError:
            return None
        size = stats.f_blocks * stats.f_frsize
        return DiskUsage(size, (stats.f_blocks - stats.f_bfree) * stats.f_frsize, stats.f_bavail * stats.f_frsize)

    def release(self) -> None:
        """Unmounts the disk and removes its image; safe on any path, any number of times."""
        if self.mounted:
            try:
                _run("umount", str(self.root))
            except DiskSetupError:
                # Still busy (a process holds a file): detach now, the kernel frees it when released.
                _run("umount", "-l", str(self.root))
        self.image.unlink(missing_ok=True)


def release_disk(work_dir: Path) -> None:
    """Unmounts and deletes a work dir's disk only (a finished run's journal and record stay)."""
    with contextlib.suppress(DiskSetupError):
        RunDisk(work_dir, 0).release()


def release_work_dir(work_dir: Path) -> None:
    """Unmounts a work dir's disk, then deletes the work dir (never deletes through a mount)."""
    disk = RunDisk(work_dir, 0)
    try:
        disk.release()
    except DiskSetupError:
        return  # still mounted: deleting now would only empty the mounted disk
    shutil.rmtree(work_dir, ignore_errors=True)


def stale_mounts(runs_dir: Path, keep: set[str]) -> list[Path]:
    """Mounted run disks under `runs_dir` whose run is not in `keep`."""
    prefix = str(runs_dir) + os.sep
    found = []
    for point in sorted(_mount_points()):
        if point.startswith(prefix):
            relative = Path(point[len(prefix) :])
            if len(relative.parts) == 2 and relative.parts[1] == DISK_DIR and relative.parts[0] not in keep:
                found.append(Path(point))
    return found
