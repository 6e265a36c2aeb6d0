"""Local authorization lists and site load management (issue 23): what each charger's local
list holds, the power groups and their members (time defaults live in the models)."""
from peewee import *


def up(migrator, db):
    class Station(Model):
        class Meta:
            database = db
            table_name = 'station'

    class LocalList(Model):
        station = ForeignKeyField(Station, unique=True, on_delete='CASCADE')
        version = IntegerField(default=0)
        entries = TextField(default='{}')
        current = BooleanField(default=False)
        wanted = IntegerField(default=0)
        max_length = IntegerField(null=True)
        problem = CharField(max_length=200, default='')
        checked_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'local_list'

    class PowerGroup(Model):
        name = CharField(max_length=64, unique=True)
        whole_site = BooleanField(default=False)
        limit_a = IntegerField(null=True)
        limit_kw = IntegerField(null=True)
        phases = IntegerField(default=3)
        voltage = IntegerField(default=230)
        min_a = IntegerField(default=6)
        default_a = IntegerField(default=6)
        commercial_first = BooleanField(default=False)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'power_group'

    class PowerMember(Model):
        station = ForeignKeyField(Station, unique=True, on_delete='CASCADE')
        group = ForeignKeyField(PowerGroup, null=True, on_delete='SET NULL')
        max_a = IntegerField(default=32)
        refused = BooleanField(default=False)
        refused_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'power_member'

    db.create_tables([LocalList, PowerGroup, PowerMember])


def down(migrator, db):
    for table in ('power_member', 'power_group', 'local_list'):
        migrator.migrate(migrator.drop_table(table))
