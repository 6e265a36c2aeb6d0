"""Stored daily statistics, nightly reports and downsampled session curves (generated from a
schema diff; time defaults live in the models)."""
from peewee import *

def up(migrator, db):
    class ChargingSession(Model):
        class Meta:
            database = db
            table_name = 'charging_session'

    class Station(Model):
        class Meta:
            database = db
            table_name = 'station'

    class DailyReport(Model):
        day = DateField(unique=True)
        data = TextField()
        ledger_ok = BooleanField(default=True)
        anomalies = IntegerField(default=0)
        mail_status = CharField(max_length=16, default='')
        mail_error = TextField(default='')
        mail_at = DateTimeField(null=True)
        computed_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'daily_report'
    db.create_tables([DailyReport])

    class DailyStat(Model):
        station = ForeignKeyField(Station, on_delete='RESTRICT')
        connector_id = IntegerField()
        day = DateField(index=True)
        charging_s = FloatField(default=0)
        available_s = FloatField(default=0)
        faulted_s = FloatField(default=0)
        energy_wh = BigIntegerField(default=0)
        fees_minor = BigIntegerField(default=0)
        sessions = IntegerField(default=0)
        drivers = IntegerField(default=0)
        computed_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'daily_stat'
            indexes = ((('station', 'connector_id', 'day'), True),)
    db.create_tables([DailyStat])

    class SessionCurve(Model):
        session = ForeignKeyField(ChargingSession, primary_key=True, on_delete='RESTRICT')
        points = TextField()
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'session_curve'
    db.create_tables([SessionCurve])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('session_curve'))
    migrator.migrate(migrator.drop_table('daily_stat'))
    migrator.migrate(migrator.drop_table('daily_report'))
