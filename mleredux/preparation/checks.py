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


#: What `preparability` answers; the preparer maps them to `PreparationState`.
PREPARABILITY_STATES = ("prepared", "offline", "downloaded", "downloadable", "unsupported", "unavailable")


@dataclass(frozen=True)
class Preparability:
    """Whether a competition is prepared, or can be prepared, here: `state` is one of
    PREPARABILITY_STATES; `message` says why, for people."""

    state: str
    message: str

    @property
    def usable(self) -> bool:
        return self.state not in ("unsupported", "unavailable")


def preparability(competition_id: str, data_dir: Path) -> Preparability:
    """The cheap form of `check_preparation`, fit to ask for every competition of an evaluation at
    create time: files on disk and whether Kaggle credentials exist, never a download, a checksum pass
    or a call to Kaggle (so a competition whose rules were not accepted still passes; its preparation
    fails later with that reason). UnknownCompetitionError for an id not in the registry."""
    info = get_competition(competition_id).info
    if not info.supported:
        return Preparability(
            "unsupported", f"{competition_id} is listed but not supported yet (no preparation or grader module)"
        )
    root = prepared_dir(competition_id, data_dir)
    if (root / "public").is_dir() and (root / "private").is_dir():
        return Preparability("prepared", f"{competition_id} is prepared in {root}")
    if info.offline:
        return Preparability("offline", f"{competition_id} builds from built-in data (no download)")
    archive = root.parent / "download" / f"{competition_id}.zip"
    if archive.is_file():
        return Preparability("downloaded", f"{competition_id}'s Kaggle download is at {archive}")
    from mleredux.preparation.kaggle import find_credentials

    found = find_credentials()
    if found is not None:
        return Preparability("downloadable", f"{competition_id} can be downloaded with the credentials in {found}")
    return Preparability(
        "unavailable",
        f"{competition_id} is not prepared on the preparer's host and cannot be: no raw data in {root.parent} and "
        "no Kaggle credentials (an operator prepares it with `mleredux prepare -c "
        f"{competition_id} --raw PATH`, or gives the preparer Kaggle credentials)",
    )
