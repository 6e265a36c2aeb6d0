"""Schema migrations at start (after a backup), online backups and the integrity check."""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import apsw
from playhouse.migrations import Runner

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
        startup_sweep(database)
        return []
    if applied:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = backup_dir / f"pre-migrate-{stamp}.db"
        backup(database, target)
        log.info("backed up the database to %s before migrating", target)
    try:
        done = _runner(database).up()
    except Exception as err:
        raise DatabaseError(f"migration failed, the database is unchanged: {err}") from err
    log.info("applied migrations: %s", ", ".join(done))
    startup_sweep(database)
    return done


def startup_sweep(database: Database) -> int:
    """Settle any stopped session that is not settled yet (money's start-up sweep)."""
    from appliance.billing.settlement import sweep

    count = database.run_sync(sweep)
    if count:
        log.warning("settled %d stopped sessions left unsettled", count)
    return count


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
    if shutil.which("pg_dump") is None:
        raise DatabaseError("pg_dump is not installed")
    with open(target, "wb") as out:
        subprocess.run(["pg_dump", "--format=custom", url], stdout=out, check=True)
    return target


@dataclass
class CheckReport:
    ok: bool = True
    lines: list[str] = field(default_factory=list)

    def add(self, ok: bool, line: str) -> None:
        self.ok = self.ok and ok
        self.lines.append(("ok    " if ok else "FAIL  ") + line)


def check(database: Database) -> CheckReport:
    """Integrity, schema version, and every account's cached balance against its ledger."""
    report = CheckReport()
    database.db.connect(reuse_if_open=True)
    if database.is_sqlite:
        rows = database.db.execute_sql("PRAGMA integrity_check").fetchall()
        report.add(rows == [("ok",)], f"integrity_check: {', '.join(r[0] for r in rows)}")
        fk = database.db.execute_sql("PRAGMA foreign_key_check").fetchall()
        report.add(not fk, f"foreign keys: {len(fk)} broken references")
    try:
        applied, pending = schema_status(database)
        report.add(not pending, f"schema: {len(applied)} migrations applied, {len(pending)} pending")
    except SchemaVersionError as err:
        report.add(False, f"schema: {err.message}")
    from appliance.billing.check import check_ledger  # money joins the check once it exists

    for ok, line in check_ledger(database):
        report.add(ok, line)
    return report
