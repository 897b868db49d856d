"""Any byte sequence as a file name, any depth: the run's files are stored under safe names or skipped
with a warning, and the rest are kept; files and bytes are capped per run."""

from __future__ import annotations

import os
from pathlib import Path

from services.runner.artifacts import MAX_NAME_BYTES, safe_component, select_files
from services.runner.limits import RunLimits


def _area(tmp_path: Path) -> Path:
    """The writable areas as a run's disk holds them; returns the dir that holds the areas."""
    for name in ("submission", "code", "logs"):
        (tmp_path / "disk" / name).mkdir(parents=True)
    (tmp_path / "disk" / "submission" / "submission.csv").write_text("id,label\n1,0\n")
    return tmp_path / "disk"


def _deep(root: Path, levels: int, component: bytes = b"d" * 200) -> None:
    """A directory chain deeper than PATH_MAX, made through dir fds (a path that long cannot be opened)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(levels):
            os.mkdir(component, dir_fd=fd)
            child = os.open(component, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        leaf = os.open(b"leaf.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(leaf, b"deep")
        os.close(leaf)
    finally:
        os.close(fd)


def test_safe_component_keeps_printable_utf8_and_encodes_everything_else() -> None:
    assert safe_component("résumé 50%.txt".encode()) == "résumé 50%.txt"
    assert safe_component(b"bad\xff\xfe.py") == "bad%FF%FE.py"
    assert safe_component(b"new\nline 100%") == "new%0Aline 100%25"
    assert safe_component(b"tab\tand\x00") == "tab%09and%00"
    for raw in (b"\xff", b"a\nb", b"\x1b[31m"):
        encoded = safe_component(raw)
        assert encoded.isprintable() and encoded.encode("utf-8")


def test_hostile_names_are_encoded_or_skipped_and_the_other_files_are_kept(tmp_path: Path) -> None:
    work = _area(tmp_path)
    code = os.fsencode(work / "code")
    for raw in (b"bad\xff.py", b"new\nline.py", b"ok.py", b"bad%FF.py"):
        with open(code + b"/" + raw, "wb") as handle:
            handle.write(raw)
    (work / "code" / "link").symlink_to("/etc/passwd")
    os.mkfifo(work / "code" / "fifo")
    _deep(work / "logs", levels=25)  # 5,000+ bytes deep: beyond PATH_MAX
    (work / "logs" / "rollout.jsonl").write_text("{}\n")
    selection = select_files(work.parent, RunLimits())
    names = [f.name for f in selection.files]
    assert names == [
        "submission/submission.csv",
        "code/bad%FF.py",
        "code/new%0Aline.py",
        "code/ok.py",
        "rollout.jsonl",
    ]
    # The literal name "bad%FF.py" clashes with the encoded "bad\xff.py": kept once, the other skipped.
    assert selection.clashing == ["code/bad%FF.py"]
    assert sorted(selection.renamed) == ["code/bad%FF.py", "code/new%0Aline.py"]
    assert len(selection.too_long) == 1 and len(selection.too_long[0].encode()) > MAX_NAME_BYTES
    for file in selection.files:
        assert file.path.read_bytes()  # every selected file can be opened by its host path
    warnings = selection.warnings(RunLimits())
    assert len(warnings) == 3 and all("\n" not in w for w in warnings)


def test_files_and_bytes_per_run_are_capped(tmp_path: Path) -> None:
    work = _area(tmp_path)
    for i in range(50):
        (work / "code" / f"f{i:02}.txt").write_bytes(b"x" * 100)
    capped = select_files(work.parent, RunLimits(max_artifact_files=10))
    assert len(capped.files) == 10 and capped.files[0].name == "submission/submission.csv"
    assert capped.over_files == 1
    assert any("file limit of 10" in w for w in capped.warnings(RunLimits(max_artifact_files=10)))
    limits = RunLimits(max_artifact_bytes=1000)
    small = select_files(work.parent, limits)
    assert sum(f.size_bytes for f in small.files) <= 1000
    assert [f.name for f in small.files][:1] == ["submission/submission.csv"]
    assert len(small.over_bytes) == 50 - 9
    assert any("upload limit of 1000 bytes" in w for w in small.warnings(limits))
