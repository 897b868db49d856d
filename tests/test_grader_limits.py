"""A hostile submission cannot pin the grader's CPU or blow up its memory: each bound, tried for real.

A real grader service in its own process grades and validates submissions that exceed each bound
(too many columns, too many rows, too many bytes); each is refused with its specific reason, and the
grader's peak memory (its VmHWM, read from /proc) stays within a generous bound. Then an honest
submission is still graded. The bounds' arithmetic is checked on the domain functions directly.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pandas as pd
import pytest

from mleredux.errors import InvalidSubmissionError
from mleredux.grading.limits import Expected, SubmissionLimits, check_bounds
from mleredux.grading.submission import SubmissionFormat, check_format, grade_submission, validate_submission
from mleredux.preparation.prepare import PreparedDataset, prepare_competition
from mleredux.store import LocalStore
from mleredux.v1 import grader_pb2, grader_pb2_grpc

COMPETITION = "demo-digits"
MIB = 1 << 20
#: A generous bound on what refusing one hostile submission may add to the grader's peak memory, once
#: warm (measured: about 1 MiB; parsing the 3-million-row file instead adds about 600 MiB).
REFUSAL_MEMORY_BOUND = 64 * MIB
#: What a streamed validation far past the bounds may add to the grader's peak: its messages in flight,
#: never the file.
STREAMED_VALIDATION_MEMORY_BOUND = 32 * MIB


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PreparedDataset]:
    data_dir = tmp_path_factory.mktemp("data")
    return data_dir, prepare_competition(COMPETITION, data_dir)


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="module")
def grader(prepared: tuple[Path, PreparedDataset], store_root: Path) -> Iterator[tuple[str, int]]:
    """(address, pid) of a grader service process."""
    command = [sys.executable, "-m", "mleredux", "serve", "grader", "--listen", "127.0.0.1:0"]
    command += ["--data-dir", str(prepared[0]), "--store", f"file://{store_root}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    try:
        assert line.startswith("listening on "), line + process.stdout.read()
        address = line.split()[-1]
        # Warm: the first grade imports the competition registry and the metrics (tens of MiB), which
        # a memory bound on one refusal must not count.
        sample = (prepared[1].public_dir / "sample_submission.csv").read_bytes()
        channel, stub = _stub(address)
        with channel:
            request = grader_pb2.GradeSubmissionRequest(
                competition_id=COMPETITION, submission=grader_pb2.SubmissionSource(content=sample)
            )
            assert stub.GradeSubmission(request, timeout=120).report.valid_submission
            validation = grader_pb2.ValidateSubmissionRequest(competition_id=COMPETITION, content=sample)
            assert stub.ValidateSubmission(validation, timeout=120).valid
        yield address, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"/proc/{pid}/status has no {field}")


def _reset_peak(pid: int) -> int:
    """Reset the process's VmHWM to its current RSS (kernel >= 4.0), and return that, in bytes."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return _status_kib(pid, "VmHWM") * 1024


def _peak_added(pid: int, baseline: int) -> int:
    return _status_kib(pid, "VmHWM") * 1024 - baseline


def _ids(prepared: tuple[Path, PreparedDataset]) -> list[str]:
    return pd.read_csv(prepared[1].public_dir / "sample_submission.csv", dtype={"id": str})["id"].tolist()


def _stub(address: str) -> tuple[grpc.Channel, grader_pb2_grpc.GraderServiceStub]:
    channel = grpc.insecure_channel(address, options=[("grpc.max_send_message_length", 64 * MIB)])
    return channel, grader_pb2_grpc.GraderServiceStub(channel)


def _grade_key(stub: grader_pb2_grpc.GraderServiceStub, key: str):  # type: ignore[no-untyped-def]
    request = grader_pb2.GradeSubmissionRequest(
        competition_id=COMPETITION, submission=grader_pb2.SubmissionSource(store_key=key)
    )
    return stub.GradeSubmission(request, timeout=120).report


def _put(store_root: Path, tmp_path: Path, key: str, content: bytes) -> None:
    path = tmp_path / key.replace("/", "_")
    path.write_bytes(content)
    LocalStore(store_root).put_file(key, path)


def test_a_header_of_200000_columns_is_refused_at_once(grader, prepared, store_root, tmp_path) -> None:  # type: ignore[no-untyped-def]
    address, pid = grader
    header = ",".join(["id", "label", *(f"c{i}" for i in range(200_000))]).encode() + b"\n"
    assert len(header) > 1_300_000
    channel, stub = _stub(address)
    with channel:
        baseline = _reset_peak(pid)
        result = stub.ValidateSubmission(
            grader_pb2.ValidateSubmissionRequest(competition_id=COMPETITION, content=header), timeout=120
        )
        assert not result.valid and result.message.startswith("too many columns"), result.message
        _put(store_root, tmp_path, "runs/wide/submission.csv", header)
        report = _grade_key(stub, "runs/wide/submission.csv")
        assert not report.valid_submission and report.submission_exists
        assert report.invalid_reason.startswith("too many columns"), report.invalid_reason
        assert len(report.invalid_reason) < 300  # names the bound, never the 200,000 names
        assert _peak_added(pid, baseline) < REFUSAL_MEMORY_BOUND


