"""The committed stubs in mleredux/v1 are what scripts/gen_protos.py makes from protos/."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _generate(out: Path) -> None:
    spec = importlib.util.spec_from_file_location("gen_protos", REPO / "scripts" / "gen_protos.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.generate(out)


def test_committed_stubs_are_fresh(tmp_path: Path) -> None:
    _generate(tmp_path)
    fresh = {p.name: p.read_bytes() for p in (tmp_path / "mleredux" / "v1").iterdir() if p.is_file()}
    committed = {p.name: p.read_bytes() for p in (REPO / "mleredux" / "v1").iterdir() if p.is_file()}
    assert sorted(fresh) == sorted(committed), "stub files differ: run python scripts/gen_protos.py"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale stubs {stale}: run python scripts/gen_protos.py and commit"


def test_every_message_field_and_enum_value_is_commented() -> None:
    missing = []
    for proto in sorted((REPO / "protos" / "mleredux" / "v1").glob("*.proto")):
        lines = proto.read_text().splitlines()
        for number, line in enumerate(lines):
            stripped = line.strip()
            declares = re.match(r"(message|enum|service|rpc|oneof)\s", stripped) or re.match(
                r"(optional\s+|repeated\s+)?[\w.<>, ]+\s+\w+\s*=\s*\d+;", stripped
            )
            if declares and not lines[number - 1].strip().startswith("//"):
                missing.append(f"{proto.name}:{number + 1}: {stripped}")
    assert not missing, "uncommented declarations:\n" + "\n".join(missing)


def test_enums_start_with_unspecified() -> None:
    for proto in (REPO / "protos" / "mleredux" / "v1").glob("*.proto"):
        text = proto.read_text()
        for name, body in re.findall(r"enum (\w+) \{(.*?)\}", text, flags=re.S):
            first = re.search(r"(\w+)\s*=\s*(\d+);", body)
            assert first is not None
            assert first.group(2) == "0" and first.group(1).endswith("_UNSPECIFIED"), f"{proto.name}: enum {name}"
