"""Drop the single-column indexes peewee made for foreign keys that a composite index already
leads with: each cost every insert into these tables (status events, connectors and the frame
log on every charger report) and served no query the composite does not."""


REDUNDANT = (
    ('connector', 'connector_station_id'),
    ('status_event', 'statusevent_station_id'),
    ('frame_log', 'framelog_station_id'),
    ('ledger_entry', 'ledgerentry_account_id'),
    ('daily_stat', 'dailystat_station_id'),
)


def up(migrator, db):
    migrator.migrate(*(migrator.drop_index(table, name) for table, name in REDUNDANT))


def down(migrator, db):
    columns = {'connector': 'station_id', 'status_event': 'station_id',
               'frame_log': 'station_id', 'ledger_entry': 'account_id',
               'daily_stat': 'station_id'}
    migrator.migrate(*(migrator.add_index(table, (columns[table],), False)
                       for table, _ in REDUNDANT))
