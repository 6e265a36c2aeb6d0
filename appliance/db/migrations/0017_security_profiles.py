"""Security profiles 2 and 3 (issue 19): each station's profile, an upgrade under way and its
outcome; the certificates the site CA signed for chargers; certificate commands and results."""
from peewee import *


def up(migrator, db):
    class Station(Model):
        class Meta:
            database = db
            table_name = 'station'

    migrator.migrate(
        migrator.add_column('station', 'security_profile', IntegerField(default=1)),
        migrator.add_column('station', 'profile_target', IntegerField(default=0)),
        migrator.add_column('station', 'profile_note', CharField(max_length=200, default='')))

    class StationCertificate(Model):
        station = ForeignKeyField(Station, on_delete='RESTRICT')
        common_name = CharField(max_length=64)
        serial = CharField(max_length=64, unique=True)
        fingerprint = CharField(max_length=100)
        not_before = DateTimeField()
        not_after = DateTimeField(index=True)
        issued_at = DateTimeField()
        revoked_at = DateTimeField(null=True)
        revoked_by = CharField(max_length=80, default='')
        class Meta:
            database = db
            table_name = 'station_certificate'

    class CertificateCommand(Model):
        station = ForeignKeyField(Station, on_delete='RESTRICT')
        action = CharField(max_length=40)
        request = TextField(default='')
        status = CharField(max_length=40, default='')
        result = TextField(default='')
        by = CharField(max_length=80, default='')
        at = DateTimeField(index=True)
        class Meta:
            database = db
            table_name = 'certificate_command'

    db.create_tables([StationCertificate, CertificateCommand])


def down(migrator, db):
    for table in ('certificate_command', 'station_certificate'):
        migrator.migrate(migrator.drop_table(table))
    migrator.migrate(migrator.drop_column('station', 'profile_note'),
                     migrator.drop_column('station', 'profile_target'),
                     migrator.drop_column('station', 'security_profile'))
