"""A persistent, ordered outbox of MQTT messages: one sqlite3 file.

Each ``put`` is one committed transaction (``synchronous=FULL``), so a message that ``put``
returned for survives a crash of this process; a message leaves only through ``remove``, which
the publisher calls after the broker's PUBACK. Messages come back from ``pending`` in the order
they were put (a strictly increasing ``seq``). A new :class:`Outbox` on the same path (a process
restart) sees every message that was not removed.

One process per outbox: an :class:`Outbox` holds an exclusive lock on ``<path>.lock`` (with
its pid in it) until :meth:`Outbox.close`; a second one is refused with the holder's pid. The
kernel drops the lock when the holder dies, so a crash never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from tinyfuse.core.errors import DataError

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_s REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
)
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One queued message: its order ``seq``, MQTT topic and JSON payload text."""

    seq: int
    topic: str
    payload: str
    created_s: float
    attempts: int


class Outbox:
    """The on-disk queue at ``path`` (a sqlite3 file, created with its folder if absent)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"{self.path}: cannot open the alert outbox: {exc}") from exc
        self._take_lock()
        try:
            self._db = sqlite3.connect(str(self.path), check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
        except (OSError, sqlite3.DatabaseError) as exc:
            self._release_lock()
            raise DataError(f"{self.path}: cannot open the alert outbox: {exc}") from exc
        self._lock = threading.Lock()

    def _take_lock(self) -> None:
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise DataError(f"{lock_path}: cannot create the outbox lock: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise DataError(f"{self.path}: the outbox is in use by another process (pid "
                            f"{holder}); one process per outbox (pass another --outbox)") \
                from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def _release_lock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __del__(self) -> None:  # an outbox dropped without close() frees its lock
        self._release_lock()

    def put(self, topic: str, payload: str, *, created_s: float) -> int:
        """Queue one message durably; returns its ``seq``."""
        with self._lock, self._db:
            cursor = self._db.execute(
                "INSERT INTO outbox (topic, payload, created_s) VALUES (?, ?, ?)",
                (topic, payload, float(created_s)))
            return int(cursor.lastrowid or 0)

    def pending(self, *, limit: int = 1000) -> list[Message]:
        """The oldest ``limit`` messages, in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload, created_s, attempts FROM outbox ORDER BY seq "
                "LIMIT ?", (int(limit),)).fetchall()
        return [Message(seq=r[0], topic=r[1], payload=r[2], created_s=r[3], attempts=r[4])
                for r in rows]

    def mark_attempt(self, seq: int) -> None:
        with self._lock, self._db:
            self._db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?", (seq,))

    def remove(self, seq: int) -> None:
        """Delete a message the broker acknowledged."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM outbox WHERE seq = ?", (int(seq),))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._release_lock()
