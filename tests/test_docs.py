"""The README and docs/ stand on their own: they never point outside the repository, and the paths they
name exist, so a moved module or a stale page fails here instead of misleading a newcomer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TOP_LEVEL = sorted(p.name for p in REPO.iterdir() if p.is_dir() and not p.name.startswith("."))
#: Things a page names that exist only at run time or on someone else's machine.
GENERATED = ("clients/node/node_modules", "mleredux/agent_images")  # the latter: inside a built wheel


def prose(text: str) -> str:
    """The page without its fenced code blocks (examples may `cd` anywhere)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_page_points_outside_the_repository(page: Path) -> None:
    text = page.read_text()
    assert "../shared" not in text and "/work/" not in text
    for target in re.findall(r"\]\(([^)#\s]+)[^)]*\)", prose(text)):
        if re.match(r"[a-z]+://", target):
            continue
        resolved = (page.parent / target).resolve()
        assert resolved.is_relative_to(REPO), f"{page.name} links outside the repository: {target}"
        assert resolved.exists(), f"{page.name} links to a missing {target}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_paths_a_page_names_exist(page: Path) -> None:
    missing = []
    for quoted in re.findall(r"`([^`\s]+)`", prose(page.read_text())):
        path = quoted.rstrip(".,:;)")
        if path.split("/")[0] not in TOP_LEVEL or "/" not in path or re.search(r"[<>*{}$]|\.\.\.", path):
            continue
        if path.startswith(GENERATED):
            continue
        candidates = [REPO / path, REPO / f"{path}.py"]
        if not any(c.exists() for c in candidates):
            missing.append(path)
    assert not missing, f"{page.name} names paths that do not exist: {missing}"
