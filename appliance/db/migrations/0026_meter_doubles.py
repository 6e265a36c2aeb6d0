"""Meter readings' register and power as doubles: PostgreSQL's `real` (single precision, the
type peewee gives a FloatField there) rounded a register past 2**24 Wh (16.7 MWh, months of a
busy DC charger) to 2 Wh, past 67 MWh to 8, and with it a day's or a tariff band's energy taken
from the readings. SQLite's REAL is already a double: nothing to do there (and rebuilding the
biggest table for a type name would only cost the box time). Readings kept before this stay as
they were rounded; every reading from now on is kept as the charger sent it."""
from peewee import *


def up(migrator, db):
    if not isinstance(db, SqliteDatabase):
        migrator.migrate(
            migrator.alter_column_type('meter_reading', 'energy_wh', DoubleField(null=True)),
            migrator.alter_column_type('meter_reading', 'power_w', DoubleField(null=True)))


def down(migrator, db):
    if not isinstance(db, SqliteDatabase):
        migrator.migrate(
            migrator.alter_column_type('meter_reading', 'energy_wh', FloatField(null=True)),
            migrator.alter_column_type('meter_reading', 'power_w', FloatField(null=True)))
