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
their fields before it answers the charger, and only that charger's next report moves them on.

The running-out watchdog keeps here what it read of each account (`billing.watch._Kept`:
balance, holds, overdraft, which sessions are open), for the same reason: at the steady 10,000
reading them was a fifth of a MeterValues batch on the writer (`watch._read_batch`), and
nearly always nothing had changed them since the batch before. Other TEMP triggers note the
account of every change to an account, its driver, a hold, a QR start, a session's money
columns (not its live state) and any site setting (all accounts); the same commits of other
connections and rollbacks drop them all."""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

from appliance.db import engines
from appliance.db.models import Account, ChargingSession, Driver
from appliance.db.models_driver import QrStart
from appliance.db.models_money import Hold
from appliance.db.models_site import SiteSetting

KEEP_MAX = 50_000  # sessions (and accounts) kept at most (5x a big site's open ones)
_TABLE = ChargingSession._meta.table_name
ALL = -1  # noted for a change that concerns every account (a site setting)


# Every change to a session row on this connection leaves its id in a temporary table, by
# triggers of this connection alone (TEMP): SQLite, not Python, notes it. (An update hook, a
# Python call for every row changed in any table, took the GIL back for every meter reading
# inserted: 10-14% of the writer's samples in the saturation run.)
_SETUP: tuple[str, ...] = (
    "CREATE TEMP TABLE IF NOT EXISTS kept_changed (id INTEGER PRIMARY KEY)",
    f'CREATE TEMP TRIGGER IF NOT EXISTS kept_updated AFTER UPDATE ON main."{_TABLE}" '
    "BEGIN INSERT OR IGNORE INTO kept_changed (id) VALUES (old.id); END",
    f'CREATE TEMP TRIGGER IF NOT EXISTS kept_deleted AFTER DELETE ON main."{_TABLE}" '
    "BEGIN INSERT OR IGNORE INTO kept_changed (id) VALUES (old.id); END",
)


def _money_triggers() -> tuple[str, ...]:
    """Triggers that note the accounts whose money state (`KeptSessions.accounts`) a change
    moves: the account row, its driver (the overdraft), its holds, its QR starts, its sessions'
    money columns (not their live state: a MeterValues moves that alone), and any site setting
    (the default overdraft) for every account."""
    def note(name: str, table: str, when: str, expr: str, source: str = "") -> str:
        return (f"CREATE TEMP TRIGGER IF NOT EXISTS {name} AFTER {when} ON main.\"{table}\" "
                f"BEGIN INSERT OR IGNORE INTO kept_money (id) SELECT {expr} {source}; END")

    def row(table: str, column: str, prefix: str) -> list[str]:
        out = []
        for when, rows in (("INSERT", ("new",)), ("DELETE", ("old",)),
                           ("UPDATE", ("old", "new"))):
            for r in rows:
                out.append(note(f"{prefix}_{when.lower()}_{r}", table, when, f"{r}.\"{column}\"",
                                f"WHERE {r}.\"{column}\" IS NOT NULL"))
        return out

    account, driver = Account._meta.table_name, Driver._meta.table_name
    session_columns = ", ".join(f'"{f.column_name}"' for f in (
        ChargingSession.account, ChargingSession.state, ChargingSession.mode,
        ChargingSession.settled, ChargingSession.started_at, ChargingSession.tariff_snapshot))
    sessions = [
        note("kept_money_session_insert", _TABLE, "INSERT", "new.account_id",
             "WHERE new.account_id IS NOT NULL"),
        note("kept_money_session_delete", _TABLE, "DELETE", "old.account_id",
             "WHERE old.account_id IS NOT NULL"),
        *(note(f"kept_money_session_update_{r}", _TABLE, f"UPDATE OF {session_columns}",
               f"{r}.account_id", f"WHERE {r}.account_id IS NOT NULL") for r in ("old", "new")),
    ]
    return (
        "CREATE TEMP TABLE IF NOT EXISTS kept_money (id INTEGER PRIMARY KEY)",
        *row(account, "id", "kept_money_account"),
        *row(Hold._meta.table_name, "account_id", "kept_money_hold"),
        *row(QrStart._meta.table_name, "account_id", "kept_money_qr"),
        *(note(f"kept_money_driver_{when.lower()}", driver, when, "a.id",
               f'FROM main."{account}" a WHERE a.driver_id = old.id')
          for when in ("UPDATE", "DELETE")),
        *sessions,
        *(note(f"kept_money_setting_{when.lower()}", SiteSetting._meta.table_name, when,
               str(ALL)) for when in ("INSERT", "UPDATE", "DELETE")),
    )


_SETUP += _money_triggers()


class KeptSessions:
    """The sessions one connection wrote last, by transaction id; and what the running-out
    watchdog read of their accounts (`billing.settlement`), by account id, each dropped when
    a change to it is noted."""

    def __init__(self, conn: Any) -> None:
        self.by_tx: dict[int, ChargingSession] = {}
        self.accounts: dict[int, Any] = {}
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
        self.accounts.clear()

    def by_id(self, session_id: int) -> ChargingSession | None:
        tx = self._tx_of.get(session_id)
        return None if tx is None else self.by_tx.get(tx)

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

    def check_money(self) -> None:
        """`check` and then drop the accounts whose money state changed since the last look
        (all of them after a site setting changed), in one statement when nothing did."""
        self._set_up()
        version, sessions, accounts = self._conn.execute(
            "SELECT (SELECT data_version FROM pragma_data_version()), "
            "(SELECT group_concat(id) FROM temp.kept_changed), "
            "(SELECT group_concat(id) FROM temp.kept_money)").fetchall()[0]
        if version != self._version:
            self._version = version
            self.clear()
        if sessions is not None:
            self.absorb()
        if accounts is not None:
            ids = {int(a) for a in str(accounts).split(",")}
            if ALL in ids:
                self.accounts.clear()
            else:
                for account_id in ids:
                    self.accounts.pop(account_id, None)
            self._conn.execute("DELETE FROM temp.kept_money")

    def keep_account(self, account_id: int, entry: Any) -> None:
        if len(self.accounts) >= KEEP_MAX:
            self.accounts.clear()
        self.accounts[account_id] = entry

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
