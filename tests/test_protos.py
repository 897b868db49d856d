"""The committed stubs in mleredux/v1 are what scripts/gen_protos.py makes from protos/."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

from google.protobuf.descriptor import Descriptor

from mleredux.grading.report import GradeReport, report_to_proto
from mleredux.v1 import common_pb2, gateway_pb2

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


def _buf() -> Path:
    """buf from tools/node_modules (scripts/install.sh puts it there)."""
    buf = REPO / "tools" / "node_modules" / ".bin" / "buf"
    if not buf.exists():
        # Installing is idempotent and quick once npm's cache has it; a missing tool is not a pass.
        subprocess.run(["bash", str(REPO / "scripts" / "install_tools.sh")], check=True)
    return buf


def test_buf_lint_is_clean() -> None:
    """`buf lint` with the committed buf.yaml (STANDARD and COMMENTS rules, nothing excepted)."""
    config = (REPO / "buf.yaml").read_text()
    assert "version: v2" in config and "STANDARD" in config and "except:" not in config and "ignore" not in config
    answer = subprocess.run([str(_buf()), "lint"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert answer.returncode == 0 and not answer.stdout.strip(), f"buf lint:\n{answer.stdout}{answer.stderr}"


def test_buf_lint_fails_on_a_finding(tmp_path: Path) -> None:
    """The check can fail: the same run on a copy with one uncommented, badly named field reports it."""
    shutil.copytree(REPO / "protos", tmp_path / "protos")
    shutil.copy(REPO / "buf.yaml", tmp_path / "buf.yaml")
    proto = tmp_path / "protos" / "mleredux" / "v1" / "gateway.proto"
    proto.write_text(
        proto.read_text().replace("message GetCallerRequest {}", "message GetCallerRequest {\n  string BadName = 1;\n}")
    )
    answer = subprocess.run([str(_buf()), "lint"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert answer.returncode != 0
    assert "BadName" in answer.stdout and "lower_snake_case" in answer.stdout, answer.stdout


def _messages_reached(descriptor: Descriptor, seen: set[str]) -> None:
    if descriptor.full_name in seen:
        return
    seen.add(descriptor.full_name)
    for field in descriptor.fields:
        if field.message_type is not None:
            _messages_reached(field.message_type, seen)


def test_the_gateway_has_its_own_messages_and_no_host_path() -> None:
    """Every request and response of the public API is declared in gateway.proto (or is shared vocabulary
    from common/competitions), and nothing a caller sends can name a path on a host."""
    service = gateway_pb2.DESCRIPTOR.services_by_name["GatewayService"]
    internal = {"mleredux/v1/preparer.proto", "mleredux/v1/runner.proto", "mleredux/v1/grader.proto"}
    for method in service.methods:
        for message in (method.input_type, method.output_type):
            assert message.file.name == "mleredux/v1/gateway.proto", f"{method.name} uses {message.full_name}"
        reached: set[str] = set()
        _messages_reached(method.input_type, reached)
        _messages_reached(method.output_type, reached)
        for name in reached:
            descriptor = gateway_pb2.DESCRIPTOR.pool.FindMessageTypeByName(name)
            assert descriptor.file.name not in internal, f"{method.name} reaches internal {name}"
        inputs: set[str] = set()
        _messages_reached(method.input_type, inputs)
        for name in inputs:
            for field in gateway_pb2.DESCRIPTOR.pool.FindMessageTypeByName(name).fields:
                assert not re.search(r"(^|_)(path|dir|file)(_|$)", field.name), f"{name}.{field.name} in a request"


def test_every_report_field_is_in_the_proto_and_survives_it() -> None:
    names = {f.name for f in dataclasses.fields(GradeReport)}
    proto_names = set(common_pb2.GradeReport.DESCRIPTOR.fields_by_name)
    assert names <= proto_names, f"dataclass fields missing from the proto: {sorted(names - proto_names)}"
    report = GradeReport(
        competition_id="demo-digits",
        score=0.75,
        gold_threshold=0.9,
        silver_threshold=0.8,
        bronze_threshold=0.7,
        median_threshold=0.5,
        any_medal=True,
        gold_medal=False,
        silver_medal=False,
        bronze_medal=True,
        above_median=True,
        submission_exists=True,
        valid_submission=True,
        is_lower_better=False,
        submission_path="runs/r/submission/submission.csv",
        invalid_reason=None,
        submission_sha256="ab" * 32,
        answers_sha256="cd" * 32,
        compute_profile={"cpus": 1.5, "memory_bytes": 3 << 30, "time_limit_seconds": 60, "pids_limit": 9},
        technique_task="cv",
        details={"items": [{"name": "a", "score": 1}], "seed": 7, "ratio": 0.5, "missing": None},
    )
    message = report_to_proto(report)
    for name in names - {"created_at", "compute_profile", "details"}:
        field = common_pb2.GradeReport.DESCRIPTOR.fields_by_name[name]
        got = getattr(message, name) if not field.has_presence or message.HasField(name) else None
        assert got == getattr(report, name), name
    assert message.compute_profile.memory_bytes == 3 << 30 and message.details["seed"] == 7
    shape = report.to_dict()
    assert shape["technique_task"] == "cv" and shape["invalid_reason"] is None
    assert shape["details"] == report.details and isinstance(shape["details"]["seed"], int)
    assert shape["compute_profile"]["memory_bytes"] == 3 << 30 and isinstance(
        shape["compute_profile"]["pids_limit"], int
    )
    assert list(shape)[:16] == [f.name for f in dataclasses.fields(GradeReport)][:16]  # MLE-bench's order first
