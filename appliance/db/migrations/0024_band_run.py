"""Issue 24, constant work per MeterValues: a banded tariff's running figure on the session row
(billing.running), so live prices stop reading every sample of the session."""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('charging_session', 'band_run', TextField(null=True)))


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column('charging_session', 'band_run'))
