"""The viewer's vendored browser code is exactly what `vendor.json` says it is: the file npm shipped,
byte for byte (its sha256), with its licence beside it and its version in its own header, so it cannot
drift silently; and the viewer loads it from this server, never from anywhere else."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

VIEWER = Path(__file__).resolve().parents[1] / "services" / "gateway" / "viewer"
VENDOR = VIEWER / "vendor"


def _record() -> dict[str, dict[str, str]]:
    record: dict[str, dict[str, str]] = json.loads((VENDOR / "vendor.json").read_text())
    return record


def test_every_vendored_file_matches_its_recorded_sha256() -> None:
    record = _record()
    assert record, "vendor.json lists nothing"
    for name, entry in record.items():
        digest = hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
        assert digest == entry["sha256"], (
            f"{name} is not the file vendored from {entry['npm_package']}@{entry['version']}"
        )
        assert entry["license"] in ("MIT", "BSD-2-Clause", "BSD-3-Clause", "ISC"), entry["license"]
        assert "Permission is hereby granted" in (VENDOR / entry["license_file"]).read_text()
        assert re.fullmatch(r"sha512-[A-Za-z0-9+/]+=*", entry["tarball_integrity"]), entry
        assert entry["tarball"] == (
            f"https://registry.npmjs.org/{entry['npm_package']}/-/{entry['npm_package']}-{entry['version']}.tgz"
        )


def test_the_vendored_chart_library_is_the_recorded_version() -> None:
    entry = _record()["chart.umd.min.js"]
    head = (VENDOR / "chart.umd.min.js").read_text()[:200]
    assert f"Chart.js v{entry['version']}" in head and "Released under the MIT License" in head


def test_nothing_in_the_vendor_dir_is_unrecorded() -> None:
    record = _record()
    described = {"vendor.json", "README.md"} | set(record) | {e["license_file"] for e in record.values()}
    assert {p.name for p in VENDOR.iterdir()} == described


def test_the_viewer_loads_scripts_only_from_its_own_files() -> None:
    html = (VIEWER / "index.html").read_text()
    sources = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
    assert "/viewer/vendor/chart.umd.min.js" in sources
    assert all(s.startswith("/viewer/") for s in sources), sources
    assert not re.search(r"https?://", html)
