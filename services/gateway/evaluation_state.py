"""Durable evaluation state in SQLite (the gateway's database file, its own tables).

An evaluation is its `Evaluation` message without the per-cell rows (state, counts, figures), one
row per cell (`EvaluationRun`), and a gap-free log of progress events. A cell change, the evaluation
it updates and the event that announces it are written in one transaction, so a watcher that
resumes from a seq never misses or repeats a change, and a restarted gateway finds every cell as
it was last announced.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from mleredux.errors import InvalidArgumentError, MleReduxError
from mleredux.v1 import gateway_pb2
from services.gateway.page_tokens import decode_position, encode_position
from services.gateway.state import TableWrite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS evaluations (
    evaluation_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    state INTEGER NOT NULL,
    created_ns INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS evaluations_by_time ON evaluations (created_ns DESC, evaluation_id DESC);
CREATE TABLE IF NOT EXISTS evaluation_cells (
    evaluation_id TEXT NOT NULL,
    seed INTEGER NOT NULL,
    competition_id TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (evaluation_id, seed, competition_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS evaluation_events (
    evaluation_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (evaluation_id, seq)
) WITHOUT ROWID;
"""


class EvaluationNotFoundError(MleReduxError):
    grpc_code = "NOT_FOUND"


class EvaluationDatabase:
    """Reads of evaluations (and their schema); used from the gateway's event loop thread, each call
    short. Every write is statements the gateway's event writer commits in order with the runs':
    `create_write`, `cells_write` and `record_write` below."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def get(self, evaluation_id: str) -> gateway_pb2.Evaluation:
        row = self._db.execute("SELECT data FROM evaluations WHERE evaluation_id = ?", (evaluation_id,)).fetchone()
        if row is None:
            raise EvaluationNotFoundError(f"no evaluation {evaluation_id!r}")
        return gateway_pb2.Evaluation.FromString(row[0])

    def cells(self, evaluation_id: str) -> list[gateway_pb2.EvaluationRun]:
        rows = self._db.execute(
            "SELECT data FROM evaluation_cells WHERE evaluation_id = ? ORDER BY seed, competition_id", (evaluation_id,)
        ).fetchall()
        return [gateway_pb2.EvaluationRun.FromString(r[0]) for r in rows]

    def events_from(self, evaluation_id: str, from_seq: int, limit: int = 500) -> list[gateway_pb2.EvaluationEvent]:
        rows = self._db.execute(
            "SELECT data FROM evaluation_events WHERE evaluation_id = ? AND seq >= ? ORDER BY seq LIMIT ?",
            (evaluation_id, from_seq, limit),
        ).fetchall()
        return [gateway_pb2.EvaluationEvent.FromString(r[0]) for r in rows]

    def page(self, *, page_size: int, page_token: str, owner: str | None) -> tuple[list[gateway_pb2.Evaluation], str]:
        """Newest first; the token is the position after the last evaluation returned."""
        if page_size < 0:
            raise InvalidArgumentError("page_size must not be negative")
        page_size = min(page_size or 50, 1000)
        where, params = ["1=1"], []
        if page_token:
            created, after_id = decode_position(page_token)
            where.append("(created_ns < ? OR (created_ns = ? AND evaluation_id < ?))")
            params += [created, created, after_id]
        if owner is not None:
            where.append("owner = ?")
            params.append(owner)
        rows = self._db.execute(
            f"SELECT created_ns, evaluation_id, data FROM evaluations WHERE {' AND '.join(where)} "
            "ORDER BY created_ns DESC, evaluation_id DESC LIMIT ?",
            (*params, page_size + 1),
        ).fetchall()
        found = [gateway_pb2.Evaluation.FromString(r[2]) for r in rows[:page_size]]
        token = ""
        if len(rows) > page_size:
            last = rows[page_size - 1]
            token = encode_position(last[0], last[1])
        return found, token

    def running(self) -> list[gateway_pb2.Evaluation]:
        rows = self._db.execute(
            "SELECT data FROM evaluations WHERE state = ? ORDER BY created_ns",
            (gateway_pb2.EvaluationState.EVALUATION_STATE_RUNNING,),
        ).fetchall()
        return [gateway_pb2.Evaluation.FromString(r[0]) for r in rows]


def record_write(
    evaluation: gateway_pb2.Evaluation,
    event: gateway_pb2.EvaluationEvent,
    cells: Sequence[gateway_pb2.EvaluationRun] = (),
) -> TableWrite:
    """The statements that save the evaluation (whose last_seq the event advances, checked here),
    the changed cells and the event, with every value serialized now."""
    if event.seq != evaluation.last_seq + 1:
        raise ValueError(
            f"evaluation {evaluation.evaluation_id}: event {event.seq} does not follow {evaluation.last_seq}"
        )
    evaluation.last_seq = event.seq
    evaluation_id = evaluation.evaluation_id
    changed = cells_write(evaluation_id, cells)
    event_row = (evaluation_id, event.seq, event.SerializeToString())
    evaluation_row = (evaluation.state, evaluation.SerializeToString(), evaluation_id)

    def apply(db: sqlite3.Connection) -> None:
        changed.apply(db)
        db.execute("INSERT INTO evaluation_events (evaluation_id, seq, data) VALUES (?, ?, ?)", event_row)
        db.execute("UPDATE evaluations SET state = ?, data = ? WHERE evaluation_id = ?", evaluation_row)

    return TableWrite(apply)


def create_write(evaluation: gateway_pb2.Evaluation, cells: Sequence[gateway_pb2.EvaluationRun]) -> TableWrite:
    """The statements that insert a new evaluation and its cells, with every value serialized now."""
    evaluation_row = (
        evaluation.evaluation_id,
        evaluation.owner,
        evaluation.state,
        evaluation.create_time.ToNanoseconds(),
        evaluation.SerializeToString(),
    )
    cell_rows = [(evaluation.evaluation_id, c.seed, c.competition_id, c.SerializeToString()) for c in cells]

    def apply(db: sqlite3.Connection) -> None:
        db.execute(
            "INSERT INTO evaluations (evaluation_id, owner, state, created_ns, data) VALUES (?, ?, ?, ?, ?)",
            evaluation_row,
        )
        db.executemany(
            "INSERT INTO evaluation_cells (evaluation_id, seed, competition_id, data) VALUES (?, ?, ?, ?)", cell_rows
        )

    return TableWrite(apply)


def cells_write(evaluation_id: str, cells: Sequence[gateway_pb2.EvaluationRun]) -> TableWrite:
    """The statements that save changed cells, with every value serialized now."""
    cell_rows = [(c.SerializeToString(), evaluation_id, c.seed, c.competition_id) for c in cells]

    def apply(db: sqlite3.Connection) -> None:
        db.executemany(
            "UPDATE evaluation_cells SET data = ? WHERE evaluation_id = ? AND seed = ? AND competition_id = ?",
            cell_rows,
        )

    return TableWrite(apply)
