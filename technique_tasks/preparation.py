"""Deriving a technique task's dataset from a prepared competition, with a checksum manifest.

Layout: `<data-dir>/technique/<task>/<competition-id>/prepared/{public,private}/` and
`prepared/manifest.json`, beside the competitions' own `<data-dir>/<competition-id>/prepared/`. The
source competition is prepared first when it is not (offline demos need no network). As with
competitions, a derivation is built in a temp dir and renamed into place only when complete, and one
found on disk is reused only after every file matches its manifest and it was planted with the same seed.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mleredux.competitions import get_competition
from mleredux.errors import CompetitionNotSupportedError, InvalidArgumentError, NotPreparedError
from mleredux.preparation.manifest import (
    MANIFEST,
    FileChecksum,
    Manifest,
    content_hash,
    has_manifest,
    read_manifest,
    verify_files,
    write_manifest,
)
from mleredux.preparation.prepare import (
    PreparedDataset,
    PrepareProgress,
    ProgressCallback,
    checksum_tree,
    install_prepared,
    prepare_competition,
)
from technique_tasks.base import TechniqueTask, get_task
from technique_tasks.sources import load_source, source_spec

TECHNIQUE_DIR = "technique"


@dataclass(frozen=True)
class PreparedTechniqueTask:
    """A technique task's derived dataset on this host."""

    task: str
    competition_id: str
    seed: int
    public_dir: Path
    private_dir: Path
    content_hash: str
    files: tuple[FileChecksum, ...]
    #: The content hash of the competition preparation it was derived from.
    source_content_hash: str
    reused: bool

    @property
    def dataset_id(self) -> str:
        """How the dataset is named in the store: `technique/<task>/<competition-id>`."""
        return f"{TECHNIQUE_DIR}/{self.task}/{self.competition_id}"

    def as_dataset(self) -> PreparedDataset:
        """The same files as a `PreparedDataset`, so `publish_dataset` can put the public part in the store."""
        return PreparedDataset(
            competition_id=self.dataset_id,
            public_dir=self.public_dir,
            private_dir=self.private_dir,
            content_hash=self.content_hash,
            files=self.files,
            reused=self.reused,
        )


def _quiet(_: PrepareProgress) -> None:
    return None


def technique_prepared_dir(task: str, competition_id: str, data_dir: Path) -> Path:
    return data_dir / TECHNIQUE_DIR / task / competition_id / "prepared"


def _check_source(technique: TechniqueTask, competition_id: str) -> None:
    get_competition(competition_id)  # an unknown id says so (with a suggestion) before anything else
    spec = source_spec(competition_id)
    if spec.kind not in technique.source_kinds:
        kinds = ", ".join(sorted(technique.source_kinds))
        raise CompetitionNotSupportedError(
            f"the {technique.name} task derives from competitions with a {kinds} target; "
            f"{competition_id} has a {spec.kind} target"
        )


def _verify(root: Path, manifest: Manifest, progress: ProgressCallback) -> tuple[FileChecksum, ...]:
    return verify_files(
        manifest,
        checksum_tree(root, progress),
        what=f"derived files in {root}",
        remedy="prepare the technique task again with overwrite",
    )


def load_technique_task(task: str, competition_id: str, data_dir: Path) -> PreparedTechniqueTask:
    """The derived dataset on this host, from its manifest (not re-hashed), or NotPreparedError."""
    get_task(task)
    root = technique_prepared_dir(task, competition_id, data_dir)
    if not has_manifest(root):
        raise NotPreparedError(
            f"the {task} technique task is not prepared from {competition_id} in {data_dir} "
            f"({root / MANIFEST} is missing)"
        )
    manifest = read_manifest(root)
    return _prepared(task, competition_id, root, manifest, manifest.files, reused=True)


def _prepared(
    task: str,
    competition_id: str,
    root: Path,
    manifest: Manifest,
    files: tuple[FileChecksum, ...],
    *,
    reused: bool,
) -> PreparedTechniqueTask:
    return PreparedTechniqueTask(
        task=task,
        competition_id=competition_id,
        seed=int(manifest.about.get("seed", 0)),
        public_dir=root / "public",
        private_dir=root / "private",
        content_hash=content_hash(files),
        files=files,
        source_content_hash=str(manifest.about.get("source_content_hash", "")),
        reused=reused,
    )


def prepare_technique_task(
    task: str,
    competition_id: str,
    data_dir: Path,
    *,
    seed: int = 0,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    kaggle_api: object = None,
) -> PreparedTechniqueTask:
    """Derive (or verify and reuse) the `task` dataset from `competition_id`, planted with `seed`."""
    report = progress or _quiet
    technique = get_task(task)
    _check_source(technique, competition_id)
    root = technique_prepared_dir(task, competition_id, data_dir)
    if has_manifest(root) and not overwrite:
        existing = read_manifest(root)
        planted = existing.about.get("seed")
        if planted != seed:
            raise InvalidArgumentError(
                f"the {task} task from {competition_id} in {data_dir} was planted with seed {planted}, "
                f"not {seed}; prepare it with overwrite to plant it again"
            )
        report(PrepareProgress("verify", f"verifying the existing derivation in {root}"))
        files = _verify(root, existing, report)
        report(PrepareProgress("done", "reused", len(files), len(files)))
        return _prepared(task, competition_id, root, existing, files, reused=True)

    source_dataset = prepare_competition(competition_id, data_dir, progress=report, kaggle_api=kaggle_api)
    report(PrepareProgress("split", f"planting the {task} task into rows of {competition_id}"))
    source = load_source(competition_id, source_dataset.public_dir, seed=seed)
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".prepared-", dir=root.parent))
    try:
        (staging / "public").mkdir()
        (staging / "private").mkdir()
        technique.derive(source, staging / "public", staging / "private", seed)
        files = checksum_tree(staging, report)
        about = {
            "task": task,
            "competition_id": competition_id,
            "seed": seed,
            "source_content_hash": source_dataset.content_hash,
        }
        manifest = Manifest(files, about)
        write_manifest(staging, manifest)
        install_prepared(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report(PrepareProgress("done", "prepared", len(files), len(files)))
    return _prepared(task, competition_id, root, manifest, files, reused=False)
