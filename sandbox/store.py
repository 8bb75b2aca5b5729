"""SQLite state of the sandbox: every directory object, mailbox and setting is a JSON document.

A restart keeps what earlier runs did. One connection guarded by a lock: the sandbox serves a few
clients at a time, and whole read-modify-write steps must be atomic (see `transaction`)."""
import contextlib
import json
import sqlite3
import threading
import time

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    data TEXT NOT NULL,
    created REAL NOT NULL,
    visible_at REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, kind, id)
);
CREATE INDEX IF NOT EXISTS objects_kind ON objects (tenant, kind, created);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Store:
    def __init__(self, path):
        self.path = path
        self.lock = threading.RLock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._depth = 0

    @contextlib.contextmanager
    def transaction(self):
        """Atomic block; nests (only the outermost level commits)."""
        with self.lock:
            if self._depth == 0:
                self.db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self.db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if self._depth == 0:
                self.db.execute("COMMIT")

    # --- objects -------------------------------------------------------------------------------
    def get(self, tenant, kind, obj_id, include_invisible=False):
        with self.lock:
            row = self.db.execute(
                "SELECT data, visible_at FROM objects WHERE tenant=? AND kind=? AND id=?",
                (tenant, kind, obj_id)).fetchone()
        if row is None or (not include_invisible and row[1] > time.time()):
            return None
        return json.loads(row[0])

    def list(self, tenant, kind, include_invisible=False):
        with self.lock:
            rows = self.db.execute(
                "SELECT data, visible_at FROM objects WHERE tenant=? AND kind=? ORDER BY created, rowid",
                (tenant, kind)).fetchall()
        now = time.time()
        return [json.loads(data) for data, visible_at in rows if include_invisible or visible_at <= now]

    def find(self, tenant, kind, include_invisible=False, **equals):
        return [obj for obj in self.list(tenant, kind, include_invisible)
                if all(obj.get(key) == value for key, value in equals.items())]

    def find_one(self, tenant, kind, include_invisible=False, **equals):
        found = self.find(tenant, kind, include_invisible, **equals)
        return found[0] if found else None

    def put(self, tenant, kind, obj, visible_at=None):
        """Insert or replace; a replace keeps the creation time and visibility of the original."""
        with self.lock:
            row = self.db.execute("SELECT created, visible_at FROM objects WHERE tenant=? AND kind=? AND id=?",
                                  (tenant, kind, obj["id"])).fetchone()
            if row:
                created, visible = row
                if visible_at is not None:
                    visible = visible_at
            else:
                created, visible = time.time(), visible_at or 0
            self.db.execute(
                "INSERT OR REPLACE INTO objects (tenant, kind, id, data, created, visible_at) VALUES (?,?,?,?,?,?)",
                (tenant, kind, obj["id"], json.dumps(obj), created, visible))
        return obj

    def delete(self, tenant, kind, obj_id):
        with self.lock:
            cur = self.db.execute("DELETE FROM objects WHERE tenant=? AND kind=? AND id=?", (tenant, kind, obj_id))
        return cur.rowcount > 0

    def visible_at(self, tenant, kind, obj_id):
        with self.lock:
            row = self.db.execute("SELECT visible_at FROM objects WHERE tenant=? AND kind=? AND id=?",
                                  (tenant, kind, obj_id)).fetchone()
        return row[0] if row else None

    def count(self, tenant=None, kind=None):
        sql, args = "SELECT COUNT(*) FROM objects WHERE 1=1", []
        if tenant:
            sql, args = sql + " AND tenant=?", args + [tenant]
        if kind:
            sql, args = sql + " AND kind=?", args + [kind]
        with self.lock:
            return self.db.execute(sql, args).fetchone()[0]

    # --- settings ------------------------------------------------------------------------------
    def kv_get(self, key, default=None):
        with self.lock:
            row = self.db.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def kv_set(self, key, value):
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def wipe(self):
        with self.lock:
            self.db.execute("DELETE FROM objects")
            self.db.execute("DELETE FROM kv")

    def close(self):
        with self.lock:
            self.db.close()
