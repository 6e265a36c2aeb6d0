"""The frame log keeps one row per station and flush (a JSON list of frames) instead of one row
per frame: under load the per-frame rows were a seventh of the database writer's time. Existing
frames become one-frame rows."""
import json

from peewee import *


def _frames_json(at, direction, frame):
    moment = at if isinstance(at, str) else at.isoformat(sep=' ')
    return json.dumps([[moment.replace(' ', 'T'), direction, frame]], ensure_ascii=False)


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('frame_log', 'count', IntegerField(default=1)),
        migrator.add_column('frame_log', 'frames', TextField(default='[]')))
    rows = db.execute_sql('SELECT id, at, direction, frame FROM frame_log').fetchall()
    param = db.param
    for row_id, at, direction, frame in rows:
        db.execute_sql(f'UPDATE frame_log SET frames = {param} WHERE id = {param}',
                       (_frames_json(at, direction, frame), row_id))
    migrator.migrate(
        migrator.drop_column('frame_log', 'direction'),
        migrator.drop_column('frame_log', 'frame'))


def down(migrator, db):
    migrator.migrate(
        migrator.add_column('frame_log', 'direction', CharField(max_length=3, default='in')),
        migrator.add_column('frame_log', 'frame', TextField(default='')))
    rows = db.execute_sql('SELECT id, frames FROM frame_log').fetchall()
    param = db.param
    for row_id, frames in rows:
        last = (json.loads(frames) or [['', 'in', '']])[-1]
        db.execute_sql(f'UPDATE frame_log SET direction = {param}, frame = {param} '
                       f'WHERE id = {param}', (last[1], last[2], row_id))
    migrator.migrate(
        migrator.drop_column('frame_log', 'count'),
        migrator.drop_column('frame_log', 'frames'))
