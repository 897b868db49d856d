"""A service's CPU priority (services/cpu_priority.py), set in real child processes: its nice value,
and its scheduling group's only when it leads its own session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import services.cpu_priority
from services.cpu_priority import autogroup_scheduling, scheduling_note, set_cpu_nice

pytestmark = pytest.mark.subprocess

#: Sets the nice value given as argv[1], prints what was set (or the error), then waits for stdin.
#: With argv[2], reads its scheduling group from that file instead (the kernel's view, replaced).
CHILD = """
import sys
from pathlib import Path
import services.cpu_priority
from services.cpu_priority import CpuPriorityError, set_cpu_nice
if len(sys.argv) > 2:
    services.cpu_priority.AUTOGROUP = Path(sys.argv[2])
try:
    print(set_cpu_nice(int(sys.argv[1])), flush=True)
except CpuPriorityError as exc:
    print(f"refused: {exc}", flush=True)
sys.stdin.read()
"""


def _child(
    nice: int, *, new_session: bool, prefix: tuple[str, ...] = (), autogroup: Path | None = None
) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [*prefix, sys.executable, "-c", CHILD, str(nice), *([str(autogroup)] if autogroup else [])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=new_session,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def _group(pid: int | str) -> tuple[str, int]:
    """The process's scheduling group and its nice; ("root", 0) for the kernel's root group, which the
    kernel shows as nothing (a process whose ancestors never started a session, as in CI's container)."""
    shown = Path(f"/proc/{pid}/autogroup").read_text().split()
    if not shown:
        return "root", 0
    name, _, nice = shown
    return name, int(nice)


def _stop(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.close()
    process.wait(30)


@pytest.mark.skipif(not Path("/proc/self/autogroup").exists(), reason="the kernel has no autogroup scheduling")
def test_a_session_leader_sets_its_scheduling_group_and_its_threads_nice() -> None:
    nice = -5 if os.geteuid() == 0 else 5  # below 0 only as root
    process, said = _child(nice, new_session=True)
    try:
        assert said == f"nice {nice}, and its session's scheduling group too"
        assert _group(process.pid)[1] == nice and _group(process.pid)[0] != _group("self")[0]
        assert os.getpriority(os.PRIO_PROCESS, process.pid) == nice
    finally:
        _stop(process)


@pytest.mark.skipif(not Path("/proc/self/autogroup").exists(), reason="the kernel has no autogroup scheduling")
def test_a_process_in_another_session_leaves_that_sessions_group_alone() -> None:
    before = _group("self")
    process, said = _child(7, new_session=False)
    try:
        assert said == "nice 7"
        assert os.getpriority(os.PRIO_PROCESS, process.pid) == 7
        assert _group(process.pid) == before == _group("self")  # the test's own session: untouched
    finally:
        _stop(process)


def test_a_session_leader_in_the_root_group_sets_only_its_nice(tmp_path: Path) -> None:
    # The kernel shows nothing for the root group, whose weight it will not change: such a process
    # must not try (nor fail to start), it just gets its nice value.
    shown = tmp_path / "autogroup"
    shown.write_text("")
    process, said = _child(5, new_session=True, autogroup=shown)
    try:
        assert said == "nice 5"
        assert os.getpriority(os.PRIO_PROCESS, process.pid) == 5 and shown.read_text() == ""
    finally:
        _stop(process)


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None, reason="needs util-linux's setpriv")
def test_an_unprivileged_service_is_told_why_it_keeps_the_default() -> None:
    # Root without CAP_SYS_NICE (not another user: a clone in a 0700 temp dir is root's alone).
    unprivileged = ("setpriv", "--bounding-set", "-sys_nice", "--inh-caps", "-sys_nice", "--")
    process, said = _child(-10, new_session=True, prefix=unprivileged if os.geteuid() == 0 else ())
    try:
        assert said.startswith("refused: cannot set nice -10") and "CAP_SYS_NICE" in said
        assert os.getpriority(os.PRIO_PROCESS, process.pid) == 0 and _group(process.pid)[1] == 0
    finally:
        _stop(process)


def test_a_nice_value_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="between -20 and 19, not 20"):
        set_cpu_nice(20)


# -- the host's scheduling -------------------------------------------------------------------------

TUNE_HOST = Path(__file__).resolve().parents[1] / "scripts" / "tune_host.sh"


def _tune_host(setting: Path, sysctl_dir: Path, **env: str) -> str:
    done = subprocess.run(
        ["bash", str(TUNE_HOST)],
        env={**os.environ, "MLEREDUX_SYSCTL_SETTING": str(setting), "MLEREDUX_SYSCTL_DIR": str(sysctl_dir), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_tune_host_turns_autogroup_scheduling_off_now_and_at_boot(tmp_path: Path) -> None:
    setting, sysctl_dir = tmp_path / "sched_autogroup_enabled", tmp_path / "sysctl.d"
    setting.write_text("1\n")
    sysctl_dir.mkdir()
    said = _tune_host(setting, sysctl_dir)
    assert setting.read_text().strip() == "0"
    assert "autogroup scheduling turned off" in said and "kept off at boot" in said
    (conf,) = sysctl_dir.iterdir()
    assert "kernel.sched_autogroup_enabled = 0" in conf.read_text().splitlines()
    # Again: nothing more to do, and it says what holds.
    assert _tune_host(setting, sysctl_dir).strip() == f"tune_host: autogroup scheduling is off ({setting} = 0)"
    assert list(sysctl_dir.iterdir()) == [conf]


def test_tune_host_leaves_the_setting_when_asked_and_where_it_cannot_change_it(tmp_path: Path) -> None:
    setting, sysctl_dir = tmp_path / "sched_autogroup_enabled", tmp_path / "sysctl.d"
    setting.write_text("1\n")
    sysctl_dir.mkdir()
    assert "left as it is" in _tune_host(setting, sysctl_dir, MLEREDUX_KEEP_AUTOGROUP="1")
    assert setting.read_text().strip() == "1" and not list(sysctl_dir.iterdir())
    assert "has no autogroup scheduling" in _tune_host(tmp_path / "absent", sysctl_dir)
    # A setting that cannot be written (a directory stands in for a read-only /proc/sys, as root
    # may write any file): it says so, changes nothing and does not fail the install.
    unwritable = tmp_path / "read-only"
    unwritable.mkdir()
    assert "could not turn autogroup scheduling off" in _tune_host(unwritable, sysctl_dir)
    assert not list(sysctl_dir.iterdir())


def test_a_service_is_told_when_its_priority_counts_per_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    setting = tmp_path / "sched_autogroup_enabled"
    monkeypatch.setattr(services.cpu_priority, "AUTOGROUP_SCHEDULING", setting)
    assert autogroup_scheduling() is None and scheduling_note() is None  # no such setting: nothing to say
    setting.write_text("0\n")
    assert autogroup_scheduling() is False and scheduling_note() is None
    setting.write_text("1\n")
    assert autogroup_scheduling() is True
    note = scheduling_note()
    assert note is not None and "autogroup scheduling is on" in note and "scripts/tune_host.sh" in note
