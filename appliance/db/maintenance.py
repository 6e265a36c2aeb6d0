"""Schema migrations at start (after a backup), online backups and the integrity check."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse, urlunparse

import apsw
import peewee
from peewee import fn
from playhouse.migrations import Runner

from appliance.config import Settings
from appliance.db.database import Database
from appliance.errors import DatabaseError, SchemaVersionError

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _runner(database: Database) -> Runner:
    return Runner(database.db, directory=str(MIGRATIONS_DIR))


def schema_status(database: Database) -> tuple[list[str], list[str]]:
    """(applied, pending) migration names."""
    database.db.connect(reuse_if_open=True)
    runner = _runner(database)
    applied = set(runner.applied())
    known = [m.name for m in runner.migrations()]
    unknown = sorted(applied - set(known))
    if unknown:
        raise SchemaVersionError(
            f"the database was made by a newer appliance (migrations {', '.join(unknown)}); "
            "install that version or restore a backup"
        )
    return [n for n in known if n in applied], [n for n in known if n not in applied]


def migrate(database: Database, backup_dir: Path) -> list[str]:
    """Apply pending migrations; back the database up first when it already holds data."""
    applied, pending = schema_status(database)
    if not pending:
        return []
    if applied:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = backup_dir / f"pre-migrate-{stamp}.{'db' if database.is_sqlite else 'dump'}"
        backup(database, target)
        log.info("backed up the database to %s before migrating", target)
    try:
        done: list[str] = _runner(database).up()
    except Exception as err:
        raise DatabaseError(f"migration failed, the database is unchanged: {err}") from err
    log.info("applied migrations: %s", ", ".join(done))
    return done


def open_migrated(settings: Settings) -> Database:
    """Open the database and bring its schema up to date (after a backup when it has data)."""
    settings.data_path.mkdir(parents=True, exist_ok=True)
    database = Database(settings.db_url, batch_max=settings.write_batch_max,
                        read_threads=settings.read_threads)
    from appliance.db.schema import ALL_MODELS

    database.db.bind(ALL_MODELS)
    with startup_lock(database):
        migrate(database, settings.data_path / "backups")
    database.db.close()
    return database


# PostgreSQL advisory lock keys of the installation (any constant 64-bit numbers, fixed forever).
STARTUP_LOCK = 0x61707031  # held while one process migrates and sweeps at start
LEADER_LOCK = 0x61707032  # held by the process that runs once-per-installation work


@contextlib.contextmanager
def startup_lock(database: Database) -> Iterator[None]:
    """Processes of one installation that start together on PostgreSQL migrate and sweep one at
    a time (two at once made the same tables and one failed: "duplicate key ... pg_type").
    SQLite has one process; its file lock is enough."""
    if database.is_sqlite:
        yield
        return
    database.db.connect(reuse_if_open=True)
    database.db.execute_sql("SELECT pg_advisory_lock(%s)", (STARTUP_LOCK,))
    try:
        yield
    finally:
        database.db.execute_sql("SELECT pg_advisory_unlock(%s)", (STARTUP_LOCK,))


def backup(database: Database, target: Path) -> Path:
    """Online backup of the live database to `target` (SQLite backup API, or pg_dump)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not database.is_sqlite:
        return _pg_dump(database.url, target)
    tmp = target.with_suffix(target.suffix + ".part")
    source = apsw.Connection(database.db.database)
    try:
        dest = apsw.Connection(str(tmp))
        with dest.backup("main", source, "main") as step:
            while not step.done:
                step.step(1024)
        dest.close()
    finally:
        source.close()
    tmp.replace(target)
    return target


