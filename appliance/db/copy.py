"""`appliance migrate-to-postgresql URL`: a box's SQLite data copied into an empty PostgreSQL
database, then verified (rows per table, every account's balance, the database check; the
command, in the CLI, adds the ledger check).

The copy runs the migrations on the target first, so both have the same tables, then copies
table by table in foreign-key order through the models (they turn SQLite's text times and 0/1
booleans into PostgreSQL's types) in one transaction: a failed copy leaves the target empty.
Id sequences move past the copied ids, and the OCPP transaction-id counter moves far past its
old high-water mark, as a restore does, since a charger may still hold an id the box gave out
after the copy was read."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import peewee

from appliance.db import maintenance
from appliance.db.database import Database
from appliance.db.restore import TX_ID_MARGIN
from appliance.errors import ConfigError, DatabaseError

MAX_PARAMS = 30_000  # PostgreSQL takes at most 65,535 parameters in one statement
HISTORY_TABLE = "schema_migration"  # written by the target's own migrations, not copied


@dataclass
class CopyResult:
    ok: bool = True
    lines: list[str] = field(default_factory=list)

    def add(self, ok: bool, line: str) -> None:
        self.ok = self.ok and ok
        self.lines.append(("ok    " if ok else "FAIL  ") + line)


def _models() -> list[type[peewee.Model]]:
    """Every model, parents before children (foreign keys are checked on each insert)."""
    from appliance.db.schema import ALL_MODELS

    # peewee exports sort_models; the stubs do not declare it.
    return list(peewee.sort_models(ALL_MODELS))  # type: ignore[attr-defined]


def _chunks(rows: Iterable[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def _check_target(source: Database, target: Database) -> None:
    if target.is_sqlite:
        raise ConfigError("the target must be a postgresql:// URL")
    if not source.is_sqlite:
        raise ConfigError("this box already runs on PostgreSQL: nothing to copy")
    target.db.connect(reuse_if_open=True)
    tables = target.db.get_tables()
    if tables:
        raise ConfigError(f"the target database is not empty ({len(tables)} tables, e.g. "
                          f"{tables[0]}): create an empty one (createdb) and try again")


def _copy_table(model: type[peewee.Model], source: Database, target: Database) -> int:
    fields = model._meta.sorted_fields
    query = model.select(*fields).order_by(model._meta.primary_key).tuples()
    size = max(1, MAX_PARAMS // len(fields))
    copied = 0
    # What the migrations put in the new database (the one site) is the box's to give.
    model.delete().execute(target.db)
    for chunk in _chunks(query.execute(source.db), size):
        try:
            model.insert_many(chunk, fields=fields).execute(target.db)
        except peewee.DatabaseError as err:
            # SQLite does not enforce VARCHAR lengths; PostgreSQL does. Say where it stopped.
            raise DatabaseError(f"copying {model._meta.table_name} (rows {copied + 1}-"
                                f"{copied + len(chunk)}): {err}") from err
        copied += len(chunk)
    return copied


def _move_sequences(target: Database) -> None:
    """Next id = highest copied id + 1 for every serial column (copies carry their ids)."""
    for table, column, _, _ in maintenance.serial_sequences(target.db):
        target.db.execute_sql(
            f"SELECT setval(pg_get_serial_sequence(%s, %s), "
            f'COALESCE((SELECT max("{column}") FROM "{table}"), 0) + 1, false)',
            (f'"{table}"', column))


def _move_counter(target: Database) -> None:
    from appliance.db.models import TX_COUNTER, Counter

    (Counter.update(value=Counter.value + TX_ID_MARGIN).where(Counter.name == TX_COUNTER)
     .execute(target.db))


def copy_data(source: Database, target: Database, report: Callable[[str], None] = print
              ) -> dict[str, int]:
    """Migrate the empty target, copy every table in one transaction; rows copied per table."""
    _check_target(source, target)
    copied: dict[str, int] = {}
    source.db.connect(reuse_if_open=True)
    # One snapshot read; one transaction written, schema included (PostgreSQL's DDL is
    # transactional), so a failure leaves the target as empty as it was and it can be rerun.
    with source.db.atomic(), target.db.atomic():
        done = maintenance._runner(target).up()
        report(f"target schema: {len(done)} migrations applied")
        for model in _models():
            copied[model._meta.table_name] = _copy_table(model, source, target)
            report(f"copied {model._meta.table_name}: {copied[model._meta.table_name]} rows")
        _move_sequences(target)
        _move_counter(target)
    return copied


def _counts(database: Database) -> dict[str, int]:
    return {m._meta.table_name: m.select().count(database.db) for m in _models()}


def _balances(database: Database) -> dict[int, tuple[int, int]]:
    from appliance.db.models import Account

    rows = Account.select(Account.id, Account.balance, Account.held).tuples()
    return {int(i): (int(b), int(h)) for i, b, h in rows.execute(database.db)}


def verify(source: Database, target: Database,
           more: Iterable[maintenance.Check] = ()) -> CopyResult:
    """Rows per table and every account's balance and held amount, source against target,
    then the target's own check (sequences, counter, schema, and `more`: the ledger's)."""
    result = CopyResult()
    unknown = sorted(set(source.db.get_tables()) - set(_counts(source)) - {HISTORY_TABLE})
    result.add(not unknown, f"tables without a model (not copied): {', '.join(unknown) or 'none'}")
    before, after = _counts(source), _counts(target)
    for table in sorted(before):
        result.add(before[table] == after.get(table),
                   f"rows {table}: {before[table]} in SQLite, {after.get(table)} in PostgreSQL")
    old, new = _balances(source), _balances(target)
    differ = sorted(i for i in old.keys() | new.keys() if old.get(i) != new.get(i))
    result.add(not differ, f"balances: {len(old)} accounts, {len(differ)} differ")
    result.lines.extend(f"FAIL  account {i}: SQLite {old.get(i)}, PostgreSQL {new.get(i)}"
                        for i in differ[:20])
    from appliance.db.schema import ALL_MODELS

    target.db.bind(ALL_MODELS)  # the check's ledger queries go through the bound models
    checked = maintenance.check(target, more)
    result.ok = result.ok and checked.ok
    result.lines.extend(checked.lines)
    return result
