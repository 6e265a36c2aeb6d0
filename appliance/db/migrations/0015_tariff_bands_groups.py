"""Tariffs as sites price (issue 21): time-of-day and day-type bands, an idle fee cap, driver
groups on drivers and assignments, and every saved state of a tariff kept as a version."""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('tariff', 'bands', TextField(default='[]')),
        migrator.add_column('tariff', 'idle_cap', BigIntegerField(default=0)),
        migrator.add_column('tariff', 'version', IntegerField(default=1)),
        migrator.add_column('driver', 'price_group', CharField(max_length=40, default='')),
        migrator.add_column('tariff_assignment', 'driver_group',
                            CharField(max_length=40, default='')),
        migrator.alter_column_type('tariff_assignment', 'scope',
                                   CharField(max_length=140, unique=True)))

    class Tariff(Model):
        class Meta:
            database = db
            table_name = 'tariff'

    class TariffVersion(Model):
        tariff = ForeignKeyField(Tariff, on_delete='RESTRICT', index=False)
        version = IntegerField()
        snapshot = TextField()
        actor = CharField(max_length=80, default='')
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = 'tariff_version'
            indexes = ((('tariff', 'version'), True),)
    db.create_tables([TariffVersion])


def down(migrator, db):
    migrator.migrate(
        migrator.drop_table('tariff_version'),
        migrator.drop_column('tariff', 'bands'),
        migrator.drop_column('tariff', 'idle_cap'),
        migrator.drop_column('tariff', 'version'),
        migrator.drop_column('driver', 'price_group'),
        migrator.drop_column('tariff_assignment', 'driver_group'))
