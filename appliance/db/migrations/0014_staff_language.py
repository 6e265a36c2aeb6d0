"""Each staff login may read the pages in its own language ("" follows the site's)."""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('staff_user', 'language', CharField(max_length=16, default='')))


def down(migrator, db):
    migrator.migrate(migrator.drop_column('staff_user', 'language'))
