"""A station's previous key, kept through an AuthorizationKey rotation until the charger first
logs in with the new one."""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('station', 'key_hash_prev', CharField(max_length=128, default='')))


def down(migrator, db):
    migrator.migrate(migrator.drop_column('station', 'key_hash_prev'))
