"""Users and API tokens: who is calling, and what they may see.

A token is `mlx_<id>_<secret>`: the id is public (listing, revoking), the secret is 32 random bytes.
Only the SHA-256 of the whole token is stored. A slow password hash would add nothing: the secret is
random and long, so there is no dictionary to slow down, and every RPC checks a token.

Authorisation is ownership: a user sees and controls their own runs; an admin sees all. A run that
belongs to someone else answers exactly as a run that does not exist (NOT_FOUND), so ids cannot be
probed.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.timestamp_pb2 import Timestamp

from mleredux.errors import InvalidArgumentError, PermissionDeniedError, UnauthenticatedError
from mleredux.v1 import gateway_pb2

TOKEN_PREFIX = "mlx_"
_TOKEN_RE = re.compile(r"^mlx_([0-9a-f]{12})_[A-Za-z0-9_-]{20,}$")
_USER_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
#: The user the first token of a fresh gateway belongs to.
BOOTSTRAP_USER = "admin"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    user TEXT PRIMARY KEY,
    admin INTEGER NOT NULL,
    created_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    token_id TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES users(user),
    name TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_ns INTEGER NOT NULL,
    revoked_ns INTEGER
);
"""


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    user: str
    admin: bool
    token_id: str

    def may_see(self, owner: str) -> bool:
        return self.admin or owner == self.user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _timestamp(ns: int | None) -> Timestamp | None:
    if ns is None:
        return None
    stamp = Timestamp()
    stamp.FromNanoseconds(ns)
    return stamp