def test_millions_of_rows_are_refused_before_parsing_within_a_memory_bound(
    grader, prepared, store_root, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    address, pid = grader
    ids = _ids(prepared)
    # 3 million rows (36 MB): beyond the size bound; parsed, its ids alone would take several hundred MiB.
    rows = 3_000_000
    body = b"id,label\n" + b"".join(f"x{i:08d},1\n".encode() for i in range(rows))
    channel, stub = _stub(address)
    with channel:
        _put(store_root, tmp_path, "runs/long/submission.csv", body)
        baseline = _reset_peak(pid)
        report = _grade_key(stub, "runs/long/submission.csv")
        assert not report.valid_submission
        assert report.invalid_reason.startswith("submission too large"), report.invalid_reason
        assert _peak_added(pid, baseline) < REFUSAL_MEMORY_BOUND
        # Short lines that fit the size bound but not the row bound: refused by counting lines.
        many = b"id,label\n" + b"1\n" * (len(ids) * 2 + 2_000)
        baseline = _reset_peak(pid)
        result = stub.ValidateSubmission(
            grader_pb2.ValidateSubmissionRequest(competition_id=COMPETITION, content=many), timeout=120
        )
        assert not result.valid and result.message.startswith("too many rows"), result.message
        _put(store_root, tmp_path, "runs/many/submission.csv", many)
        report = _grade_key(stub, "runs/many/submission.csv")
        assert report.invalid_reason.startswith("too many rows"), report.invalid_reason
        assert _peak_added(pid, baseline) < REFUSAL_MEMORY_BOUND
        # An honest submission is graded as before by the same grader.
        honest = ("id,label\n" + "".join(f"{i},0\n" for i in ids)).encode()
        _put(store_root, tmp_path, "runs/honest/submission.csv", honest)
        report = _grade_key(stub, "runs/honest/submission.csv")
        assert report.valid_submission and report.HasField("score"), report.invalid_reason


def test_a_20_million_row_validation_streamed_in_is_refused_within_the_memory_bound(grader, prepared) -> None:  # type: ignore[no-untyped-def]
    """Issue 12.4's 20-million-row validation (it took the grader from 950 to 5,904 MiB), sent the way the
    runner sends a validation body: 1 MiB messages of ValidateSubmissionStream. 20,000,000 two-byte lines
    (40 MB) fit the socket's 100 MiB body cap, so only the grader's streamed bounds stop them."""
    address, pid = grader
    rows = 20_000_000
    chunk_lines = (1 << 20) // 2

    def messages() -> Iterator[grader_pb2.ValidateSubmissionStreamRequest]:
        yield grader_pb2.ValidateSubmissionStreamRequest(competition_id=COMPETITION, content=b"id,label\n")
        chunk = b"1\n" * chunk_lines
        for _ in range(rows // chunk_lines):
            yield grader_pb2.ValidateSubmissionStreamRequest(content=chunk)
        yield grader_pb2.ValidateSubmissionStreamRequest(content=b"1\n" * (rows % chunk_lines))

    channel, stub = _stub(address)
    with channel:
        baseline = _reset_peak(pid)
        result = stub.ValidateSubmissionStream(messages(), timeout=300)
        added = _peak_added(pid, baseline)
    # The size bound (4 MiB here) acts before the row count (2 x 360 + 1,000 lines) would.
    assert not result.valid and result.message.startswith("submission too large"), result.message
    print(f"grader: 20,000,000-row streamed validation added {added / MIB:.1f} MiB to its peak")
    # Measured 19 MiB (gRPC's buffers of the 1 MiB messages); reading the spooled 40 MB file whole, as
    # the grader once did before checking its bounds, added 48 MiB.
    assert added < STREAMED_VALIDATION_MEMORY_BOUND


def test_the_bounds_derive_from_the_expected_size_and_are_configurable(prepared, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data_dir, _ = prepared
    ids = _ids(prepared)
    honest = tmp_path / "submission.csv"
    pd.DataFrame({"id": ids, "label": 0}).to_csv(honest, index=False)
    assert grade_submission(honest, COMPETITION, data_dir).valid_submission
    # Twice the expected rows (plus the slack) are accepted by the bound; one more line is not.
    limits = SubmissionLimits(rows_slack=0, min_bytes=0)
    assert limits.row_limit(len(ids)) == 2 * len(ids)
    expected = Expected(rows=len(ids), columns=2, reference_row_bytes=10.0)
    at_bound = b"id,label\n" + b"1,0\n" * (2 * len(ids))
    check_bounds(at_bound, expected, limits)
    with pytest.raises(InvalidSubmissionError, match="too many rows"):
        check_bounds(at_bound + b"1,0", expected, limits)  # a last row without a line break counts too
    # A tighter configuration refuses what the default accepts, through the grading entry points.
    tight = SubmissionLimits(rows_factor=0.5, rows_slack=0)
    report = grade_submission(honest, COMPETITION, data_dir, limits=tight)
    assert not report.valid_submission and (report.invalid_reason or "").startswith("too many rows")
    result = validate_submission(honest.read_bytes(), COMPETITION, data_dir, limits=tight)
    assert not result.valid and result.message.startswith("too many rows")
    small = SubmissionLimits(max_bytes=100)
    report = grade_submission(honest, COMPETITION, data_dir, limits=small)
    assert (report.invalid_reason or "").startswith("submission too large")
    # A header line with no end inside the bound is refused without reading further.
    endless = b"id," + b"x" * (limits.column_limit(2) * limits.header_bytes_per_column)
    with pytest.raises(InvalidSubmissionError, match="header line is longer"):
        check_bounds(endless, Expected(rows=10**6, columns=2, reference_row_bytes=100.0), limits)


def test_duplicate_column_check_is_linear_in_the_header() -> None:
    # 200,000 distinct names and two repeated ones: the former quadratic scan took minutes on this.
    names = ["id", *(f"c{i}" for i in range(200_000)), "c7", "c9"]
    frame = pd.DataFrame([[0] * len(names)], columns=names)
    expected = SubmissionFormat("id", pd.Series(["0"]), ("label",), frozenset({"label"}))
    with pytest.raises(InvalidSubmissionError) as raised:
        check_format(frame, expected)
    assert str(raised.value) == "duplicate columns: ['c7', 'c9']"
