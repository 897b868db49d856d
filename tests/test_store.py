"""ArtifactStore against a local directory and a real S3-protocol server on 127.0.0.1."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mleredux.errors import ArtifactNotFoundError, InvalidArgumentError, StoreError
from mleredux.store import ArtifactStore, LocalStore, S3Store, open_store, sha256_file
from tests.conftest import free_port


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    endpoint = request.getfixturevalue("s3_endpoint")
    s3 = S3Store(f"test-{tmp_path.name.lower().replace('_', '-')[-40:]}", endpoint, access_key="k", secret_key="s")
    s3.check()
    return s3


def test_roundtrip_list_and_exists(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(bytes(range(256)) * 20_000)  # 5 MB: several chunks
    store.put_file("runs/r1/logs/big.bin", source)
    store.put_bytes("runs/r1/report.json", b"{}")
    store.put_bytes("runs/r2/report.json", b"[]")
    assert store.exists("runs/r1/report.json")
    assert not store.exists("runs/r1/nothing")
    assert [o.key for o in store.list("runs/r1/")] == ["runs/r1/logs/big.bin", "runs/r1/report.json"]
    assert store.list("runs/r1/")[0].size_bytes == source.stat().st_size
    assert b"".join(store.iter_chunks("runs/r1/logs/big.bin", 1 << 16)) == source.read_bytes()
    target = tmp_path / "out" / "copy.bin"
    store.get_file("runs/r1/logs/big.bin", target)
    assert sha256_file(target) == sha256_file(source)
    assert store.get_bytes("runs/r2/report.json") == b"[]"


def test_missing_key_is_not_found(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFoundError, match="no object"):
        store.get_bytes("runs/none/report.json")
    with pytest.raises(ArtifactNotFoundError):
        store.get_file("runs/none/report.json", tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "../up", "a//b"])
def test_unsafe_keys_are_refused(store: ArtifactStore, key: str) -> None:
    with pytest.raises(InvalidArgumentError, match="invalid store key"):
        store.put_bytes(key, b"x")


def test_s3_store_down_is_a_store_error() -> None:
    dead = S3Store("bucket", f"127.0.0.1:{free_port()}", access_key="k", secret_key="s")
    # The minio client retries connection errors with back-off; a dead endpoint must still end in a
    # StoreError naming the store, not a urllib3 traceback.
    with pytest.raises(StoreError, match=r"S3 store 127\.0\.0\.1"):
        dead.put_bytes("runs/r/x", b"x")


def test_open_store_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(open_store(tmp_path.as_uri()), LocalStore)
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    monkeypatch.delenv("MLEREDUX_S3_ACCESS_KEY", raising=False)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    with pytest.raises(InvalidArgumentError, match="credentials"):
        open_store("s3://bucket?endpoint=http://127.0.0.1:9000")
    with pytest.raises(InvalidArgumentError, match="endpoint"):
        open_store("s3://bucket")
    with pytest.raises(InvalidArgumentError, match="scheme"):
        open_store("ftp://x")
    monkeypatch.setenv("MLEREDUX_S3_ACCESS_KEY", "a")
    monkeypatch.setenv("MLEREDUX_S3_SECRET_KEY", "b")
    s3 = open_store("s3://bucket?endpoint=http://127.0.0.1:9000")
    assert isinstance(s3, S3Store) and s3.bucket == "bucket" and s3.endpoint == "127.0.0.1:9000"


_opened_dirs: list[str] | None = None


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event == "os.scandir" and _opened_dirs is not None:
        _opened_dirs.append(str(args[0]))


def test_listing_one_run_of_the_local_store_opens_no_other_runs_directories(tmp_path: Path) -> None:
    """Issue 12.10: listing one run's artifacts walked every run (7 ms → 1.65 s after one run wrote
    100,000 files). Which directories the listing opens is seen through Python's audit events."""
    global _opened_dirs
    store = LocalStore(tmp_path / "store")
    for i in range(300):
        store.put_bytes(f"runs/noisy/code/d{i}/f.py", b"x")
    store.put_bytes("runs/quiet/report.json", b"{}")
    store.put_bytes("runs/quiet/logs/agent.log", b"hi")
    store.put_bytes("runs/quieter/report.json", b"{}")  # shares the prefix's text, not its directory
    sys.addaudithook(_audit)
    _opened_dirs = []
    try:
        listed = [o.key for o in store.list("runs/quiet/")]
        opened = list(_opened_dirs)
    finally:
        _opened_dirs = None
    assert listed == ["runs/quiet/logs/agent.log", "runs/quiet/report.json"]
    assert opened, "the audit hook saw no directory opened"
    quiet = tmp_path / "store" / "runs" / "quiet"
    assert all(Path(d) == quiet or quiet in Path(d).parents for d in opened), sorted(set(opened))
