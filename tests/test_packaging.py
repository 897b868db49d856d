"""The installed package works outside the source tree: a wheel carries the agent images (build scripts,
the validation client) and `mleredux.images` finds them where the package is installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mleredux import images

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.subprocess

_PROBE = """
import json, mleredux, mleredux.images as images
print(json.dumps({
    "package": mleredux.__file__,
    "dir": str(images.AGENT_IMAGES_DIR),
    "images": {name: images.image_tag(name) for name in images.list_images()},
    "validate": str(images.validate_script()),
}))
"""


def _clean_env(site: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLEREDUX_AGENT_IMAGES", "PYTHONPATH")}
    return {**env, "PYTHONPATH": str(site)}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the wheel, a site dir it was pip-installed into), both far from the repository."""
    root = tmp_path_factory.mktemp("packaging")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (root / "dist").glob("mle_redux-*.whl")
    site = root / "site"
    done = subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    yield wheel, site


def test_the_wheel_carries_every_image_and_the_validation_client(installed: tuple[Path, Path]) -> None:
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    prefix = "mleredux/agent_images/"
    for name in ("common/validate_submission.sh", "common/mleredux-validate.c"):
        assert prefix + name in names
    source = images.AGENT_IMAGES_DIR
    assert source == REPO / "agent_images"  # the tests themselves run from the checkout
    for image in images.list_images():
        recipe = sorted(p.relative_to(source).as_posix() for p in images._iter_files(source / image))
        assert recipe, image
        missing = [r for r in recipe if prefix + r not in names]
        assert not missing, f"{image}: not in the wheel: {missing}"
    shipped = [n for n in names if n.startswith(prefix)]
    assert not [n for n in shipped if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in shipped if n.split("/")[3:4] == ["build"]]  # an image's local build outputs
    # Everything the packages hold, code and data (the viewer, any data file a module reads), is shipped.
    for package in ("mleredux", "services", "technique_tasks"):
        files = [
            p.relative_to(REPO).as_posix()
            for p in (REPO / package).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        ]
        assert files and not [f for f in files if f not in names], [f for f in files if f not in names]


def test_an_installed_package_finds_its_images_from_anywhere(installed: tuple[Path, Path], tmp_path: Path) -> None:
    _, site = installed
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=tmp_path, env=_clean_env(site), capture_output=True, text=True, timeout=120
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    found = json.loads(probe.stdout)
    assert Path(found["package"]).is_relative_to(site)
    assert Path(found["dir"]) == site / "mleredux" / "agent_images"
    assert Path(found["validate"]).is_file() and Path(found["validate"]).is_relative_to(site)
    # The same recipe gives the same content tag, so a deployed service reuses images built from a checkout.
    assert found["images"] == {name: images.image_tag(name) for name in images.list_images()}

    listed = subprocess.run(
        [sys.executable, "-m", "mleredux", "images", "list"],
        cwd=tmp_path,
        env=_clean_env(site),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert [line.split() for line in listed.stdout.splitlines()] == [[n, t] for n, t in found["images"].items()]


@pytest.mark.docker
def test_an_image_builds_from_the_installed_scripts(installed: tuple[Path, Path], docker_engine: None) -> None:
    _, site = installed
    tag = f"mleredux-test-installed-dummy:{uuid.uuid4().hex[:12]}"
    script = site / "mleredux" / "agent_images" / "dummy" / "build.sh"
    try:
        built = subprocess.run(
            ["bash", str(script), tag], cwd=site, capture_output=True, text=True, timeout=600, check=False
        )
        assert built.returncode == 0, built.stderr[-3000:]
        ran = subprocess.run(
            ["docker", "run", "--rm", "--network", "none", tag, "sh", "-c", "test -x /usr/local/bin/mleredux-validate"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        # The validation client compiled from the installed common/ is in the image.
        assert ran.returncode == 0, ran.stderr
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, check=False)
