"""Where things live by default: one home directory for the embedded service.

`MLEREDUX_HOME` (default `~/.mleredux`) holds the prepared data, the local store, the gateway's
SQLite database and the runner's work dirs. `MLEREDUX_GATEWAY` overrides the gateway address clients use.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_GATEWAY = "127.0.0.1:50051"
#: Where `mleredux up` serves the HTTP/JSON API and the run viewer.
DEFAULT_GATEWAY_HTTP = "127.0.0.1:50080"


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
    def admin_token_file(self) -> Path:
        """Written by a fresh gateway (mode 0600) with its first admin token."""
        return self.root / "admin.token"

    @property
    def credentials_file(self) -> Path:
        """Tokens saved by `mleredux login`, by gateway address."""
        return self.root / "credentials.json"

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


def gateway_token(explicit: str | None = None, address: str | None = None, home: Home | None = None) -> str | None:
    """The API token to send: the flag, then MLEREDUX_TOKEN, then what `mleredux login` saved for this
    gateway, then the admin token a gateway started from this home wrote (the embedded default)."""
    if explicit:
        return explicit
    if os.environ.get("MLEREDUX_TOKEN"):
        return os.environ["MLEREDUX_TOKEN"]
    home = home or Home.from_env()
    try:
        saved = json.loads(home.credentials_file.read_text())
    except (OSError, ValueError):
        saved = {}
    if isinstance(saved, dict) and address and isinstance(saved.get(address), str):
        return str(saved[address])
    try:
        return home.admin_token_file.read_text().strip() or None
    except OSError:
        return None


def save_credentials(address: str, token: str, home: Home | None = None) -> Path:
    """Remember `token` for `address` in the home's credentials file (mode 0600)."""
    home = home or Home.from_env()
    path = home.credentials_file
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        saved = {}
    if not isinstance(saved, dict):
        saved = {}
    saved[address] = token
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    temp.touch(mode=0o600)
    temp.chmod(0o600)
    temp.write_text(json.dumps(saved, indent=2) + "\n")
    temp.replace(path)
    return path
