"""When the box is down and when the supply is short (issue 23): what each charger's local
authorization list holds, the site's power groups (a limit shared by the chargers behind one
feeder) and which group a charger belongs to. Migration 0018_offline_and_load."""

from __future__ import annotations

from peewee import (
    AutoField,
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from appliance.db.models import BaseModel, Station, utcnow


class LocalList(BaseModel):
    """The local list a charger holds as far as the box knows: the version it confirmed and
    the entries of that version (JSON {id tag key: [id tag, status, parent]})."""

    id = AutoField()
    station = ForeignKeyField(Station, unique=True, on_delete="CASCADE")
    station_id: int
    version = IntegerField(default=0)
    entries = TextField(default="{}")
    current = BooleanField(default=False)  # holds what the box wants it to hold
    wanted = IntegerField(default=0)  # how many entries the box wants it to hold
    max_length = IntegerField(null=True)  # LocalAuthListMaxLength, when the charger said
    problem = CharField(max_length=200, default="")  # why it is not current, for staff
    checked_at = DateTimeField(default=utcnow)


class PowerGroup(BaseModel):
    """A limit shared by chargers: the whole site's connection (`whole_site`) or one feeder.
    Limits are per phase in amperes, or in kW (converted at the group's voltage and phases)."""

    id = AutoField()
    name = CharField(max_length=64, unique=True)
    whole_site = BooleanField(default=False)  # chargers in no other group belong here
    limit_a = IntegerField(null=True)  # per phase
    limit_kw = IntegerField(null=True)
    phases = IntegerField(default=3)
    voltage = IntegerField(default=230)  # line to neutral
    min_a = IntegerField(default=6)  # below this a new session waits
    default_a = IntegerField(default=6)  # each charger's safe default when the box is away
    commercial_first = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)


class PowerMember(BaseModel):
    """A charger in a feeder group, and whether it refused our profiles (then it counts at its
    full power)."""

    id = AutoField()
    station = ForeignKeyField(Station, unique=True, on_delete="CASCADE")
    station_id: int
    group = ForeignKeyField(PowerGroup, null=True, on_delete="SET NULL")
    group_id: int | None
    max_a = IntegerField(default=32)  # what the charger can draw per phase
    refused = BooleanField(default=False)
    refused_at = DateTimeField(null=True)


MODELS: list[type[Model]] = [LocalList, PowerGroup, PowerMember]
