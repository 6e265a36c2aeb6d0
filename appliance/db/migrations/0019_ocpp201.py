"""Issue 18, OCPP 2.0.1 beside 1.6: the version a station last spoke and an optional pin to one
version, its device model as reported (NotifyReport), and a session's text reference for the
charger's own transaction ids (unique per station; 1.6 sessions keep theirs in transaction_id),
and the kind of token a card must come as (2.0.1's IdToken type; "" for any)."""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('station', 'ocpp_version', CharField(max_length=8, default='')),
        migrator.add_column('station', 'ocpp_pin', CharField(max_length=8, default='')),
        migrator.add_column('station', 'device_model', TextField(default='')),
        migrator.add_column('charging_session', 'tx_ref', CharField(max_length=36, null=True)),
        migrator.add_column('id_tag', 'token_type', CharField(max_length=16, default='')),
        migrator.add_index('charging_session', ('station_id', 'tx_ref'), True))


def down(migrator, db):
    migrator.migrate(
        migrator.drop_index('charging_session', 'charging_session_station_id_tx_ref'),
        migrator.drop_column('charging_session', 'tx_ref'),
        migrator.drop_column('id_tag', 'token_type'),
        migrator.drop_column('station', 'device_model'),
        migrator.drop_column('station', 'ocpp_pin'),
        migrator.drop_column('station', 'ocpp_version'))
