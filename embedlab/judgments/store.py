"""Experiments, pools and judgments kept in one SQLite database (WAL, one transaction per change),
safe for several sessions and processes."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedlab.judgments.base import GRADES, LLM, PERSON, JudgeError
from embedlab.judgments.configs import JudgeConfig
from embedlab.judgments.pools import Experiment, PoolBuild, PoolItem
from embedlab.messages import N_, Message

DB_FILE = "judgments.sqlite"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    collection TEXT NOT NULL, name TEXT NOT NULL, k INTEGER NOT NULL, configs TEXT NOT NULL,
    model TEXT NOT NULL, seed INTEGER NOT NULL, notes TEXT NOT NULL DEFAULT '[]', created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS experiment_queries (
    experiment INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    position INTEGER NOT NULL, query TEXT NOT NULL, PRIMARY KEY (experiment, position));
CREATE TABLE IF NOT EXISTS pool (
    experiment INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    query TEXT NOT NULL, chunk TEXT NOT NULL, position INTEGER NOT NULL, chunk_id TEXT NOT NULL,
    source TEXT NOT NULL, text TEXT NOT NULL, before TEXT NOT NULL, after TEXT NOT NULL,
    PRIMARY KEY (experiment, query, chunk));
CREATE TABLE IF NOT EXISTS runs (
    experiment INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    config INTEGER NOT NULL, query TEXT NOT NULL, rank INTEGER NOT NULL, chunk TEXT NOT NULL, score REAL NOT NULL,
    PRIMARY KEY (experiment, config, query, rank));
CREATE TABLE IF NOT EXISTS judgments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    collection TEXT NOT NULL, query TEXT NOT NULL, chunk TEXT NOT NULL, rater TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('person', 'llm')), grade INTEGER NOT NULL CHECK (grade IN (0, 1, 2)),
    created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS judgments_pair ON judgments (collection, query, chunk);
CREATE INDEX IF NOT EXISTS judgments_rater ON judgments (collection, rater, id);
CREATE TABLE IF NOT EXISTS llm_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    collection TEXT NOT NULL, query TEXT NOT NULL, chunk TEXT NOT NULL, rater TEXT NOT NULL, model TEXT NOT NULL,
    prompt TEXT NOT NULL, answer TEXT NOT NULL, grade INTEGER, error TEXT NOT NULL DEFAULT '',
    judgment INTEGER REFERENCES judgments(id) ON DELETE SET NULL, created_at TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Judgment:
    """A rater's current grade of one (query, chunk) pair of a collection."""

    collection: str
    query: str
    chunk: str
    rater: str
    kind: str  # PERSON or LLM
    grade: int
    created_at: str
    id: int = 0


@dataclass(frozen=True)
class LLMCall:
    """One request to the LLM judge: the prompt sent, the raw answer, the grade read from it."""

    query: str
    chunk: str
    rater: str
    model: str
    prompt: str
    answer: str
    grade: int | None
    error: str = ""


