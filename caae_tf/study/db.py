"""The study's SQLite store: participants, answered images and their ratings.

Durability and concurrency
--------------------------
* ``journal_mode=WAL`` (readers never block the writer) and ``synchronous=FULL`` (a commit is on disk
  before :meth:`StudyDB.record_answer` returns, so every answer the server acknowledged with 200 survives a
  SIGKILL of the server, and also a power cut).
* One short-lived connection per call (thread-safe without locks in Python); writers take the write lock
  up front with ``BEGIN IMMEDIATE`` and wait up to ``timeout`` seconds for it (``busy_timeout``).
* One answered image = one transaction: the ``answers`` row and its six ``ratings`` rows are committed
  together or not at all; the participant's ``completed_at`` is set in the same transaction as the last one.
* Constraints repeat the server's validation (Likert 1–5, one answer per participant and image), so even
  a bug upstream cannot store a rating outside the scale or a second answer for the same image.

Participant tokens are stored only as SHA-256 hashes (a copied database does not hand out the
participants' links).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import sqlite3
from typing import Mapping, Sequence

from caae_tf.study import LIKERT_MAX, LIKERT_MIN

SCHEMA_VERSION = "1"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS participants (
    id           INTEGER PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    age          INTEGER NOT NULL CHECK (age BETWEEN 0 AND 150),
    gender       TEXT NOT NULL,
    item_order   TEXT NOT NULL,
    completed_at TEXT
);
CREATE TABLE IF NOT EXISTS answers (
    participant_id INTEGER NOT NULL REFERENCES participants(id),
    item_id        TEXT NOT NULL,
    position       INTEGER NOT NULL,
    answered_at    TEXT NOT NULL,
    PRIMARY KEY (participant_id, item_id),
    UNIQUE (participant_id, position)
);
CREATE TABLE IF NOT EXISTS ratings (
    participant_id INTEGER NOT NULL,
    item_id        TEXT NOT NULL,
    emotion        TEXT NOT NULL,
    likert         INTEGER NOT NULL CHECK (likert BETWEEN {LIKERT_MIN} AND {LIKERT_MAX}),
    PRIMARY KEY (participant_id, item_id, emotion),
    FOREIGN KEY (participant_id, item_id) REFERENCES answers(participant_id, item_id)
);
"""


class StudyDBError(Exception):
    """Base class of the store's refusals (the server maps them to HTTP status codes)."""

    status = 400


class UnknownParticipant(StudyDBError):
    status = 404


class UnknownItem(StudyDBError):
    status = 404


class AnswerConflict(StudyDBError):
    """A different answer for an image already answered, or an answer for an image that is not due."""

    status = 409


class InvalidAnswer(StudyDBError):
    status = 400


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


