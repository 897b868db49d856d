"""Where things live by default: one home directory for the embedded service.

`MLEREDUX_HOME` (default `~/.mleredux`) holds the prepared data, the local store, the gateway's
SQLite database and the runner's work dirs. `MLEREDUX_GATEWAY` overrides the gateway address clients use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_GATEWAY = "127.0.0.1:50051"


@dataclass(frozen=True)
class Home:
    """The embedded service's directories."""

    root: Path

    @classmethod
    def from_env(cls, override: str | None = None) -> Home:
        root = override or os.environ.get("MLEREDUX_HOME") or str(Path.home() / ".mleredux")
        return cls(Path(root).expanduser().resolve())

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def store_url(self) -> str:
        return (self.root / "store").as_uri()

    @property
    def db_path(self) -> Path:
        return self.root / "gateway.sqlite3"

    @property
    def runner_work_dir(self) -> Path:
        return self.root / "runner"

    @property
    def gateway_file(self) -> Path:
        """Written by `mleredux up` with the gateway's address, so clients find it."""
        return self.root / "gateway.address"


def gateway_address(explicit: str | None = None, home: Home | None = None) -> str:
    """The gateway to talk to: the flag, then MLEREDUX_GATEWAY, then what `up` wrote, then the default."""
    if explicit:
        return explicit
    if os.environ.get("MLEREDUX_GATEWAY"):
        return os.environ["MLEREDUX_GATEWAY"]
    home = home or Home.from_env()
    try:
        written = home.gateway_file.read_text().strip()
    except OSError:
        written = ""
    return written or DEFAULT_GATEWAY
