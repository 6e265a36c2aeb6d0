"""Issue 22, many processes on one PostgreSQL: a lease row per connected charger naming the
process that holds its socket (renewed every few seconds, taken over when it expires)."""
from peewee import *


def up(migrator, db):
    class Station(Model):
        class Meta:
            database = db
            table_name = 'station'

    class ChargerLease(Model):
        station = ForeignKeyField(Station, primary_key=True, on_delete='CASCADE')
        process = CharField(max_length=80, index=True)
        expires_at = DateTimeField(index=True)
        taken_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'charger_lease'

    db.create_tables([ChargerLease])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('charger_lease'))
