"""Packaging hook: the wheel carries `agent_images/` as `mleredux/agent_images/`.

All metadata is in pyproject.toml. The agent images live at the repository root, where people edit
them, but the runner mounts `common/validate_submission.sh` into every container and `mleredux images
build` runs the images' build scripts, so an installed package needs them beside its code.
`mleredux.images` looks there first and falls back to the source tree (checkouts, editable installs).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SOURCE = Path(__file__).resolve().parent / "agent_images"
#: Caches never shipped; nor is an image's top-level `build/` (a local build's outputs, not its recipe).
_CACHES = frozenset({"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".DS_Store"})


def _ignored(directory: str, names: list[str]) -> set[str]:
    here = Path(directory)
    skipped = {n for n in names if n in _CACHES or n.endswith(".pyc")}
    if here.parent == SOURCE and "build" in names and (here / "build").is_dir():
        skipped.add("build")
    return skipped


class BuildPyWithAgentImages(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False) or not SOURCE.is_dir():
            return  # an editable install reads the source tree itself
        target = Path(self.build_lib) / "mleredux" / "agent_images"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(SOURCE, target, ignore=_ignored, symlinks=True)


setup(cmdclass={"build_py": BuildPyWithAgentImages})
