"""Open sessions kept in memory on the SQLite writer's connection between MeterValues batches,
so a batch does not read its sessions whole again (`charging.batched.sessions_by_transaction`).

Why: at the steady 10,000 chargers the writer read every batch's sessions whole, each row made
into a model again (`sessions_by_transaction` and `model_from_row` were 8% of the writer's
samples), although nothing but that same writer had touched most of them since the batch
before: a session's live state moves on only through its MeterValues.

How it stays true: SQLite notes every change to a session row made on this connection (two
TEMP triggers write the row's id to a temporary table), and each batch first drops the kept
sessions noted there, then clears it; the batch's own live-state update is noted too and
cleared right after it (it writes what the kept objects hold). A commit by another connection
(`PRAGMA data_version` moves) drops them all, and so does any rollback, of a transaction
(SQLite's rollback hook) or of a savepoint (`engines.ROLLBACK_LISTENERS`): a kept object may
hold a change that was undone, and the triggers' own creation may have been. Dropping is always
safe: the next batch reads the row. Only on SQLite, where one writer connection of one process
writes the sessions; on PostgreSQL several processes share them, and every batch reads.

The kept objects are the ones a batch hands back to the event loop; the loop reads a few of
their fields before it answers the charger, and only that charger's next report moves them on."""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

from appliance.db import engines
from appliance.db.models import ChargingSession

KEEP_MAX = 50_000  # sessions kept at most (5x a big site's open ones); past it, start again
_TABLE = ChargingSession._meta.table_name


# Every change to a session row on this connection leaves its id in a temporary table, by
# triggers of this connection alone (TEMP): SQLite, not Python, notes it. (An update hook, a
# Python call for every row changed in any table, took the GIL back for every meter reading
# inserted: 10-14% of the writer's samples in the saturation run.)
_SETUP = (
    "CREATE TEMP TABLE IF NOT EXISTS kept_changed (id INTEGER PRIMARY KEY)",
    f'CREATE TEMP TRIGGER IF NOT EXISTS kept_updated AFTER UPDATE ON main."{_TABLE}" '
    "BEGIN INSERT OR IGNORE INTO kept_changed (id) VALUES (old.id); END",
    f'CREATE TEMP TRIGGER IF NOT EXISTS kept_deleted AFTER DELETE ON main."{_TABLE}" '
    "BEGIN INSERT OR IGNORE INTO kept_changed (id) VALUES (old.id); END",
)


class KeptSessions:
    """The sessions one connection wrote last, by transaction id."""

    def __init__(self, conn: Any) -> None:
        self.by_tx: dict[int, ChargingSession] = {}
        self._tx_of: dict[int, int] = {}  # session id -> transaction id
        self._version: int | None = None
        self._ready = False  # the triggers exist (a rollback may have undone their creation)
        self._conn = conn
        conn.set_rollback_hook(self.rolled_back)

    def rolled_back(self) -> None:
        self.clear()
        self._ready = False

    def clear(self) -> None:
        self.by_tx.clear()
        self._tx_of.clear()

    def check(self) -> None:
        """Before a batch uses what is kept: drop what changed since (everything, if another
        connection committed)."""
        self._set_up()
        version = self._conn.execute("PRAGMA data_version").fetchall()[0][0]
        if version != self._version:
            self._version = version
            self.clear()
        self.absorb()

    def _set_up(self) -> None:
        if not self._ready:
            for statement in _SETUP:
                self._conn.execute(statement)
            self._ready = True
            self.clear()

    def absorb(self) -> None:
        """Drop the sessions whose rows changed since the last look."""
        self._set_up()
        changed = self._conn.execute("SELECT id FROM temp.kept_changed").fetchall()
        if changed:
            for (session_id,) in changed:
                tx = self._tx_of.pop(session_id, None)
                if tx is not None:
                    self.by_tx.pop(tx, None)
            self._conn.execute("DELETE FROM temp.kept_changed")

    def wrote(self, sessions: Iterable[ChargingSession]) -> None:
        """After the batch's own update of these sessions' rows (`absorb` just before it): keep
        them as written; the changes noted are their own."""
        if self._ready:  # (else a rollback came between: nothing is kept now)
            self._conn.execute("DELETE FROM temp.kept_changed")
            self.keep(sessions)

    def keep(self, sessions: Iterable[ChargingSession]) -> None:
        if len(self.by_tx) >= KEEP_MAX:
            self.clear()
        for session in sessions:
            if session.transaction_id is not None:
                self.by_tx[session.transaction_id] = session
                self._tx_of[session.id] = session.transaction_id


_KEPT: weakref.WeakKeyDictionary[Any, KeptSessions] = weakref.WeakKeyDictionary()


def kept() -> KeptSessions | None:
    """The calling thread's connection's kept sessions (SQLite), else None (PostgreSQL)."""
    db = ChargingSession._meta.database
    if not isinstance(db, engines.SqliteDatabase):
        return None
    conn = db.connection()  # type: ignore[no-untyped-call]
    found = _KEPT.get(conn)
    if found is None:
        found = _KEPT[conn] = KeptSessions(conn)
    return found


def _rolled_back(conn: Any) -> None:
    try:
        found = _KEPT.get(conn)
    except TypeError:  # a connection that takes no weak reference: never kept any
        return
    if found is not None:
        found.rolled_back()


engines.ROLLBACK_LISTENERS.append(_rolled_back)
