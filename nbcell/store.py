"""The batch job's memory: one SQLite row per cell in ``out/nbcell.sqlite``.

A row is written when a cell starts (status ``running``, ``attempts`` + 1) and
again when it ends (its ``CellResult`` as JSON). WAL mode and one transaction
per write: a job killed at any moment (``kill -9`` included) leaves every
finished cell on disk, and a rerun skips the cells whose inputs hash (``key``)
still matches. Sharded runs (``shard_count`` > 1) each keep their own file
(``nbcell.shard-<i>-of-<n>.sqlite``) so that no two processes, possibly on
different machines of a shared file system, ever write one SQLite file.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cells (
    name      TEXT PRIMARY KEY,
    library   TEXT NOT NULL,
    key       TEXT NOT NULL,      -- hash of the cell's inputs (netlist, processes, policy, seed, sizing)
    status    TEXT NOT NULL,      -- running | clean | drc | lvs | failed | timeout
    drawn     INTEGER NOT NULL DEFAULT 0,  -- per-cell GDS/LEF/CDL written: part of the library files
    result    TEXT,               -- the CellResult as JSON, once finished
    timeout_s REAL,               -- cell_timeout in force when it ran (s)
    attempts  INTEGER NOT NULL DEFAULT 0,
    started   REAL,               -- Unix time (s) of the last attempt's start
    finished  REAL                -- Unix time (s) of the last attempt's end
)"""


@dataclass
class Row:
    """One cell's stored state."""

    name: str
    library: str
    key: str
    status: str
    drawn: bool
    result: dict | None
    timeout_s: float | None
    attempts: int
    started: float | None
    finished: float | None
    store: str = ""  # the store file it was read from

    def reusable(self, key: str, cell_timeout: float | None) -> bool:
        """True when this finished row answers a run with these inputs: same key, and a timeout
        only stands while the new limit is no longer than the one it ran under."""
        if self.key != key or self.status == "running" or self.result is None:
            return False
        if self.status == "timeout":
            return cell_timeout is not None and self.timeout_s is not None and cell_timeout <= self.timeout_s
        return True


def store_path(out: Path, shard_index: int = 0, shard_count: int = 1) -> Path:
    """The store file of a run (one per shard)."""
    if shard_count > 1:
        return out / f"nbcell.shard-{shard_index}-of-{shard_count}.sqlite"
    return out / "nbcell.sqlite"


def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, timeout=60, isolation_level=None)  # autocommit: each statement is durable
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process (not a power cut)
    con.row_factory = sqlite3.Row
    return con


def _row(r: sqlite3.Row, store: Path) -> Row:
    return Row(r["name"], r["library"], r["key"], r["status"], bool(r["drawn"]),
               json.loads(r["result"]) if r["result"] else None, r["timeout_s"], r["attempts"], r["started"],
               r["finished"], str(store))


class Store:
    """Read and write a run's store; ``rows()`` also sees the other shards' stores in ``out``."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = _connect(self.path)
        self.con.execute(_SCHEMA)

    def close(self) -> None:
        self.con.close()

    def rows(self) -> dict[str, list[Row]]:
        """Stored rows by cell name: this store's first, then the finished rows of sibling stores
        (the other shards writing into the same out folder)."""
        rows: dict[str, list[Row]] = {}
        for r in self.con.execute("SELECT * FROM cells"):
            rows.setdefault(r["name"], []).append(_row(r, self.path))
        for other in sorted(self.path.parent.glob("nbcell*.sqlite")):
            if other == self.path:
                continue
            con = _connect(other)
            try:
                for r in con.execute("SELECT * FROM cells WHERE status != 'running'"):
                    rows.setdefault(r["name"], []).append(_row(r, other))
            except sqlite3.DatabaseError:
                pass  # a sibling that is not a store (or still empty) has nothing to give
            finally:
                con.close()
        return rows

    def start(self, name: str, library: str, key: str) -> int:
        """Mark ``name`` running; returns its attempt number (1 for a new key)."""
        self.con.execute(
            "INSERT INTO cells(name, library, key, status, attempts, started) VALUES (?, ?, ?, 'running', 1, ?) "
            "ON CONFLICT(name) DO UPDATE SET library=excluded.library, status='running', result=NULL, drawn=0, "
            "finished=NULL, started=excluded.started, "
            "attempts=CASE WHEN key=excluded.key THEN attempts + 1 ELSE 1 END, key=excluded.key",
            (name, library, key, time.time()))
        return self.con.execute("SELECT attempts FROM cells WHERE name=?", (name,)).fetchone()[0]

    def finish(self, name: str, library: str, key: str, result: dict, drawn: bool,
               timeout_s: float | None) -> None:
        """Store a finished cell (also one taken over from a sibling store)."""
        self.con.execute(
            "INSERT INTO cells(name, library, key, status, drawn, result, timeout_s, attempts, finished) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT(name) DO UPDATE SET library=excluded.library, "
            "key=excluded.key, status=excluded.status, drawn=excluded.drawn, result=excluded.result, "
            "timeout_s=excluded.timeout_s, finished=excluded.finished",
            (name, library, key, result["status"], int(drawn), json.dumps(result, sort_keys=True), timeout_s,
             time.time()))

    def adopt(self, row: Row) -> None:
        """Copy a finished row from a sibling store, keeping its times and attempt count."""
        self.con.execute(
            "INSERT OR REPLACE INTO cells(name, library, key, status, drawn, result, timeout_s, attempts, started, "
            "finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row.name, row.library, row.key, row.status, int(row.drawn), json.dumps(row.result, sort_keys=True),
             row.timeout_s, row.attempts, row.started, row.finished))
