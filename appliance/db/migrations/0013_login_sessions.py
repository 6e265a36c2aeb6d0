"""Login sessions on the server (issue 15): logout, resets and disabling end them at once, and
drivers' phone sessions slide and expire."""
from peewee import *


def up(migrator, db):
    class LoginSession(Model):
        kind = CharField(max_length=8)
        person_id = IntegerField()
        token_hash = CharField(max_length=64, unique=True)
        created_at = DateTimeField()
        seen_at = DateTimeField()
        expires_at = DateTimeField()
        ended_at = DateTimeField(null=True)
        ended_why = CharField(max_length=16, default='')
        address = CharField(max_length=64, default='')
        class Meta:
            database = db
            table_name = 'login_session'
            indexes = ((('kind', 'person_id'), False),)
    db.create_tables([LoginSession])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('login_session'))
