"""Regenerates the Python stubs in mleredux/v1/ from protos/mleredux/v1/*.proto.

Usage: python scripts/gen_protos.py [OUT_ROOT]   (OUT_ROOT defaults to the repo root)

tests/test_protos.py runs this into a temp dir and fails when the committed stubs differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO / "protos"


def generate(out_root: Path) -> list[Path]:
    """Writes *_pb2.py, *_pb2.pyi and *_pb2_grpc.py under out_root/mleredux/v1; returns them."""
    import grpc_tools
    from grpc_tools import protoc

    protos = sorted((PROTO_ROOT / "mleredux" / "v1").glob("*.proto"))
    out_dir = out_root / "mleredux" / "v1"
    out_dir.mkdir(parents=True, exist_ok=True)
    include = Path(grpc_tools.__file__).parent / "_proto"  # google/protobuf/*.proto
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        *[str(p.relative_to(PROTO_ROOT)) for p in protos],
    ]
    # protoc resolves relative proto paths against -I roots; run from the proto root.
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed (see above)")
    init = out_dir / "__init__.py"
    init.write_text('"""Generated protobuf and gRPC stubs (scripts/gen_protos.py). Do not edit."""\n')
    return [*sorted(out_dir.glob("*_pb2*.py*")), init]


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO
    for path in generate(root):
        print(path)
