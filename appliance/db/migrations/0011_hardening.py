"""Issue 15. Money columns stay whole numbers within +-2^62 (so a sum of two never overflows a
64-bit integer): a CHECK constraint on PostgreSQL, whose BIGINT already keeps them whole, and
on SQLite, which cannot add a constraint to a table and would otherwise store a float, triggers
that refuse such a write the same way. Rows written before stay as they are (`appliance check`
names them). A station's connector count as it declares it (NumberOfConnectors), and its
power as staff know it (energy beyond it is implausible). Daily rows count refused starts apart
from sessions."""
from peewee import *

LIMIT = 2 ** 62
MONEY_COLUMNS = (
    ('account', 'balance'), ('account', 'held'), ('ledger_entry', 'amount'),
    ('hold', 'amount'), ('qr_start', 'amount'), ('charging_session', 'fee_minor'),
    ('driver', 'overdraft_minor'), ('tariff', 'min_to_start'), ('daily_stat', 'fees_minor'))


def _is_postgres(db):
    return isinstance(db, PostgresqlDatabase)


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('station', 'declared_connectors', IntegerField(null=True)),
        migrator.add_column('station', 'max_power_w', IntegerField(null=True)),
        migrator.add_column('daily_stat', 'refused', IntegerField(default=0)))
    for table, column in MONEY_COLUMNS:
        name = f'money_{table}_{column}'
        if _is_postgres(db):
            db.execute_sql(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" CHECK ("{column}" '
                           f'BETWEEN {-LIMIT} AND {LIMIT})')
            continue
        bad = (f'NEW."{column}" IS NOT NULL AND (typeof(NEW."{column}") != \'integer\' '
               f'OR NEW."{column}" > {LIMIT} OR NEW."{column}" < {-LIMIT})')
        for event in ('INSERT', f'UPDATE OF "{column}"'):
            suffix = 'insert' if event == 'INSERT' else 'update'
            db.execute_sql(
                f'CREATE TRIGGER "{name}_{suffix}" BEFORE {event} ON "{table}" WHEN {bad} '
                f"BEGIN SELECT RAISE(ABORT, 'money out of range: {table}.{column} must be a "
                f"whole number of minor units within +-2^62'); END")


def down(migrator, db):
    for table, column in MONEY_COLUMNS:
        name = f'money_{table}_{column}'
        if _is_postgres(db):
            db.execute_sql(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
        else:
            db.execute_sql(f'DROP TRIGGER IF EXISTS "{name}_insert"')
            db.execute_sql(f'DROP TRIGGER IF EXISTS "{name}_update"')
    migrator.migrate(migrator.drop_column('station', 'declared_connectors'),
                     migrator.drop_column('station', 'max_power_w'),
                     migrator.drop_column('daily_stat', 'refused'))
