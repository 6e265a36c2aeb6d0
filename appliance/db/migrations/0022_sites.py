"""Issue 22, sites: the installation's sites (a box has one), which staff work at which sites,
and the site of every station, tariff, nightly report, API token and audit row. The one site is
made from today's settings (the values it owns leave the settings table) and every existing row
goes to it."""
import json

from peewee import *

# Site setting key -> the site's column.
OWN = {'site_name': 'name', 'legal_name': 'legal_name', 'tax_id': 'tax_id', 'address': 'address',
       'timezone': 'timezone', 'nightly_time': 'nightly_time', 'base_url': 'base_url',
       'holidays': 'holidays'}


def up(migrator, db):
    class StaffUser(Model):
        class Meta:
            database = db
            table_name = 'staff_user'

    class Site(Model):
        name = CharField(max_length=120, unique=True)
        legal_name = CharField(max_length=200, default='')
        tax_id = CharField(max_length=64, default='')
        address = TextField(default='')
        timezone = CharField(max_length=64, default='')
        nightly_time = CharField(max_length=5, default='')
        base_url = CharField(max_length=200, default='')
        holidays = TextField(default='')
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'site'

    class StaffSite(Model):
        staff = ForeignKeyField(StaffUser, on_delete='CASCADE', index=False)
        site = ForeignKeyField(Site, on_delete='RESTRICT')
        class Meta:
            database = db
            table_name = 'staff_site'
            indexes = ((('staff', 'site'), True),)

    db.create_tables([Site, StaffSite])
    p = db.param
    stored = {k: json.loads(v) for k, v in db.execute_sql(
        'SELECT key, value FROM site_setting').fetchall() if k in OWN}
    values = {column: str(stored.get(key) or '') for key, column in OWN.items()}
    values['name'] = values['name'] or 'Charging site'
    columns = ['id', *values, 'created_at']
    db.execute_sql(f'INSERT INTO site ({", ".join(columns)}) VALUES '
                   f'({", ".join([p] * len(columns))})',
                   (1, *values.values(), db.execute_sql('SELECT CURRENT_TIMESTAMP').fetchone()[0]))
    if not isinstance(db, SqliteDatabase):  # the id sequence goes past the site made here
        db.execute_sql("SELECT setval(pg_get_serial_sequence('site', 'id'), 1)")
    db.execute_sql(f'DELETE FROM site_setting WHERE key IN ({", ".join([p] * len(OWN))})',
                   tuple(OWN))
    migrator.migrate(
        migrator.add_column('station', 'site_id', IntegerField(default=1)),
        migrator.add_index('station', ('site_id',), False),
        migrator.add_column('tariff', 'site_id', IntegerField(default=1)),
        migrator.add_index('tariff', ('site_id',), False),
        migrator.add_column('api_token', 'site_id', IntegerField(null=True)),
        migrator.add_column('audit_log', 'site_id', IntegerField(null=True)),
        migrator.add_index('audit_log', ('site_id',), False),
        migrator.add_column('daily_report', 'site_id', IntegerField(default=1)),
        migrator.drop_index('daily_report', 'dailyreport_day'),
        migrator.add_index('daily_report', ('site_id', 'day'), True))


def down(migrator, db):
    p = db.param
    row = db.execute_sql(f'SELECT {", ".join(OWN.values())} FROM site WHERE id = 1').fetchone()
    for key, value in zip(OWN, row or ()):
        if value:  # the box's own values go back to its settings
            db.execute_sql(f'INSERT INTO site_setting (key, value, updated_at, updated_by) '
                           f'VALUES ({p}, {p}, CURRENT_TIMESTAMP, {p})',
                           (key, json.dumps(value), 'system'))
    migrator.migrate(
        migrator.drop_index('daily_report', 'daily_report_site_id_day'),
        migrator.drop_column('daily_report', 'site_id'),
        migrator.drop_index('audit_log', 'audit_log_site_id'),
        migrator.drop_column('audit_log', 'site_id'),
        migrator.drop_column('api_token', 'site_id'),
        migrator.drop_index('tariff', 'tariff_site_id'),
        migrator.drop_column('tariff', 'site_id'),
        migrator.drop_index('station', 'station_site_id'),
        migrator.drop_column('station', 'site_id'))
    db.execute_sql('CREATE UNIQUE INDEX dailyreport_day ON daily_report (day)')  # (its old name)
    for table in ('staff_site', 'site'):
        migrator.migrate(migrator.drop_table(table))
