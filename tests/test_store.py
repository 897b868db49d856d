"""ArtifactStore against a local directory and a real S3-protocol server on 127.0.0.1."""

from __future__ import annotations

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