class StudyDB:
    """A study's ``responses.sqlite`` (module docstring). ``emotions`` = the rated emotions, in order."""

    def __init__(self, path: str | os.PathLike, emotions: Sequence[str], *, study_id: str | None = None,
                 timeout: float = 30.0, synchronous: str = "FULL"):
        if synchronous not in ("FULL", "NORMAL", "OFF"):
            raise ValueError(f"synchronous must be FULL, NORMAL or OFF, got {synchronous!r}")
        self.synchronous = synchronous  # FULL for the server; OFF only for throw-away test databases
        self.path = os.fspath(path)
        self.emotions = tuple(emotions)
        self.timeout = float(timeout)
        self._init(study_id)

    # ------------------------------------------------------------------ connections
    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.row_factory = sqlite3.Row
        return conn

    def _init(self, study_id: str | None) -> None:
        conn = self.connect()
        try:
            conn.executescript(_SCHEMA)  # idempotent (IF NOT EXISTS)
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('emotions', ?)", (json.dumps(self.emotions),))
            if study_id is not None:
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('study_id', ?)", (study_id,))
            conn.execute("COMMIT")
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        finally:
            conn.close()
        if study_id is not None and meta.get("study_id") != study_id:
            raise StudyDBError(f"{self.path}: holds responses of another study "
                               f"(study id {meta.get('study_id')!r}, this study is {study_id!r})")
        if tuple(json.loads(meta["emotions"])) != self.emotions:
            raise StudyDBError(f"{self.path}: rated emotions {json.loads(meta['emotions'])} differ from the "
                               f"study's {list(self.emotions)}")

    # ------------------------------------------------------------------ participants
    def create_participant(self, token: str, *, age: int, gender: str, order: Sequence[str]) -> int:
        conn = self.connect()
        try:
            cur = conn.execute(
                "INSERT INTO participants (token_hash, created_at, age, gender, item_order) VALUES (?,?,?,?,?)",
                (hash_token(token), now_iso(), int(age), str(gender), json.dumps(list(order))),
            )
            return int(cur.lastrowid)
        finally:
            conn.close()

    @staticmethod
    def _participant(conn, token: str) -> dict:
        row = conn.execute("SELECT * FROM participants WHERE token_hash = ?", (hash_token(token),)).fetchone()
        if row is None:
            raise UnknownParticipant("unknown participant")
        out = dict(row)
        out["order"] = json.loads(out.pop("item_order"))
        return out

    def state(self, token: str) -> dict:
        """``{"id", "order", "answered": [item ids in position order], "next": item id or None,
        "position": index of next (or len), "total", "completed_at"}``."""
        conn = self.connect()
        try:
            conn.execute("BEGIN")
            p = self._participant(conn, token)
            answered = [r[0] for r in conn.execute(
                "SELECT item_id FROM answers WHERE participant_id = ? ORDER BY position", (p["id"],))]
            conn.execute("COMMIT")
        finally:
            conn.close()
        done = set(answered)
        nxt = next((i for i in p["order"] if i not in done), None)
        return {
            "id": p["id"], "order": p["order"], "answered": answered, "next": nxt,
            "position": p["order"].index(nxt) if nxt is not None else len(p["order"]),
            "total": len(p["order"]), "completed_at": p["completed_at"],
        }

    # ------------------------------------------------------------------ answers
    def record_answer(self, token: str, item_id: str, ratings: Mapping[str, int]) -> dict:
        """Store one answered image in one transaction; returns ``{"stored": bool, "position", "done"}``.

        The image must be the participant's next unanswered one. Re-sending the identical answer for an
        image already stored (a retry after a lost response) is accepted and stores nothing
        (``stored: False``); a different answer for it raises :class:`AnswerConflict`.
        """
        ratings = self.check_ratings(ratings)
        conn = self.connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                p = self._participant(conn, token)
                order = p["order"]
                if item_id not in order:
                    raise UnknownItem("unknown image")
                prev = conn.execute(
                    "SELECT emotion, likert FROM ratings WHERE participant_id = ? AND item_id = ?",
                    (p["id"], item_id)).fetchall()
                if prev:
                    if {e: int(v) for e, v in prev} != ratings:
                        raise AnswerConflict("this image was already answered differently")
                    conn.execute("ROLLBACK")
                    done = p["completed_at"] is not None
                    return {"stored": False, "position": order.index(item_id), "done": done}
                answered = {r[0] for r in conn.execute(
                    "SELECT item_id FROM answers WHERE participant_id = ?", (p["id"],))}
                nxt = next((i for i in order if i not in answered), None)
                if item_id != nxt:
                    raise AnswerConflict("this image is not the one due next")
                position = order.index(item_id)
                stamp = now_iso()
                conn.execute("INSERT INTO answers VALUES (?,?,?,?)", (p["id"], item_id, position, stamp))
                conn.executemany("INSERT INTO ratings VALUES (?,?,?,?)",
                                 [(p["id"], item_id, e, ratings[e]) for e in self.emotions])
                done = len(answered) + 1 == len(order)
                if done:
                    conn.execute("UPDATE participants SET completed_at = ? WHERE id = ?", (stamp, p["id"]))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()
        return {"stored": True, "position": position, "done": done}

    def check_ratings(self, ratings: Mapping[str, int]) -> dict[str, int]:
        """Exactly one integer rating in [1, 5] per study emotion (bools and floats refused)."""
        if not isinstance(ratings, Mapping):
            raise InvalidAnswer("ratings must map each emotion to a rating")
        extra = sorted(set(ratings) - set(self.emotions))
        missing = [e for e in self.emotions if e not in ratings]
        if extra or missing:
            raise InvalidAnswer(f"ratings needed for exactly {', '.join(self.emotions)}"
                                + (f"; unknown: {', '.join(map(str, extra))}" if extra else "")
                                + (f"; missing: {', '.join(missing)}" if missing else ""))
        out = {}
        for e in self.emotions:
            v = ratings[e]
            if isinstance(v, str) and v.strip().isdigit():
                v = int(v.strip())
            if isinstance(v, bool) or not isinstance(v, int) or not LIKERT_MIN <= v <= LIKERT_MAX:
                raise InvalidAnswer(f"rating for {e} must be an integer {LIKERT_MIN}..{LIKERT_MAX}")
            out[e] = int(v)
        return out

    # ------------------------------------------------------------------ researcher views
    def counts(self) -> dict:
        conn = self.connect()
        try:
            conn.execute("BEGIN")
            out = {
                "participants": conn.execute("SELECT COUNT(*) FROM participants").fetchone()[0],
                "completed": conn.execute(
                    "SELECT COUNT(*) FROM participants WHERE completed_at IS NOT NULL").fetchone()[0],
                "answers": conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0],
                "ratings": conn.execute("SELECT COUNT(*) FROM ratings").fetchone()[0],
            }
            conn.execute("COMMIT")
            return out
        finally:
            conn.close()

    def progress(self) -> list[dict]:
        """One row per participant: id, created/completed times, age, gender, answered, total."""
        conn = self.connect()
        try:
            rows = conn.execute(
                "SELECT p.id, p.created_at, p.completed_at, p.age, p.gender, p.item_order, "
                "(SELECT COUNT(*) FROM answers a WHERE a.participant_id = p.id) AS answered "
                "FROM participants p ORDER BY p.id").fetchall()
        finally:
            conn.close()
        out = []
        for r in rows:
            d = dict(r)
            d["total"] = len(json.loads(d.pop("item_order")))
            out.append(d)
        return out

    def ratings(self) -> list[dict]:
        """Every stored rating joined with its participant: participant, age, gender, completed, item_id,
        position, answered_at, emotion (the rated one), likert."""
        conn = self.connect()
        try:
            rows = conn.execute(
                "SELECT r.participant_id AS participant, p.age, p.gender, "
                "p.completed_at IS NOT NULL AS completed, r.item_id, a.position, a.answered_at, "
                "r.emotion, r.likert FROM ratings r "
                "JOIN answers a ON a.participant_id = r.participant_id AND a.item_id = r.item_id "
                "JOIN participants p ON p.id = r.participant_id "
                "ORDER BY r.participant_id, a.position").fetchall()
        finally:
            conn.close()
        order = {e: i for i, e in enumerate(self.emotions)}
        out = [dict(r) for r in rows]
        out.sort(key=lambda d: (d["participant"], d["position"], order.get(d["emotion"], 99)))
        for d in out:
            d["completed"] = bool(d["completed"])
        return out

    def answered_items(self, participant_id: int) -> list[str]:
        conn = self.connect()
        try:
            return [r[0] for r in conn.execute(
                "SELECT item_id FROM answers WHERE participant_id = ? ORDER BY position", (participant_id,))]
        finally:
            conn.close()

    def journal_mode(self) -> str:
        conn = self.connect()
        try:
            return str(conn.execute("PRAGMA journal_mode").fetchone()[0])
        finally:
            conn.close()

