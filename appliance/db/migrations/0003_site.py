"""Site settings edited in the pages (generated from a schema diff; time defaults live in the
models)."""
from peewee import *

def up(migrator, db):
    class SiteSetting(Model):
        key = CharField(primary_key=True, max_length=64)
        value = TextField()
        updated_at = DateTimeField()
        updated_by = CharField(max_length=80, default='')
        class Meta:
            database = db
            table_name = 'site_setting'
    db.create_tables([SiteSetting])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('site_setting'))
