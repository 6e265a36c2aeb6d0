"""Charging sessions found by card, account or connector together with their state: composite
indexes replace the single-column ones, which SQLite (without statistics) passed over for the
state index, so each StartTransaction's "is this card already charging?" walked every active
session of the site (measured: half the database writer's time with 10,000 chargers)."""


def up(migrator, db):
    migrator.migrate(
        migrator.add_index('charging_session', ('id_tag_key', 'state'), False),
        migrator.add_index('charging_session', ('account_id', 'state'), False),
        migrator.add_index('charging_session', ('station_id', 'connector_id', 'state'), False),
        migrator.drop_index('charging_session', 'chargingsession_id_tag_key'),
        migrator.drop_index('charging_session', 'charging_session_account_id'),
        migrator.drop_index('charging_session', 'chargingsession_station_id'))


def down(migrator, db):
    migrator.migrate(
        migrator.add_index('charging_session', ('id_tag_key',), False),
        migrator.add_index('charging_session', ('account_id',), False),
        migrator.add_index('charging_session', ('station_id',), False),
        migrator.drop_index('charging_session', 'charging_session_id_tag_key_state'),
        migrator.drop_index('charging_session', 'charging_session_account_id_state'),
        migrator.drop_index('charging_session', 'charging_session_station_id_connector_id_state'))
