"""Each ledger row keeps the balance right after it, so a reprinted receipt shows what the first
print showed. Older rows stay NULL: their receipts add up the ledger to that row instead."""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('ledger_entry', 'balance_after', BigIntegerField(null=True)))


def down(migrator, db):
    migrator.migrate(migrator.drop_column('ledger_entry', 'balance_after'))
