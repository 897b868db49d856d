"""The rule of the house, enforced: import-linter's contracts in pyproject.toml hold, and break when broken.

The second test copies the three packages into a temporary tree, adds one forbidden import of each
kind and checks that `lint-imports` names the broken contract — so the contracts cannot silently pass.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("mleredux", "services", "technique_tasks")

#: lint-imports runs as a program (run it directly while working: `.venv/bin/lint-imports`).
pytestmark = pytest.mark.subprocess


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_contracts_hold() -> None:
    result = _lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" in result.stdout and " 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "source", "contract"),
    [
        ("mleredux/grading/probe.py", "import services.grader.servicer\n", "The domain imports no service"),
        ("mleredux/probe.py", "import technique_tasks.base\n", "The domain imports no service"),
        ("technique_tasks/probe.py", "import services.runner.sequencer\n", "Technique tasks import only the domain"),
        ("services/gateway/probe.py", "import services.runner.sequencer\n", "No service imports another service"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(tmp_path: Path, module: str, source: str, contract: str) -> None:
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / module).write_text(source)
    result = _lint(tmp_path)
    assert result.returncode != 0, result.stdout
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(contract in line for line in broken) or contract in result.stdout.split("Broken contracts")[-1], (
        result.stdout
    )
