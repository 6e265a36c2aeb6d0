"""Issue 18, second part: an OCPP 2.0.1 EVSE with several connectors. The EVSE row keeps the
status the rest of the box reads (a session, a QR start and the reports are per EVSE); `plugs`
keeps each of its connectors' own status as JSON (null for an EVSE of one connector), and a
session the connector of its EVSE it ran on (null: the only one, or not said)."""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('connector', 'plugs', TextField(null=True)),
        migrator.add_column('charging_session', 'plug', IntegerField(null=True)))


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column('charging_session', 'plug'),
        migrator.drop_column('connector', 'plugs'))
