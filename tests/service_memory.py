"""Each service's memory over an attack, read from outside through /proc: before, peak and after.

The peak is the kernel's VmHWM, reset to the current RSS when the measure starts (`clear_refs` 5), so it
is the highest resident memory while the attack ran, not since the process started. The bounds hostile
tests assert are here, one per service, and quoted in docs/limits.md with the figures measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mleredux.embedded import EmbeddedStack

MIB = 1 << 20

#: What one tenant's attack may add to a service's peak resident memory (docs/limits.md, "Hostile tenants").
PEAK_GROWTH_BOUNDS = {
    "gateway": 256 * MIB,
    "runner": 150 * MIB,
    "grader": 128 * MIB,
    "preparer": 256 * MIB,
}


def _status(pid: int) -> dict[str, int]:
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    return values


@dataclass(frozen=True)
class Memory:
    """One service's resident memory, in bytes."""

    before: int
    peak: int
    after: int

    def __str__(self) -> str:
        return f"{self.before / MIB:.0f} → peak {self.peak / MIB:.0f} → {self.after / MIB:.0f} MiB"


class ServiceMemory:
    """Measures every service of `stack` from `start()` to `stop()`."""

    def __init__(self, stack: EmbeddedStack) -> None:
        self._pids = {name: service.process.pid for name, service in stack.services.items()}
        self._before: dict[str, int] = {}

    def start(self) -> None:
        for name, pid in self._pids.items():
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            self._before[name] = _status(pid)["VmRSS"]

    def stop(self) -> dict[str, Memory]:
        measured = {}
        for name, pid in self._pids.items():
            status = _status(pid)
            measured[name] = Memory(self._before[name], max(status["VmHWM"], self._before[name]), status["VmRSS"])
        return measured

    @staticmethod
    def check(measured: dict[str, Memory]) -> None:
        """Asserts every service's peak stayed within its bound over what it held before."""
        shown = "; ".join(f"{name} {memory}" for name, memory in measured.items())
        print(f"service memory: {shown}")
        for name, memory in measured.items():
            assert memory.peak - memory.before < PEAK_GROWTH_BOUNDS[name], f"{name}: {memory} ({shown})"
