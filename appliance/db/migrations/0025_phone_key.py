"""Issue 24: a driver's phone number found by an index, not by reading every driver (creating
one on a site of 10,000 drivers was quadratic). `driver.phone_key` holds the number's key (the
last ten digits; a shorter number's all), filled here for the rows there are; the application
writes it with the phone from now on."""
import re

from peewee import *


def _key(phone):  # appliance.db.models.phone_key as it was when this ran
    digits = re.sub(r'\D', '', phone or '')
    return digits[-10:] if len(digits) >= 10 else digits


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('driver', 'phone_key', CharField(max_length=16, default='')),
        migrator.add_index('driver', ('phone_key',), False))
    rows = db.execute_sql("SELECT id, phone FROM driver WHERE phone != ''").fetchall()
    for row_id, phone in rows:
        if _key(phone):
            db.execute_sql(f'UPDATE driver SET phone_key = {db.param} WHERE id = {db.param}',
                           (_key(phone), row_id))


def down(migrator, db):
    migrator.migrate(
        migrator.drop_index('driver', 'driver_phone_key'),
        migrator.drop_column('driver', 'phone_key'))
