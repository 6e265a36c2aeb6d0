"""Meter values as one row per moment (`meter_reading`: the energy register and power read by
the phase rule, and the moment's sampled values as JSON) instead of one row per sampled value
(`meter_sample`). Existing samples are grouped into readings: the rows one message wrote are
consecutive and share station, connector, session, timestamp and arrival time."""
import json

from peewee import *

ENERGY = 'Energy.Active.Import.Register'
POWER = 'Power.Active.Import'
CHUNK = 20000


def _reading(rows, measurand):
    # DESIGN's phase rule: the phase-less (or Outlet) value, else the sum of L1..L3.
    whole, phases = None, {}
    for r in rows:
        if r[6] != measurand or r[12] is None:
            continue
        if not r[7]:
            if whole is None or r[8] == 'Outlet':
                whole = r[12]
        elif r[7] in ('L1', 'L2', 'L3'):
            phases[r[7]] = r[12]
    return whole if whole is not None else (sum(phases.values()) if phases else None)


def _sampled(rows):
    out = []
    for r in rows:
        sv = {'value': r[11]}
        for key, value in (('context', r[9]), ('measurand', r[6]), ('phase', r[7]),
                           ('location', r[8]), ('unit', r[10])):
            if value:
                sv[key] = value
        if r[13]:
            sv['format'] = 'SignedData'
        out.append(sv)
    return json.dumps(out, separators=(',', ':'), ensure_ascii=False)


def up(migrator, db):
    class ChargingSession(Model):
        class Meta:
            database = db
            table_name = 'charging_session'

    class MeterReading(Model):
        station_id = IntegerField()  # no foreign key: see the model
        connector_id = IntegerField()
        session = ForeignKeyField(ChargingSession, null=True, on_delete='SET NULL', index=False)
        timestamp = DateTimeField()
        received_at = DateTimeField()
        context = CharField(max_length=24, default='')
        energy_wh = FloatField(null=True)
        power_w = FloatField(null=True)
        sampled = TextField(default='[]')
        class Meta:
            database = db
            table_name = 'meter_reading'
            indexes = ((('session', 'timestamp'), False), (('timestamp',), False))
    db.create_tables([MeterReading])
    db.execute_sql('CREATE INDEX meterreading_loose_station ON meter_reading (station_id) '
                   'WHERE session_id IS NULL')

    p = db.param
    columns = ('id, station_id, connector_id, session_id, timestamp, received_at, measurand, '
               'phase, location, context, unit, raw_value, value, signed')
    last_id, group = 0, []

    def flush(groups):
        MeterReading.insert_many([
            {'station_id': g[0][1], 'connector_id': g[0][2], 'session': g[0][3],
             'timestamp': g[0][4], 'received_at': g[0][5], 'context': g[0][9] or '',
             'energy_wh': _reading(g, ENERGY), 'power_w': _reading(g, POWER),
             'sampled': _sampled(g)} for g in groups]).execute()

    while True:
        rows = db.execute_sql(f'SELECT {columns} FROM meter_sample WHERE id > {p} '
                              f'ORDER BY id LIMIT {CHUNK}', (last_id,)).fetchall()
        if not rows:
            break
        last_id = rows[-1][0]
        done = []
        for row in rows:
            if group and tuple(group[0][1:6]) != tuple(row[1:6]):
                done.append(group)
                group = []
            group.append(row)
        for i in range(0, len(done), 500):
            flush(done[i:i + 500])
    if group:
        flush([group])
    migrator.migrate(migrator.drop_table('meter_sample'))


def down(migrator, db):
    raise RuntimeError('meter readings cannot be split back into per-value rows; '
                       'restore the backup taken before the upgrade instead')
