"""The first schema, frozen: generated once from the models by playhouse.migrations.

Time defaults (utcnow) live in the models, not in the schema: every insert goes through them."""
from peewee import *


def up(migrator, db):
    class ApiToken(Model):
        name = CharField(unique=True, max_length=64)
        role = CharField(max_length=8)
        token_hash = CharField(unique=True, max_length=64)
        created_at = DateTimeField()
        last_used_at = DateTimeField(null=True)
        revoked_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'api_token'
    db.create_tables([ApiToken])

    class AuditLog(Model):
        actor = CharField(max_length=80)
        action = CharField(max_length=80)
        target = CharField(max_length=120, default='')
        detail = TextField(default='')
        at = DateTimeField(index=True)
        class Meta:
            database = db
            table_name = 'audit_log'
    db.create_tables([AuditLog])

    class Station(Model):
        cpid = CharField(max_length=48)
        key = CharField(unique=True, max_length=48)
        description = TextField(default='')
        approved = BooleanField(default=False)
        registration = CharField(max_length=16, default='Pending')
        auth_mode = CharField(max_length=8, default='basic')
        key_salt = CharField(max_length=64, default='')
        key_hash = CharField(max_length=128, default='')
        managed = BooleanField(default=True)
        allow_no_subprotocol = BooleanField(default=False)
        vendor = CharField(max_length=64, default='')
        model = CharField(max_length=64, default='')
        serial = CharField(max_length=64, default='')
        box_serial = CharField(max_length=64, default='')
        firmware = CharField(max_length=64, default='')
        iccid = CharField(max_length=32, default='')
        imsi = CharField(max_length=32, default='')
        meter_type = CharField(max_length=32, default='')
        meter_serial = CharField(max_length=32, default='')
        num_connectors = IntegerField(default=0)
        online = BooleanField(default=False)
        last_boot_at = DateTimeField(null=True)
        last_seen_at = DateTimeField(null=True)
        first_seen_at = DateTimeField()
        firmware_status = CharField(max_length=32, default='')
        diagnostics_status = CharField(max_length=32, default='')
        log_status = CharField(max_length=32, default='')
        created_at = DateTimeField()
        retired_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'station'
    db.create_tables([Station])

    class ChargingSession(Model):
        station = ForeignKeyField(Station, on_delete='RESTRICT')
        connector_id = IntegerField()
        transaction_id = IntegerField(unique=True)
        start_key = CharField(unique=True, max_length=200)
        id_tag = CharField(max_length=20)
        id_tag_key = CharField(index=True, max_length=20)
        start_status = CharField(max_length=16)
        reservation_id = IntegerField(null=True)
        meter_start = BigIntegerField(null=True)
        meter_stop = BigIntegerField(null=True)
        charger_start_time = DateTimeField(null=True)
        received_start_at = DateTimeField()
        started_at = DateTimeField(index=True)
        charger_stop_time = DateTimeField(null=True)
        received_stop_at = DateTimeField(null=True)
        stopped_at = DateTimeField(null=True)
        stop_reason = CharField(max_length=32, default='')
        stop_id_tag = CharField(max_length=20, default='')
        state = CharField(index=True, max_length=12, default='active')
        energy_wh = BigIntegerField(default=0)
        last_register_wh = BigIntegerField(null=True)
        first_register_wh = BigIntegerField(null=True)
        power_w = IntegerField(null=True)
        flags = TextField(default='')
        start_frame = TextField(default='')
        stop_frame = TextField(default='')
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'charging_session'
    db.create_tables([ChargingSession])

    class Connector(Model):
        station = ForeignKeyField(Station, on_delete='RESTRICT')
        connector_id = IntegerField()
        status = CharField(max_length=16, default='Unknown')
        error_code = CharField(max_length=32, default='NoError')
        info = CharField(max_length=50, default='')
        vendor_id = CharField(default='')
        vendor_error_code = CharField(max_length=50, default='')
        status_at = DateTimeField(null=True)
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'connector'
            indexes = ((('station', 'connector_id'), True),)
    db.create_tables([Connector])

    class Counter(Model):
        name = CharField(primary_key=True, max_length=32)
        value = BigIntegerField(default=0)
        class Meta:
            database = db
            table_name = 'counter'
    db.create_tables([Counter])

    class FrameLog(Model):
        station = ForeignKeyField(Station, on_delete='CASCADE')
        direction = CharField(max_length=3)
        frame = TextField()
        at = DateTimeField()
        class Meta:
            database = db
            table_name = 'frame_log'
            indexes = ((('station', 'id'), False),)
    db.create_tables([FrameLog])

    class IdTag(Model):
        id_tag = CharField(max_length=20)
        key = CharField(unique=True, max_length=20)
        status = CharField(max_length=16, default='Accepted')
        expiry = DateTimeField(null=True)
        parent_id_tag = CharField(max_length=20, default='')
        note = TextField(default='')
        created_at = DateTimeField()
        updated_at = DateTimeField()
        retired_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'id_tag'
    db.create_tables([IdTag])

    class MeterSample(Model):
        station = ForeignKeyField(Station, on_delete='RESTRICT')
        connector_id = IntegerField()
        session = ForeignKeyField(ChargingSession, null=True, on_delete='SET NULL')
        timestamp = DateTimeField()
        received_at = DateTimeField()
        measurand = CharField(max_length=40)
        phase = CharField(max_length=8, default='')
        location = CharField(max_length=8, default='')
        context = CharField(max_length=24, default='')
        unit = CharField(max_length=12, default='')
        raw_value = TextField()
        value = FloatField(null=True)
        signed = BooleanField(default=False)
        class Meta:
            database = db
            table_name = 'meter_sample'
            indexes = ((('session', 'timestamp'), False), (('station', 'timestamp'), False))
    db.create_tables([MeterSample])

    class SecurityEvent(Model):
        station = ForeignKeyField(Station, null=True, on_delete='SET NULL')
        cpid = CharField(max_length=48, default='')
        type = CharField(max_length=50)
        tech_info = TextField(default='')
        origin = CharField(max_length=8, default='charger')
        charger_time = DateTimeField(null=True)
        received_at = DateTimeField(index=True)
        class Meta:
            database = db
            table_name = 'security_event'
    db.create_tables([SecurityEvent])

    class StaffUser(Model):
        username = CharField(unique=True, max_length=64)
        role = CharField(max_length=8)
        password_hash = CharField()
        created_at = DateTimeField()
        disabled = BooleanField(default=False)
        class Meta:
            database = db
            table_name = 'staff_user'
    db.create_tables([StaffUser])

    class StationNotice(Model):
        station = ForeignKeyField(Station, on_delete='RESTRICT')
        kind = CharField(max_length=40)
        payload = TextField()
        received_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'station_notice'
    db.create_tables([StationNotice])

    class StatusEvent(Model):
        station = ForeignKeyField(Station, on_delete='RESTRICT')
        connector_id = IntegerField()
        status = CharField(max_length=16)
        error_code = CharField(max_length=32)
        info = CharField(max_length=50, default='')
        vendor_id = CharField(default='')
        vendor_error_code = CharField(max_length=50, default='')
        charger_time = DateTimeField(null=True)
        received_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'status_event'
            indexes = ((('station', 'connector_id', 'received_at'), False),)
    db.create_tables([StatusEvent])

    class UnknownTag(Model):
        key = CharField(unique=True, max_length=20)
        id_tag = CharField(max_length=20)
        station = ForeignKeyField(Station, null=True, on_delete='SET NULL')
        connector_id = IntegerField(null=True)
        source = CharField(max_length=16, default='charger')
        first_seen_at = DateTimeField()
        last_seen_at = DateTimeField()
        count = IntegerField(default=1)
        class Meta:
            database = db
            table_name = 'unknown_tag'
    db.create_tables([UnknownTag])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('unknown_tag'))
    migrator.migrate(migrator.drop_table('status_event'))
    migrator.migrate(migrator.drop_table('station_notice'))
    migrator.migrate(migrator.drop_table('staff_user'))
    migrator.migrate(migrator.drop_table('security_event'))
    migrator.migrate(migrator.drop_table('meter_sample'))
    migrator.migrate(migrator.drop_table('id_tag'))
    migrator.migrate(migrator.drop_table('frame_log'))
    migrator.migrate(migrator.drop_table('counter'))
    migrator.migrate(migrator.drop_table('connector'))
    migrator.migrate(migrator.drop_table('charging_session'))
    migrator.migrate(migrator.drop_table('station'))
    migrator.migrate(migrator.drop_table('audit_log'))
    migrator.migrate(migrator.drop_table('api_token'))
