"""ArtifactStore: where datasets and run artifacts live.

Two implementations of one small protocol: `LocalStore` (a directory; the embedded default) and
`S3Store` (MinIO or any S3-protocol server, through the `minio` client). Keys are `/`-separated
relative paths such as `runs/<run-id>/submission/submission.csv`; a key never starts with `/` and
never contains `..`.

Every method raises `StoreError` when the store cannot be reached or refuses the operation, and
`ArtifactNotFoundError` for a key that does not exist; nothing returns a silent `None`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import parse_qs, urlparse

from mleredux.errors import ArtifactNotFoundError, InvalidArgumentError, StoreError

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class StoredObject:
    """One object in the store."""

    key: str
    size_bytes: int


class ArtifactStore(Protocol):
    """What the services need of a store. Implementations are safe to share between threads."""

    #: A URL that opens the same store (`file:///…` or `s3://bucket?endpoint=…`).
    url: str

    def put_file(self, key: str, path: Path, *, sha256: str | None = None) -> None:
        """Uploads a file (multipart for large ones on S3). `sha256`, when given, is the file's hex
        digest, kept with the object where the store can hold metadata (S3: `x-amz-meta-sha256`)."""

    def put_bytes(self, key: str, data: bytes) -> None:
        """Stores a small object."""

    def get_bytes(self, key: str) -> bytes:
        """Reads a whole object (for small objects)."""

    def iter_chunks(self, key: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
        """Reads an object in chunks (for large objects)."""

    def get_file(self, key: str, path: Path) -> None:
        """Downloads an object to a file, atomically (a partial download is never left at `path`)."""

    def exists(self, key: str) -> bool:
        """True when an object is at the key."""

    def list(self, prefix: str) -> list[StoredObject]:
        """Every object whose key starts with prefix, ordered by key."""

    def check(self) -> None:
        """Raises StoreError when the store cannot be used right now."""

    def delete_prefix(self, prefix: str) -> int:
        """Removes every object whose key starts with `prefix` (which must end with "/"); returns
        their total size in bytes. Raises StoreError when the store is down (some may be gone)."""


def check_key(key: str) -> str:
    """Returns the key if it is a safe relative key; raises InvalidArgumentError otherwise."""
    parts = key.split("/")
    if (
        not key
        or key.startswith("/")
        or any(p in ("", ".", "..") for p in parts[:-1])
        or parts[-1]
        in (
            ".",
            "..",
        )
    ):
        raise InvalidArgumentError(f"invalid store key {key!r}: keys are relative paths without '..'")
    return key


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


class LocalStore:
    """A store in a local directory: the embedded default."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.url = self.root.as_uri()

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"local store {self.root} is not usable: {exc.strerror}") from exc
        if not os.access(self.root, os.W_OK):
            raise StoreError(f"local store {self.root} is not writable")

    def _write_atomic(self, key: str, source: BinaryIO) -> None:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(source, out, CHUNK_BYTES)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StoreError(f"cannot write {key!r} to local store {self.root}: {exc}") from exc

    def put_file(self, key: str, path: Path, *, sha256: str | None = None) -> None:
        try:
            source = path.open("rb")
        except OSError as exc:
            raise StoreError(f"cannot read {path} to store it as {key!r}: {exc.strerror}") from exc
        with source:
            self._write_atomic(key, source)

    def put_bytes(self, key: str, data: bytes) -> None:
        import io

        self._write_atomic(key, io.BytesIO(data))

    def get_bytes(self, key: str) -> bytes:
        return b"".join(self.iter_chunks(key))

    def iter_chunks(self, key: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
        path = self._path(key)
        try:
            handle = path.open("rb")
        except FileNotFoundError as exc:
            raise ArtifactNotFoundError(f"no object {key!r} in local store {self.root}") from exc
        except OSError as exc:
            raise StoreError(f"cannot read {key!r} from local store {self.root}: {exc}") from exc
        with handle:
            yield from iter(lambda: handle.read(chunk_bytes), b"")

    def get_file(self, key: str, path: Path) -> None:
        source = self._path(key)
        if not source.is_file():
            raise ArtifactNotFoundError(f"no object {key!r} in local store {self.root}")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".download-")
        os.close(fd)
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> list[StoredObject]:
        # Walk only below the prefix's directory: listing one run must not visit every run.
        directory = prefix.rpartition("/")[0]
        base = self._path(directory) if directory else self.root
        if not base.is_dir():
            return []
        found = []
        for path in base.rglob("*"):
            if not path.is_file() or path.name.startswith(".upload-"):
                continue
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix):
                found.append(StoredObject(key=key, size_bytes=path.stat().st_size))
        return sorted(found, key=lambda o: o.key)

    def delete_prefix(self, prefix: str) -> int:
        if not prefix.endswith("/"):
            raise InvalidArgumentError(f"a prefix to delete must end with '/': {prefix!r}")
        base = self._path(prefix.rstrip("/"))
        if not base.is_dir():
            return 0
        size = sum(p.stat().st_size for p in base.rglob("*") if p.is_file())
        shutil.rmtree(base)
        return size


