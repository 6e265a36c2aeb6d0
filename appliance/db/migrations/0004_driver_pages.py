"""Drivers' pages: PIN logins with revocable phone sessions, QR starts bound to their holds,
numbered receipts (generated from a schema diff; time defaults live in the models)."""
from peewee import *


def up(migrator, db):
    class Account(Model):
        class Meta:
            database = db
            table_name = 'account'

    class ChargingSession(Model):
        class Meta:
            database = db
            table_name = 'charging_session'

    class Driver(Model):
        class Meta:
            database = db
            table_name = 'driver'

    class Hold(Model):
        class Meta:
            database = db
            table_name = 'hold'

    class Station(Model):
        class Meta:
            database = db
            table_name = 'station'

    class DriverLogin(Model):
        driver = ForeignKeyField(Driver, unique=True, on_delete='RESTRICT')
        pin_hash = CharField(default='')
        generation = IntegerField(default=1)
        failures = IntegerField(default=0)
        locked_at = DateTimeField(null=True)
        pin_set_at = DateTimeField(null=True)
        pin_set_by = CharField(max_length=80, default='')
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'driver_login'
    db.create_tables([DriverLogin])

    class QrStart(Model):
        driver = ForeignKeyField(Driver, on_delete='RESTRICT')
        account = ForeignKeyField(Account, on_delete='RESTRICT')
        station = ForeignKeyField(Station, on_delete='RESTRICT')
        connector_id = IntegerField()
        id_tag = CharField(unique=True, max_length=20)
        idem_key = CharField(unique=True, max_length=200)
        slot = CharField(unique=True, null=True, max_length=40)
        hold = ForeignKeyField(Hold, null=True, on_delete='RESTRICT')
        amount = BigIntegerField(default=0)
        limit_wh = BigIntegerField(null=True)
        state = CharField(index=True, max_length=12, default='pending')
        message = CharField(max_length=200, default='')
        deadline_at = DateTimeField(null=True)
        session = ForeignKeyField(ChargingSession, null=True, on_delete='RESTRICT')
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'qr_start'
    db.create_tables([QrStart])

    class Receipt(Model):
        session = ForeignKeyField(ChargingSession, unique=True, on_delete='RESTRICT')
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'receipt'
    db.create_tables([Receipt])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('receipt'))
    migrator.migrate(migrator.drop_table('qr_start'))
    migrator.migrate(migrator.drop_table('driver_login'))
