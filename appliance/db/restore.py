"""Putting a backup back, and the data-dir lock that tells whether the service is running.

`appliance serve` holds an exclusive lock on `<data dir>/appliance.lock` for its whole life, so a
second server on the same data never starts and `appliance restore` refuses while one runs.
A restore checks the backup first (integrity, a schema this version knows), keeps the database it
replaces, migrates the restored one, and moves the OCPP transaction-id counter far past anything
a charger may still hold, so no id is ever used twice."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import apsw

from appliance.errors import ConfigError, DatabaseError

LOCK_NAME = "appliance.lock"
TX_ID_MARGIN = 1_000_000  # ids a charger may still hold from after the backup was taken


@contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Hold the data dir for this process; raise ConfigError when another one holds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise ConfigError(f"another appliance process is using {data_dir}; stop it first "
                              "(systemctl stop appliance)") from err
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)


def _inspect(path: Path) -> tuple[set[str], int]:
    """(applied migrations, transaction-id counter) of a SQLite file, after checking it."""
    if not path.is_file():
        raise DatabaseError(f"{path} is not a file")
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchall()
        if result != [("ok",)]:
            raise DatabaseError(f"{path} fails its integrity check: {result[:3]}")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "schema_migration" not in tables:
            raise DatabaseError(f"{path} is not an appliance database")
        applied = {r[0] for r in conn.execute("SELECT name FROM schema_migration")}
        counter = 0
        if "counter" in tables:
            row = conn.execute("SELECT value FROM counter WHERE name='transaction_id'").fetchone()
            counter = int(row[0]) if row else 0
        return applied, counter
    except apsw.Error as err:
        raise DatabaseError(f"{path} is not a readable SQLite database: {err}") from err
    finally:
        conn.close()


def restore_sqlite(backup_file: Path, db_file: Path, known: list[str]) -> Path | None:
    """Put `backup_file` in place of `db_file`. Returns where the replaced database was kept.
    The caller holds the data-dir lock and migrates afterwards."""
    applied, backup_counter = _inspect(backup_file)
    unknown = sorted(applied - set(known))
    if unknown:
        raise DatabaseError(f"the backup was made by a newer appliance ({', '.join(unknown)})")
    live_counter = 0
    kept = None
    if db_file.exists():
        try:
            live_counter = _inspect(db_file)[1]
        except DatabaseError:
            pass  # a broken live database is why people restore; keep it all the same
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        kept = db_file.parent / "backups" / f"pre-restore-{stamp}.db"
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(db_file, kept)
    for suffix in ("-wal", "-shm"):
        Path(str(db_file) + suffix).unlink(missing_ok=True)
    tmp = db_file.with_suffix(".restoring")
    shutil.copyfile(backup_file, tmp)
    os.replace(tmp, db_file)
    conn = apsw.Connection(str(db_file))
    try:
        conn.execute("UPDATE counter SET value=? WHERE name='transaction_id'",
                     (max(live_counter, backup_counter) + TX_ID_MARGIN,))
    except apsw.SQLError:
        pass  # no counter table yet: the next start creates it from zero, nothing to reuse
    finally:
        conn.close()
    return kept