def _pg_dump(url: str, target: Path) -> Path:
    """pg_dump's custom format (restore with pg_restore), written beside the target and renamed
    when complete. The password goes through the environment, never the command line."""
    if shutil.which("pg_dump") is None:
        raise DatabaseError("pg_dump is not installed (Debian: apt install postgresql-client)")
    parsed = urlparse(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = unquote(parsed.password)
        netloc = parsed.netloc.replace(f":{parsed.password}@", "@", 1)
        url = urlunparse(parsed._replace(netloc=netloc))
    tmp = target.with_suffix(target.suffix + ".part")
    try:
        out = subprocess.run(["pg_dump", "--format=custom", f"--file={tmp}", f"--dbname={url}"],
                             env=env, capture_output=True, text=True, check=False)
    except OSError as err:
        raise DatabaseError(f"pg_dump did not run: {err}") from err
    if out.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise DatabaseError(f"pg_dump failed: {out.stderr.strip()[-500:]}")
    tmp.replace(target)
    return target


@dataclass
class CheckReport:
    ok: bool = True
    lines: list[str] = field(default_factory=list)

    def add(self, ok: bool, line: str) -> None:
        self.ok = self.ok and ok
        self.lines.append(("ok    " if ok else "FAIL  ") + line)


Check = Callable[[Database], Iterable[tuple[bool, str]]]


def check(database: Database, more: Iterable[Check] = ()) -> CheckReport:
    """Integrity, schema version, id sequences and the transaction-id counter, then the checks
    `more` of the rooms above (the ledger's: `appliance check` passes billing's)."""
    report = CheckReport()
    database.db.connect(reuse_if_open=True)
    if database.is_sqlite:
        rows = database.db.execute_sql("PRAGMA integrity_check").fetchall()
        report.add(rows == [("ok",)], f"integrity_check: {', '.join(r[0] for r in rows)}")
        fk = database.db.execute_sql("PRAGMA foreign_key_check").fetchall()
        report.add(not fk, f"foreign keys: {len(fk)} broken references")
    else:
        for ok, line in _server_checks(database.db):
            report.add(ok, line)
    try:
        applied, pending = schema_status(database)
        report.add(not pending,
                   f"schema: {len(applied)} migrations applied, {len(pending)} pending")
    except SchemaVersionError as err:
        report.add(False, f"schema: {err.message}")
        return report
    report.add(*counter_check(database.db))
    for one in more:
        for ok, line in one(database):
            report.add(ok, line)
    return report


def _server_checks(db: peewee.Database) -> list[tuple[bool, str]]:
    """PostgreSQL checks its pages itself; what can still be wrong is an index left invalid by
    an interrupted build, a constraint added NOT VALID, or an id sequence behind its table
    (after a copy or a restore), which would fail the next insert."""
    version = db.execute_sql("SHOW server_version").fetchone()[0]
    invalid = db.execute_sql(
        "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND NOT i.indisvalid").fetchone()[0]
    unvalidated = db.execute_sql(
        "SELECT count(*) FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace "
        "WHERE n.nspname = current_schema() AND NOT k.convalidated").fetchone()[0]
    out = [(invalid == 0 and unvalidated == 0,
            f"integrity_check: PostgreSQL {version}, {invalid} invalid indexes, "
            f"{unvalidated} unvalidated constraints")]
    sequences = serial_sequences(db)
    behind = [f"{table}.{column}: next {nxt}, highest {high}"
              for table, column, nxt, high in sequences if high is not None and nxt <= high]
    out.append((not behind, f"sequences: {len(sequences)} id sequences, {len(behind)} behind "
                            "their tables"))
    out.extend((False, line) for line in behind)
    return out


def serial_sequences(db: peewee.Database) -> list[tuple[str, str, int, int | None]]:
    """(table, column, next value, highest value in the column) of every serial column."""
    rows = db.execute_sql(
        "SELECT c.relname, a.attname, pg_get_serial_sequence(quote_ident(c.relname), a.attname) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid "
        "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND a.attnum > 0 "
        "AND NOT a.attisdropped "
        "AND pg_get_serial_sequence(quote_ident(c.relname), a.attname) IS NOT NULL "
        "ORDER BY c.relname").fetchall()
    out = []
    for table, column, seq in rows:
        last, called = db.execute_sql(f"SELECT last_value, is_called FROM {seq}").fetchone()
        high = db.execute_sql(f'SELECT max("{column}") FROM "{table}"').fetchone()[0]
        out.append((table, column, int(last) + (1 if called else 0),
                    None if high is None else int(high)))
    return out


def counter_check(db: peewee.Database) -> tuple[bool, str]:
    """The OCPP transaction-id counter is past every id in use, so no id is given twice."""
    from appliance.db.models import TX_COUNTER, ChargingSession, Counter

    value = (Counter.select(Counter.value).where(Counter.name == TX_COUNTER).scalar(db)) or 0
    highest = ChargingSession.select(fn.MAX(ChargingSession.transaction_id)).scalar(db) or 0
    return (value >= highest,
            f"transaction ids: counter at {value}, highest in use {highest}")
