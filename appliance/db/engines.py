"""The peewee databases the appliance runs on, and how they are opened: SQLite through APSW (its
wheel bundles a current SQLite) with the pragmas a 10,000-charger site needs, or PostgreSQL
through psycopg 3; both with one savepoint name. `database.Database` is the seam that uses them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import peewee
from playhouse.apsw_ext import APSWDatabase

from appliance.errors import ConfigError

# The writer leaves checkpoints to a thread of their own (see Database._checkpoint_loop); past
# this many WAL pages (64 MB of 4 KB pages) it checkpoints itself, should that thread fall behind.
WAL_BACKSTOP_PAGES = 16384
SQLITE_CACHE_KIB = 16384  # per connection; the default is 2,000
# APSW's statement cache puts every statement back in the next slot of a ring as it is done
# with, overwriting whatever was there, whatever its use: with its default 100 slots, a statement
# the writer ran less often than once in 100 statements was gone before its next turn. At the
# steady 10,000 (some 3,400 statements a second, 51 texts) 400 a second missed it, each parsed
# and prepared again (sqlite3RunParser: 7% of the writer). 512 is APSW's most: 37 a second.
STATEMENT_CACHE = 512

SQLITE_PRAGMAS = (
    ("journal_mode", "wal"),
    ("synchronous", "full"),
    ("foreign_keys", 1),
    ("busy_timeout", 10000),
    ("wal_autocheckpoint", WAL_BACKSTOP_PAGES),
    # SQLite's default page cache (2 MB a connection) held less than a 10,000-charger site's
    # open sessions and indexes: the writer read a page from the OS for a fifth of its
    # statements' time (`getPageNormal`/`pread` in the steady profile). Pages are cached as
    # they are read, so a small site's memory does not grow.
    ("cache_size", -SQLITE_CACHE_KIB),
    # A savepoint (one per report batch and per job) journals each page it changes first;
    # that statement journal spilled to a temporary file past 64 KB, and at 10,000 chargers
    # its writes were a tenth of the writer's time (`subjournalPageIfRequired` -> `pwrite`).
    # In memory it is a copy; it lives as long as its savepoint, so it is bounded by a batch.
    ("temp_store", "memory"),
)


_PEEWEE_LOG = logging.getLogger("peewee")  # peewee logs every statement at DEBUG
_ERRORS: Any = peewee.__exception_wrapper__  # type: ignore[attr-defined]  # as peewee raises them

_NATIVE = frozenset({int, float, str, bytes, bool, type(None)})  # what apsw binds as it is


def _adapt(value: Any) -> Any:
    # apsw binds only SQLite's own types; peewee's sqlite3 path relies on adapters apsw lacks.
    if isinstance(value, datetime | date | time | Decimal):
        return str(value)
    return value


# peewee names each savepoint anew ("s" + a random uuid), so every `atomic()` inside a
# transaction (one per write job, one per report batch: thousands a second at 10,000 chargers)
# sent two statement texts never seen before. Each was parsed and prepared, and pushed the site's
# real statements out of the connection's statement cache: at the steady 10,000 a third of the
# writer's statements missed it (on PostgreSQL, psycopg's count of statements worth preparing
# churned the same way; its jobs had a savepoint of their own for that). One name serves
# every savepoint: SQLite and PostgreSQL both release or roll back to the newest savepoint of a
# name, which for blocks nested as `with` blocks is always their own -- provided none stays
# behind: ROLLBACK TO keeps its savepoint, so a block that rolls back also releases it (peewee's
# did not; with one name, an outer block failing later would have rolled back only to there).
SAVEPOINT_NAME = "sp"


# Told of every savepoint rolled back, with the connection it was on (SQLite's rollback hook
# fires for whole transactions only): what a connection keeps in memory of rows it wrote
# (db/kept_sessions.py) must forget what the rollback undid.
ROLLBACK_LISTENERS: list[Callable[[Any], None]] = []


class _Savepoint(peewee._savepoint):
    def rollback(self, begin: bool = True) -> None:
        for listener in ROLLBACK_LISTENERS:
            listener(self.db.connection())
        self.db.execute_sql(f"ROLLBACK TO SAVEPOINT {self.quoted_sid};")
        self.db.execute_sql(f"RELEASE SAVEPOINT {self.quoted_sid};")
        if begin:
            self.db.execute_sql(f"SAVEPOINT {self.quoted_sid};")


class _Savepoints:
    def savepoint(self) -> peewee._savepoint:
        return _Savepoint(self, SAVEPOINT_NAME)


class SqliteDatabase(_Savepoints, APSWDatabase):
    """APSW (its wheel bundles a current SQLite) with Python values adapted to SQLite's."""

    def execute_sql(self, sql: str, params: Any = None) -> Any:
        if params:
            params = [p if type(p) in _NATIVE else _adapt(p) for p in params]
        state = self._state  # type: ignore[attr-defined]  # peewee's per-thread state
        if state.closed or self.query_hooks or _PEEWEE_LOG.isEnabledFor(logging.DEBUG):
            # The playhouse stubs leave execute_sql unannotated.
            return super().execute_sql(sql, params)  # type: ignore[no-untyped-call]
        # peewee's own path, without its three calls around the cursor (the writer runs some
        # 3,400 statements a second at 10,000 chargers): the same cursor, the same errors.
        with _ERRORS:
            cursor = state.conn.cursor()
            cursor.execute(sql, params or ())
        return cursor


class PostgresqlDatabase(_Savepoints, peewee.PostgresqlDatabase):
    """psycopg 3, with one savepoint name."""


def open_peewee(url: str) -> peewee.Database:
    """A peewee database for a `sqlite:///path` or `postgresql://` URL (not connected yet)."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path)
        if not path or path == "/":
            raise ConfigError(f"database_url {url!r} names no file")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # The playhouse stubs leave APSWDatabase's constructor unannotated.
        return SqliteDatabase(path, pragmas=SQLITE_PRAGMAS,  # type: ignore[no-untyped-call]
                              timeout=10, statementcachesize=STATEMENT_CACHE)
    if parsed.scheme in ("postgresql", "postgres"):
        return PostgresqlDatabase(
            parsed.path.lstrip("/"),
            user=unquote(parsed.username or "") or None,
            password=unquote(parsed.password or "") or None,
            host=parsed.hostname or None,
            port=parsed.port,
            application_name="appliance",
        )
    raise ConfigError(f"unsupported database_url {url!r}")