def bearer_token(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The token of an `authorization: Bearer <token>` header, or None when there is none."""
    for key, value in metadata or ():
        if key.lower() != "authorization":
            continue
        text = value.decode() if isinstance(value, bytes) else value
        scheme, _, token = text.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthenticatedError("the authorization header must be `Bearer <token>`")
        return token.strip()
    return None


class TokenStore:
    """Users and hashed tokens in the gateway's SQLite database. Valid tokens once looked up are
    remembered (at most `REMEMBERED_TOKENS`), so that a call's authentication reads no database on
    the event loop; any change to tokens or users forgets them all. This store is the only writer
    of those tables."""

    #: Valid tokens remembered; past it the memory starts again empty (unknown tokens are never kept).
    REMEMBERED_TOKENS = 4096

    def __init__(self, path: Path) -> None:
        self._known: dict[str, Principal] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        # The gateway's other connections (events, compaction, pruning) write the same file: wait for them.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def is_empty(self) -> bool:
        return self._db.execute("SELECT COUNT(*) FROM tokens").fetchone()[0] == 0

    def authenticate(self, token: str | None) -> Principal:
        """The caller a token belongs to; UnauthenticatedError for a missing, unknown or revoked token."""
        if not token:
            raise UnauthenticatedError(
                "no API token: send `authorization: Bearer <token>` (the CLI: `mleredux login --token ...`)"
            )
        if not _TOKEN_RE.match(token):
            raise UnauthenticatedError("the API token is malformed (tokens look like mlx_<id>_<secret>)")
        digest = _digest(token)
        known = self._known.get(digest)
        if known is not None:
            return known
        row = self._db.execute(
            "SELECT t.token_id, t.user, u.admin, t.revoked_ns FROM tokens t JOIN users u ON u.user = t.user "
            "WHERE t.token_sha256 = ?",
            (digest,),
        ).fetchone()
        if row is None:
            raise UnauthenticatedError("the API token is not valid on this gateway")
        token_id, user, admin, revoked = row
        if revoked is not None:
            raise UnauthenticatedError(f"the API token {token_id} has been revoked")
        if len(self._known) >= self.REMEMBERED_TOKENS:
            self._known.clear()
        principal = self._known[digest] = Principal(user=user, admin=bool(admin), token_id=token_id)
        return principal

    def create(
        self, user: str, name: str = "", *, admin: bool = False, caller: Principal | None = None
    ) -> tuple[str, gateway_pb2.ApiToken]:
        """A new token (the secret, and its record). `caller` None is the gateway itself (bootstrap)."""
        if caller is not None:
            user = user or caller.user
            if user != caller.user and not caller.admin:
                raise PermissionDeniedError("only an admin can create tokens for another user")
            if admin and not caller.admin:
                raise PermissionDeniedError("only an admin can create admin tokens")
        if not _USER_RE.match(user):
            raise InvalidArgumentError(
                f"user {user!r} is not a valid user name (lowercase letters, digits and . _ @ -, at most 64)"
            )
        if len(name) > 100:
            raise InvalidArgumentError("name must be at most 100 characters")
        token_id = secrets.token_hex(6)
        token = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        now = time.time_ns()
        self._known.clear()  # the user may become an admin
        with self._db:
            # IMMEDIATE: a read that turns into a write fails at once (not after the busy timeout) when
            # another connection wrote in between; taking the write lock first waits instead.
            self._db.execute("BEGIN IMMEDIATE")
            existing = self._db.execute("SELECT admin FROM users WHERE user = ?", (user,)).fetchone()
            if existing is None:
                self._db.execute(
                    "INSERT INTO users (user, admin, created_ns) VALUES (?, ?, ?)", (user, int(admin), now)
                )
            elif admin and not existing[0]:
                self._db.execute("UPDATE users SET admin = 1 WHERE user = ?", (user,))
            self._db.execute(
                "INSERT INTO tokens (token_id, user, name, token_sha256, created_ns) VALUES (?, ?, ?, ?, ?)",
                (token_id, user, name, _digest(token), now),
            )
        return token, self.get(token_id)

    def get(self, token_id: str) -> gateway_pb2.ApiToken:
        row = self._db.execute(
            "SELECT t.token_id, t.user, t.name, u.admin, t.created_ns, t.revoked_ns FROM tokens t "
            "JOIN users u ON u.user = t.user WHERE t.token_id = ?",
            (token_id,),
        ).fetchone()
        if row is None:
            raise InvalidArgumentError(f"no token {token_id!r}")
        return self._record(row)

    @staticmethod
    def _record(row: tuple[str, str, str, int, int, int | None]) -> gateway_pb2.ApiToken:
        token_id, user, name, admin, created, revoked = row
        return gateway_pb2.ApiToken(
            token_id=token_id,
            user=user,
            name=name,
            admin=bool(admin),
            create_time=_timestamp(created),
            revoke_time=_timestamp(revoked),
        )

    def list(self, caller: Principal, user: str = "") -> list[gateway_pb2.ApiToken]:
        user = user or caller.user
        if user != caller.user and not caller.admin:
            raise PermissionDeniedError("only an admin can list another user's tokens")
        query = (
            "SELECT t.token_id, t.user, t.name, u.admin, t.created_ns, t.revoked_ns FROM tokens t "
            "JOIN users u ON u.user = t.user"
        )
        if user == "*":
            rows = self._db.execute(query + " ORDER BY t.created_ns").fetchall()
        else:
            rows = self._db.execute(query + " WHERE t.user = ? ORDER BY t.created_ns", (user,)).fetchall()
        return [self._record(r) for r in rows]

    def revoke(self, caller: Principal, token_id: str) -> gateway_pb2.ApiToken:
        record = self.get(token_id)
        if record.user != caller.user and not caller.admin:
            # Someone else's token answers like an unknown one.
            raise InvalidArgumentError(f"no token {token_id!r}")
        if not record.HasField("revoke_time"):
            self._known.clear()  # before the write: no call after this one is let in with the token
            self._db.execute("UPDATE tokens SET revoked_ns = ? WHERE token_id = ?", (time.time_ns(), token_id))
        return self.get(token_id)

    def bootstrap(self, token_file: Path) -> str | None:
        """On a gateway with no token at all, create an admin token and write it (mode 0600) to `token_file`.

        Returns the token when one was created. The file is how the person who started the gateway
        (or `mleredux up` on one machine) gets in for the first time.
        """
        if not self.is_empty():
            return None
        token, _ = self.create(BOOTSTRAP_USER, "bootstrap", admin=True)
        token_file.parent.mkdir(parents=True, exist_ok=True)
        temp = token_file.with_suffix(".tmp")
        temp.touch(mode=0o600)
        temp.chmod(0o600)
        temp.write_text(token + "\n")
        temp.replace(token_file)
        return token
