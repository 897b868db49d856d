"""A run as the runner sees it: the request with every limit resolved, stored in the run's work dir."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from services.runner.capacity import Claim


@dataclass(frozen=True)
class RunRequest:
    """A run as the runner sees it, with every limit resolved."""

    run_id: str
    image: str
    competition_id: str
    public_dir: Path | None
    store_prefix: str
    cpus: float
    memory_bytes: int
    gpus: int
    time_limit_seconds: int
    pids_limit: int
    shm_bytes: int
    first_seq: int = 1
    #: The run's writable disk; 0 in a run.json written before disks were bounded.
    disk_bytes: int = 0
    task: str = ""
    instructions: str = ""
    env: dict[str, str] = field(default_factory=dict)
    #: The effective ComputeProfile as JSON (services/runner/profile.py), reported on RUNNING.
    profile: dict[str, Any] = field(default_factory=dict)
    #: Model access (see services/runner/model_access.py `models_field`); empty for none.
    models: dict[str, Any] = field(default_factory=dict)
    #: The container's command from the agent's manifest; empty for the image's own.
    command: list[str] = field(default_factory=list)
    #: The agent's arguments (JSON object text) for /home/agent_args.json; empty for none.
    agent_args_json: str = ""

    @property
    def claim(self) -> Claim:
        return Claim(cpus=self.cpus, memory_bytes=self.memory_bytes, gpus=self.gpus)

    def to_json(self) -> str:
        fields = asdict(self)
        fields["public_dir"] = str(self.public_dir) if self.public_dir is not None else None
        return json.dumps(fields, indent=1)

    @classmethod
    def from_json(cls, text: str) -> RunRequest:
        fields: dict[str, Any] = json.loads(text)
        fields["public_dir"] = Path(fields["public_dir"]) if fields.get("public_dir") else None
        return cls(**fields)