class JudgmentStore:
    """Experiments, pools and judgments in one SQLite file, safe for several sessions and processes.

    Each call opens its own connection (WAL mode, 30 s busy timeout) and writes in one
    `BEGIN IMMEDIATE` transaction, so concurrent writers wait for each other instead of failing or
    overwriting, and a crash leaves either the whole change or none of it.
    """

    def __init__(self, path: str | Path, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._write() as conn:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)

    @classmethod
    def in_data_dir(cls, data_dir: str | Path) -> JudgmentStore:
        return cls(Path(data_dir) / DB_FILE)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back when it raises."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    # experiments ---------------------------------------------------------------------------
    def save_experiment(self, build: PoolBuild, name: str = "") -> Experiment:
        """Store an experiment with its queries, pools and runs (one transaction); returns it."""
        created = _now()
        with self._write() as conn:
            if not name.strip():
                count = conn.execute("SELECT COUNT(*) FROM experiments WHERE collection = ?",
                                     (build.collection,)).fetchone()[0]
                name = f"Experiment {count + 1}"
            cur = conn.execute(
                "INSERT INTO experiments (collection, name, k, configs, model, seed, notes, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (build.collection, name.strip(), build.k, json.dumps([c.to_dict() for c in build.configs]),
                 build.model, build.seed, json.dumps([{"msgid": n.msgid, "params": n.params} for n in build.notes]), created))
            exp_id = int(cur.lastrowid)
            conn.executemany("INSERT INTO experiment_queries VALUES (?, ?, ?)",
                             [(exp_id, i, q) for i, q in enumerate(build.queries)])
            conn.executemany("INSERT INTO pool VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             [(exp_id, it.query, it.chunk, it.position, it.chunk_id, it.source, it.text, it.before,
                               it.after) for it in build.items])
            conn.executemany("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                             [(exp_id, c, q, rank, key, score) for c, run in enumerate(build.runs)
                              for q, top in run.items() for rank, (key, score) in enumerate(top, start=1)])
        return self.experiment(exp_id)

    _EXPERIMENT = "SELECT id, collection, name, k, configs, model, created_at, seed FROM experiments"

    def experiments(self, collection: str | None = None) -> list[Experiment]:
        """Saved experiments (of one collection when given), newest first."""
        where, args = (" WHERE collection = ?", (collection,)) if collection is not None else ("", ())
        with self._read() as conn:
            rows = conn.execute(f"{self._EXPERIMENT}{where} ORDER BY id DESC", args).fetchall()
            queries: dict[int, list[str]] = {row[0]: [] for row in rows}
            for exp_id, query in conn.execute(
                    "SELECT q.experiment, q.query FROM experiment_queries q JOIN experiments e ON e.id = q.experiment"
                    f"{where.replace('collection', 'e.collection')} ORDER BY q.experiment, q.position", args):
                queries[exp_id].append(query)
        return [self._experiment(row, queries[row[0]]) for row in rows]

    def experiment(self, exp_id: int) -> Experiment:
        """The experiment `exp_id`; JudgeError when there is none."""
        with self._read() as conn:
            row = conn.execute(f"{self._EXPERIMENT} WHERE id = ?", (int(exp_id),)).fetchone()
            if row is None:
                raise JudgeError(N_("There is no experiment #{id}."), id=exp_id)
            queries = [r[0] for r in conn.execute(
                "SELECT query FROM experiment_queries WHERE experiment = ? ORDER BY position", (int(exp_id),))]
        return self._experiment(row, queries)

    @staticmethod
    def _experiment(row: Sequence[Any], queries: Sequence[str]) -> Experiment:
        configs = tuple(JudgeConfig.from_dict(c) for c in json.loads(row[4]))
        return Experiment(row[0], row[1], row[2], row[3], configs, tuple(queries), row[5], row[6], row[7])

    def notes(self, exp_id: int) -> list[Message]:
        """The sentences about the experiment's inputs, to be translated where shown."""
        with self._read() as conn:
            row = conn.execute("SELECT notes FROM experiments WHERE id = ?", (int(exp_id),)).fetchone()
        # Older experiments stored their notes as English text.
        return [Message(n["msgid"], n["params"]) if isinstance(n, dict) else Message("{text}", {"text": n})
                for n in (json.loads(row[0]) if row else [])]

    def delete_experiment(self, exp_id: int) -> None:
        """Remove an experiment, its pools and runs; judgments stay (they belong to the collection)."""
        with self._write() as conn:
            conn.execute("DELETE FROM experiments WHERE id = ?", (int(exp_id),))

    def pool(self, exp_id: int) -> list[PoolItem]:
        """The experiment's pooled chunks, query by query (in the experiment's order), each query's
        chunks in their blind order."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT p.query, p.chunk, p.position, p.chunk_id, p.source, p.text, p.before, p.after "
                "FROM pool p JOIN experiment_queries q ON q.experiment = p.experiment AND q.query = p.query "
                "WHERE p.experiment = ? ORDER BY q.position, p.position", (int(exp_id),)).fetchall()
        return [PoolItem(*r) for r in rows]

    def runs(self, exp_id: int) -> list[dict[str, list[str]]]:
        """runs[c][query]: configuration c's top k chunk keys, best first."""
        exp = self.experiment(exp_id)
        out: list[dict[str, list[str]]] = [{q: [] for q in exp.queries} for _ in exp.configs]
        with self._read() as conn:
            for c, q, key in conn.execute("SELECT config, query, chunk FROM runs WHERE experiment = ? "
                                          "ORDER BY config, query, rank", (int(exp_id),)):
                out[c][q].append(key)
        return out

    def chunk_texts(self, collection: str) -> dict[str, str]:
        """Chunk key -> text of every chunk pooled in any experiment of the collection."""
        with self._read() as conn:
            rows = conn.execute("SELECT p.chunk, p.text FROM pool p JOIN experiments e ON e.id = p.experiment "
                                "WHERE e.collection = ?", (collection,)).fetchall()
        return dict(rows)

    # judgments -----------------------------------------------------------------------------
    def judge(self, collection: str, query: str, chunk: str, rater: str, grade: int, kind: str = PERSON) -> Judgment:
        """Record `rater`'s grade of the pair (their latest grade is the one that counts)."""
        if grade not in GRADES:
            raise JudgeError(N_("A grade is 0, 1 or 2, got {grade}."), grade=repr(grade))
        if kind not in (PERSON, LLM):
            raise JudgeError(N_("Unknown kind of rater {kind}."), kind=repr(kind))
        created = _now()
        with self._write() as conn:
            cur = conn.execute("INSERT INTO judgments (collection, query, chunk, rater, kind, grade, created_at) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?)", (collection, query, chunk, rater, kind, int(grade), created))
            row_id = int(cur.lastrowid)
        return Judgment(collection, query, chunk, rater, kind, int(grade), created, row_id)

    def undo(self, collection: str, rater: str) -> Judgment | None:
        """Delete `rater`'s latest judgment in the collection (an earlier grade of the same pair,
        if any, counts again); returns it, or None when the rater has none."""
        with self._write() as conn:
            row = conn.execute("SELECT id, collection, query, chunk, rater, kind, grade, created_at FROM judgments "
                               "WHERE collection = ? AND rater = ? ORDER BY id DESC LIMIT 1",
                               (collection, rater)).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM judgments WHERE id = ?", (row[0],))
        return Judgment(*row[1:], id=row[0])

    def judgments(self, collection: str, queries: Sequence[str] | None = None) -> list[Judgment]:
        """Every rater's current grade of each pair in the collection (of `queries` when given)."""
        sql = ("SELECT j.collection, j.query, j.chunk, j.rater, j.kind, j.grade, j.created_at, j.id FROM judgments j "
               "JOIN (SELECT MAX(id) AS id FROM judgments WHERE collection = ? GROUP BY query, chunk, rater) last "
               "ON last.id = j.id ORDER BY j.id")
        with self._read() as conn:
            rows = conn.execute(sql, (collection,)).fetchall()
        wanted = None if queries is None else set(queries)
        return [Judgment(*r) for r in rows if wanted is None or r[1] in wanted]

    def history_count(self, collection: str) -> int:
        """Judgment rows ever kept for the collection (re-judgments included)."""
        with self._read() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM judgments WHERE collection = ?", (collection,)).fetchone()[0])

    def import_grades(self, collection: str, rows: Sequence[tuple[str, str, int]], rater: str,
                      kind: str = PERSON) -> int:
        """Record many (query, chunk, grade) of one rater in one transaction; returns how many."""
        created = _now()
        for _, _, grade in rows:
            if grade not in GRADES:
                raise JudgeError(N_("A grade is 0, 1 or 2, got {grade}."), grade=repr(grade))
        with self._write() as conn:
            conn.executemany("INSERT INTO judgments (collection, query, chunk, rater, kind, grade, created_at) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)",
                             [(collection, q, c, rater, kind, int(g), created) for q, c, g in rows])
        return len(rows)

    def record_llm(self, collection: str, call: LLMCall) -> None:
        """Keep an LLM judge's request and answer; its grade (when one was read) becomes a judgment
        of the rater `call.rater`, in the same transaction."""
        created = _now()
        with self._write() as conn:
            judgment = None
            if call.grade is not None:
                judgment = conn.execute(
                    "INSERT INTO judgments (collection, query, chunk, rater, kind, grade, created_at) "
                    "VALUES (?, ?, ?, ?, 'llm', ?, ?)",
                    (collection, call.query, call.chunk, call.rater, int(call.grade), created)).lastrowid
            conn.execute("INSERT INTO llm_calls (collection, query, chunk, rater, model, prompt, answer, grade, error, "
                         "judgment, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (collection, call.query, call.chunk, call.rater, call.model, call.prompt, call.answer,
                          call.grade, call.error, judgment, created))

    def llm_calls(self, collection: str) -> list[LLMCall]:
        """Every kept LLM judge request of the collection, oldest first."""
        with self._read() as conn:
            rows = conn.execute("SELECT query, chunk, rater, model, prompt, answer, grade, error FROM llm_calls "
                                "WHERE collection = ? ORDER BY id", (collection,)).fetchall()
        return [LLMCall(*r) for r in rows]