class S3Store:
    """A store in an S3 bucket (MinIO in deploy/, any S3-protocol server in tests).

    Files above `part_bytes` go up as multipart uploads (`parallel_parts` parts at a time). Each
    HTTP request is retried by the minio client's connection pool on connection errors and 5xx
    answers (`retries` times, exponential back-off); a store that stays down raises StoreError, and
    callers that must not lose a file (the runner's uploader) retry on top of that.
    """

    def __init__(
        self,
        bucket: str,
        endpoint: str,
        *,
        access_key: str,
        secret_key: str,
        secure: bool = False,
        region: str | None = None,
        part_bytes: int = 16 << 20,
        parallel_parts: int = 3,
        retries: int = 3,
        timeout_seconds: float = 60.0,
    ) -> None:
        import urllib3
        from minio import Minio

        self.bucket = bucket
        self.endpoint = endpoint
        self.part_bytes = part_bytes
        self.parallel_parts = parallel_parts
        scheme = "https" if secure else "http"
        self.url = f"s3://{bucket}?endpoint={scheme}://{endpoint}"
        # The client's default waits 5 minutes for an answer; a store that hangs should fail sooner.
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=min(timeout_seconds, 10.0), read=timeout_seconds),
            maxsize=10,
            retries=urllib3.Retry(total=retries, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        )
        self._client = Minio(
            endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region, http_client=http
        )

    def _fail(self, action: str, key: str, exc: Exception) -> StoreError:
        return StoreError(f"S3 store {self.endpoint}/{self.bucket}: cannot {action} {key!r}: {exc}")

    def _call(self, action: str, key: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from minio.error import S3Error

        try:
            return fn(*args, **kwargs)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                raise ArtifactNotFoundError(f"no object {key!r} in bucket {self.bucket}") from exc
            raise self._fail(action, key, exc) from exc
        except (OSError, ValueError) as exc:
            raise self._fail(action, key, exc) from exc
        except Exception as exc:  # urllib3 errors when the endpoint is down
            if type(exc).__module__.startswith("urllib3"):
                raise self._fail(action, key, exc) from exc
            raise

    def check(self) -> None:
        exists: bool = self._call("reach bucket", self.bucket, self._client.bucket_exists, self.bucket)
        if not exists:
            self._call("create bucket", self.bucket, self._client.make_bucket, self.bucket)

    def put_file(self, key: str, path: Path, *, sha256: str | None = None) -> None:
        # fput_object switches to a multipart upload above part_size.
        self._call(
            "upload",
            key,
            self._client.fput_object,
            self.bucket,
            check_key(key),
            str(path),
            metadata={"sha256": sha256} if sha256 else None,
            part_size=self.part_bytes,
            num_parallel_uploads=self.parallel_parts,
        )

    def put_bytes(self, key: str, data: bytes) -> None:
        import io

        self._call("upload", key, self._client.put_object, self.bucket, check_key(key), io.BytesIO(data), len(data))

    def get_bytes(self, key: str) -> bytes:
        return b"".join(self.iter_chunks(key))

    def iter_chunks(self, key: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
        response = self._call("download", key, self._client.get_object, self.bucket, check_key(key))
        try:
            yield from response.stream(chunk_bytes)  # type: ignore[attr-defined]
        finally:
            response.close()  # type: ignore[attr-defined]
            response.release_conn()  # type: ignore[attr-defined]

    def get_file(self, key: str, path: Path) -> None:
        # fget_object writes to a temporary name and renames when complete.
        self._call("download", key, self._client.fget_object, self.bucket, check_key(key), str(path))

    def exists(self, key: str) -> bool:
        try:
            self._call("stat", key, self._client.stat_object, self.bucket, check_key(key))
        except ArtifactNotFoundError:
            return False
        return True

    def delete_prefix(self, prefix: str) -> int:
        from minio.deleteobjects import DeleteObject

        if not prefix.endswith("/"):
            raise InvalidArgumentError(f"a prefix to delete must end with '/': {prefix!r}")
        found = self.list(prefix)
        doomed = (DeleteObject(o.key) for o in found)
        errors = self._call("delete", prefix, list, self._client.remove_objects(self.bucket, doomed))
        if errors:
            raise self._fail("delete", prefix, RuntimeError(f"{len(errors)} object(s) not deleted: {errors[0]}"))
        return sum(o.size_bytes for o in found)

    def list(self, prefix: str) -> list[StoredObject]:
        objects = self._call("list", prefix, self._client.list_objects, self.bucket, prefix=prefix, recursive=True)
        found = self._call("list", prefix, list, objects)
        return sorted(
            (StoredObject(key=o.object_name, size_bytes=int(o.size or 0)) for o in found),
            key=lambda o: o.key,
        )


def open_store(url: str) -> ArtifactStore:
    """Opens a store from a URL.

    - `file:///abs/path` or a plain path: a LocalStore.
    - `s3://BUCKET?endpoint=http://HOST:PORT`: an S3Store; credentials from the environment
      (`MLEREDUX_S3_ACCESS_KEY`/`MLEREDUX_S3_SECRET_KEY`, falling back to `AWS_ACCESS_KEY_ID`/
      `AWS_SECRET_ACCESS_KEY`), never from the URL, so URLs can be logged.
    """
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        return LocalStore(Path(parsed.path if parsed.scheme else url))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise InvalidArgumentError(f"store URL {url!r} names no bucket (s3://BUCKET?endpoint=...)")
        query = parse_qs(parsed.query)
        endpoint_url = query.get("endpoint", [""])[0]
        if not endpoint_url:
            raise InvalidArgumentError(f"store URL {url!r} has no endpoint= (e.g. endpoint=http://127.0.0.1:9000)")
        endpoint = urlparse(endpoint_url)
        access = os.environ.get("MLEREDUX_S3_ACCESS_KEY") or os.environ.get("AWS_ACCESS_KEY_ID")
        secret = os.environ.get("MLEREDUX_S3_SECRET_KEY") or os.environ.get("AWS_SECRET_ACCESS_KEY")
        if not access or not secret:
            raise InvalidArgumentError(
                "S3 store needs credentials: set MLEREDUX_S3_ACCESS_KEY and MLEREDUX_S3_SECRET_KEY"
            )
        return S3Store(
            parsed.netloc,
            endpoint.netloc,
            access_key=access,
            secret_key=secret,
            secure=endpoint.scheme == "https",
            region=query.get("region", [None])[0],
        )
    raise InvalidArgumentError(f"unknown store URL scheme {parsed.scheme!r} in {url!r} (file:// or s3://)")
