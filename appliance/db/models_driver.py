"""Drivers' own logins (PIN, revocable phone sessions), QR starts with their holds, and numbered
receipts. Issue 6; the tables come with migration 0004_driver_pages."""

from __future__ import annotations

from peewee import (
    AutoField,
    BigIntegerField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
)

from appliance.db.models import Account, BaseModel, ChargingSession, Driver, Station, utcnow
from appliance.db.models_money import Hold


class DriverLogin(BaseModel):
    """A driver's PIN and its failure count and lock. `generation` counts PIN changes and the
    desk's logouts; the phone sessions themselves are rows of login_session (people.sessions)."""

    id = AutoField()
    driver = ForeignKeyField(Driver, unique=True, on_delete="RESTRICT")
    driver_id: int
    pin_hash = CharField(max_length=255, default="")
    generation = IntegerField(default=1)
    failures = IntegerField(default=0)  # PIN failures in a row; a lock after too many
    locked_at = DateTimeField(null=True)
    pin_set_at = DateTimeField(null=True)
    pin_set_by = CharField(max_length=80, default="")
    updated_at = DateTimeField(default=utcnow)


class QrStart(BaseModel):
    """One start from a connector's QR code: its own id tag (a form no card UID has), bound to
    its hold and owned by the driver. `slot` is set only while the start is pending, and is
    UNIQUE: two phones on one connector make one start. `idem_key` makes a double tap one."""

    id = AutoField()
    driver = ForeignKeyField(Driver, on_delete="RESTRICT")
    driver_id: int
    account = ForeignKeyField(Account, on_delete="RESTRICT")
    account_id: int
    station = ForeignKeyField(Station, on_delete="RESTRICT")
    station_id: int
    connector_id = IntegerField()
    id_tag = CharField(max_length=20, unique=True)  # upper case: the key chargers send back
    idem_key = CharField(max_length=200, unique=True)
    slot = CharField(max_length=40, null=True, unique=True)
    hold = ForeignKeyField(Hold, null=True, on_delete="RESTRICT")
    hold_id: int | None
    amount = BigIntegerField(default=0)  # the hold placed (minor units)
    limit_wh = BigIntegerField(null=True)  # the driver's energy limit, if any
    state = CharField(max_length=12, default="pending", index=True)
    message = CharField(max_length=200, default="")
    deadline_at = DateTimeField(null=True)
    session = ForeignKeyField(ChargingSession, null=True, on_delete="RESTRICT")
    session_id: int | None
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class Receipt(BaseModel):
    """A receipt number per charged session, given once, in order of issue."""

    id = AutoField()  # the receipt number
    session = ForeignKeyField(ChargingSession, unique=True, on_delete="RESTRICT")
    session_id: int
    created_at = DateTimeField(default=utcnow)


MODELS: list[type[Model]] = [DriverLogin, QrStart, Receipt]
