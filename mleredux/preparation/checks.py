"""`mleredux prepare --check`: what preparing a competition would need, without changing anything."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from mleredux.competitions import get_competition
from mleredux.preparation.prepare import prepared_dir

#: Raw download, its extraction and the prepared copy are on disk at once at the peak.
DISK_FACTOR = 3


@dataclass(frozen=True)
class PreparationCheck:
    """One competition's readiness."""

    competition_id: str
    supported: bool
    prepared: bool
    source: str
    credentials: str
    rules: str
    disk_needed_bytes: int
    disk_free_bytes: int
    ready: bool

    def render(self) -> str:
        gib = 1024**3
        lines = [
            f"{self.competition_id}: {'ready' if self.ready else 'NOT ready'}",
            f"  supported:   {'yes' if self.supported else 'no (listed only)'}",
            f"  prepared:    {'yes' if self.prepared else 'no'}",
            f"  source:      {self.source}",
            f"  credentials: {self.credentials}",
            f"  rules:       {self.rules}",
            f"  disk:        needs ~{self.disk_needed_bytes / gib:.2f} GiB, {self.disk_free_bytes / gib:.1f} GiB free",
        ]
        return "\n".join(lines)


def check_preparation(competition_id: str, data_dir: Path, *, raw: Path | None = None) -> PreparationCheck:
    competition = get_competition(competition_id)
    info = competition.info
    root = prepared_dir(competition_id, data_dir)
    prepared = (root / "public").is_dir() and (root / "private").is_dir()
    existing = next(p for p in (data_dir, *data_dir.parents) if p.exists())
    free = shutil.disk_usage(existing).free
    needed = 0 if prepared else info.approx_size_bytes * DISK_FACTOR
    credentials = rules = "not needed"
    source_ok = True
    if prepared:
        source = "already prepared (verified on use)"
    elif info.offline:
        source = "built in (no download)"
    elif raw is not None:
        source_ok = raw.exists()
        source = f"raw files at {raw}" if source_ok else f"raw files not found at {raw}"
    else:
        from mleredux.preparation.kaggle import check_access

        access = check_access(competition_id)
        source = "Kaggle download"
        credentials = "found" if access.credentials_found else f"missing: {access.message}"
        if access.rules_accepted is None:
            rules = f"unknown: {access.message}" if access.credentials_found else "unknown"
        else:
            rules = "accepted" if access.rules_accepted else f"not accepted: {access.message}"
        source_ok = access.credentials_found and access.rules_accepted is not False
    ready = info.supported and source_ok and needed <= free
    return PreparationCheck(
        competition_id=competition_id,
        supported=info.supported,
        prepared=prepared,
        source=source,
        credentials=credentials,
        rules=rules,
        disk_needed_bytes=needed,
        disk_free_bytes=free,
        ready=ready,
    )
