"""Peewee models of the appliance. They are bound to a database at start (`Database.start`);
schema changes go through numbered migrations in `appliance/db/migrations`, never `create_tables`.

Times are UTC, energy integer Wh, power integer W, money integer minor units. The ledger, holds
and tariffs are `models_money.py`'s, staff and tokens `models_people.py`'s; other rooms' tables
are in the other `models_*.py`."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from peewee import (
    AutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    DateTimeField,
    DoesNotExist,
    DoubleField,
    ForeignKeyField,
    IntegerField,
    Model,
    ModelIndex,
    TextField,
)

from appliance.db import saving

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Self, TypeVar

    from peewee import ModelDelete, ModelSelect

    _M = TypeVar("_M", bound="BaseModel")

    class TupleRows(ModelSelect[Any]):
        def __iter__(self) -> Iterator[tuple[Any, ...]]: ...

    class TypedSelect(ModelSelect[_M]):
        """A model's select for the type checker: the stubs say `.tuples()` still yields model
        instances; peewee yields tuples."""

        def tuples(self, as_tuple: bool = True) -> TupleRows: ...  # type: ignore[override]


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class BaseModel(Model):
    # For the type checker only (no values, nothing changes at runtime): peewee gives every model
    # its own DoesNotExist and every foreign key `x` an `x_id` attribute, which the stubs do not
    # know; the models declare each `x_id` under its field.
    DoesNotExist: ClassVar[type[DoesNotExist]]

    if TYPE_CHECKING:
        @classmethod
        def select(cls, *fields: Any) -> TypedSelect[Self]: ...

        # The stubs' `delete` (a generic class variable) cannot be called through a class.
        @classmethod
        def delete(cls) -> ModelDelete: ...

    def save(self, force_insert: bool = False, only: Any = None) -> Any:
        """peewee's `save`, through SQL written once per model and columns (`db/saving.py`)."""
        return saving.save(self, force_insert, only, super().save)

    class Meta:
        legacy_table_names = False
        # save() writes the fields that changed, not every column: a StartTransaction saved a
        # 36-column session row twice, and building those UPDATEs was a tenth of the writer's
        # time at 10,000 chargers (and a stale field of a loaded row can never be written back).
        only_save_dirty = True


class Station(BaseModel):
    """A charge point. `key` is the upper-cased id: ids differing only by case are one station."""

    id = AutoField()
    cpid = CharField(max_length=48)
    key = CharField(max_length=48, unique=True)
    site_id = IntegerField(default=1, index=True)  # its site (db.models_site.Site); 1 on a box
    description = TextField(default="")
    approved = BooleanField(default=False)
    registration = CharField(max_length=16, default="Pending")  # last answer to BootNotification
    auth_mode = CharField(max_length=8, default="basic")  # basic | none
    key_salt = CharField(max_length=64, default="")
    key_hash = CharField(max_length=128, default="")
    # The key before a rotation: valid until the charger's first login with the new one.
    key_hash_prev = CharField(max_length=128, default="")
    managed = BooleanField(default=True)
    allow_no_subprotocol = BooleanField(default=False)
    # The OCPP version of its last connection ("1.6" or "2.0.1"); a pin keeps it on one version
    # even when it offers both ("" lets the endpoint prefer the newer).
    ocpp_version = CharField(max_length=8, default="")
    ocpp_pin = CharField(max_length=8, default="")
    # What the charger reported of itself (OCPP 2.0.1 NotifyReport): JSON, variable -> attributes.
    device_model = TextField(default="")
    vendor = CharField(max_length=64, default="")
    model = CharField(max_length=64, default="")
    serial = CharField(max_length=64, default="")
    box_serial = CharField(max_length=64, default="")
    firmware = CharField(max_length=64, default="")
    iccid = CharField(max_length=32, default="")
    imsi = CharField(max_length=32, default="")
    meter_type = CharField(max_length=32, default="")
    meter_serial = CharField(max_length=32, default="")
    num_connectors = IntegerField(default=0)
    declared_connectors = IntegerField(null=True)  # NumberOfConnectors, when the charger said
    max_power_w = IntegerField(null=True)  # what staff know it delivers at most
    online = BooleanField(default=False)
    last_boot_at = DateTimeField(null=True)
    last_seen_at = DateTimeField(null=True)
    first_seen_at = DateTimeField(default=utcnow)
    firmware_status = CharField(max_length=32, default="")
    diagnostics_status = CharField(max_length=32, default="")
    log_status = CharField(max_length=32, default="")
    # Security profile (1 Basic auth, 2 TLS + Basic auth, 3 TLS with a client certificate):
    # never lower on a connection. `profile_target` is an upgrade under way (0: none), and
    # `profile_note` what the last upgrade came to.
    security_profile = IntegerField(default=1)
    profile_target = IntegerField(default=0)
    profile_note = CharField(max_length=200, default="")
    created_at = DateTimeField(default=utcnow)
    retired_at = DateTimeField(null=True)


class Connector(BaseModel):
    id = AutoField()
    station = ForeignKeyField(Station, backref="connectors", on_delete="RESTRICT",
                              index=False)  # (station, connector) is its index
    station_id: int
    connector_id = IntegerField()
    status = CharField(max_length=16, default="Unknown")
    error_code = CharField(max_length=32, default="NoError")
    info = CharField(max_length=50, default="")
    vendor_id = CharField(max_length=255, default="")
    vendor_error_code = CharField(max_length=50, default="")
    status_at = DateTimeField(null=True)  # the charger's timestamp, else receipt
    updated_at = DateTimeField(default=utcnow)
    # An OCPP 2.0.1 EVSE of several connectors: each one's status, JSON
    # {"<connector id>": {"status": ..., "since": ...}}; null for one connector (and 1.6).
    plugs = TextField(null=True)

    class Meta:
        indexes = ((("station", "connector_id"), True),)


class StatusEvent(BaseModel):
    """Status history of a connector (connector_id 0 is the station itself)."""

    id = AutoField()
    station = ForeignKeyField(Station, on_delete="RESTRICT",
                              index=False)  # (station, connector, time) is its index
    station_id: int
    connector_id = IntegerField()
    status = CharField(max_length=16)
    error_code = CharField(max_length=32)
    info = CharField(max_length=50, default="")
    vendor_id = CharField(max_length=255, default="")
    vendor_error_code = CharField(max_length=50, default="")
    charger_time = DateTimeField(null=True)
    received_at = DateTimeField(default=utcnow, index=True)  # today's events: hours charging

    class Meta:
        indexes = ((("station", "connector_id", "received_at"), False),)


def phone_key(phone: str) -> str:
    """The digits that identify a phone number: the last ten, with or without a country code or
    a leading 0 (a shorter number: all its digits). "" for no digits."""
    digits = re.sub(r"\D", "", phone)
    return digits[-10:] if len(digits) >= 10 else digits


class Driver(BaseModel):
    """A registered driver. `group_tag` is sent as parentIdTag for all their cards, so any of
    their cards can stop their session. `phone_key` is `phone_key(phone)`, written with the
    phone (`billing.accounts`), so that finding a driver by number is an index look-up."""

    id = AutoField()
    name = CharField(max_length=120)
    phone = CharField(max_length=40, default="", index=True)
    phone_key = CharField(max_length=16, default="", index=True)
    email = CharField(max_length=120, default="")
    note = TextField(default="")
    language = CharField(max_length=16, default="")
    group_tag = CharField(max_length=20, unique=True)
    blocked = BooleanField(default=False)
    price_group = CharField(max_length=40, default="")  # fleet, employees, ...: group tariffs
    overdraft_minor = BigIntegerField(null=True)  # null: the site default
    created_at = DateTimeField(default=utcnow)
    retired_at = DateTimeField(null=True)


class Account(BaseModel):
    """One prepaid account per driver. `balance` and `held` are caches of ledger sums, kept in
    step in the same call that posts an entry; `appliance check` proves they agree."""

    id = AutoField()
    driver = ForeignKeyField(Driver, unique=True, backref="accounts", on_delete="RESTRICT")
    driver_id: int
    currency = CharField(max_length=3)
    balance = BigIntegerField(default=0)
    held = BigIntegerField(default=0)
    updated_at = DateTimeField(default=utcnow)


class IdTag(BaseModel):
    """A card or other OCPP id tag. `key` is the upper-cased tag (CiString20 compare)."""

    id = AutoField()
    id_tag = CharField(max_length=20)
    key = CharField(max_length=20, unique=True)
    status = CharField(max_length=16, default="Accepted")  # Accepted|Blocked|Expired|Invalid
    expiry = DateTimeField(null=True)
    parent_id_tag = CharField(max_length=20, default="")
    note = TextField(default="")
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    retired_at = DateTimeField(null=True)
    driver = ForeignKeyField(Driver, null=True, backref="cards", on_delete="RESTRICT")
    driver_id: int | None
    mode = CharField(max_length=12, default="personal")  # personal | commercial
    last_refusal = CharField(max_length=120, default="")  # why money refused it, for staff
    # The kind of token it must come as (OCPP 2.0.1 IdToken type: ISO14443, KeyCode, ...);
    # "" accepts it as any kind (and 1.6 chargers name no kind).
    token_type = CharField(max_length=16, default="")


class UnknownTag(BaseModel):
    """Tags presented somewhere that we do not know, so staff can register them."""

    id = AutoField()
    key = CharField(max_length=20, unique=True)
    id_tag = CharField(max_length=20)
    station = ForeignKeyField(Station, null=True, on_delete="SET NULL")
    station_id: int | None
    connector_id = IntegerField(null=True)
    source = CharField(max_length=16, default="charger")  # charger | reader
    first_seen_at = DateTimeField(default=utcnow)
    last_seen_at = DateTimeField(default=utcnow)
    count = IntegerField(default=1)


TX_COUNTER = "transaction_id"  # the Counter row that hands out OCPP 1.6 transaction ids


class Counter(BaseModel):
    """Named monotonic counters (OCPP transaction ids). Restore moves them far ahead."""

    name = CharField(max_length=32, primary_key=True)
    value = BigIntegerField(default=0)


class ChargingSession(BaseModel):
    """One OCPP transaction. `start_key` makes a repeated StartTransaction find the same row."""

    id = AutoField()
    station = ForeignKeyField(Station, backref="sessions", on_delete="RESTRICT",
                              index=False)  # (station, connector, state) is its index
    station_id: int
    connector_id = IntegerField()
    transaction_id = IntegerField(unique=True)
    # The charger's own transaction reference when it has one (OCPP 2.0.1's transactionId);
    # null for 1.6, whose reference is `transaction_id`. Unique per station.
    tx_ref = CharField(max_length=36, null=True)
    # The connector of a 2.0.1 EVSE the session ran on (null: not said, or 1.6).
    plug = IntegerField(null=True)
    start_key = CharField(max_length=200, unique=True)
    id_tag = CharField(max_length=20)
    id_tag_key = CharField(max_length=20)  # (id_tag_key, state) is its index
    start_status = CharField(max_length=16)  # the idTagInfo status we answered
    reservation_id = IntegerField(null=True)
    meter_start = BigIntegerField(null=True)  # Wh as reported, null if unreadable
    meter_stop = BigIntegerField(null=True)
    charger_start_time = DateTimeField(null=True)
    received_start_at = DateTimeField(default=utcnow)
    started_at = DateTimeField(index=True)  # the time we bill on
    charger_stop_time = DateTimeField(null=True)
    received_stop_at = DateTimeField(null=True)
    stopped_at = DateTimeField(null=True)
    stop_reason = CharField(max_length=32, default="")
    stop_id_tag = CharField(max_length=20, default="")
    state = CharField(max_length=12, default="active")  # active|completed|suspect
    energy_wh = BigIntegerField(default=0)
    last_register_wh = BigIntegerField(null=True)  # newest Energy.Active.Import.Register
    first_register_wh = BigIntegerField(null=True)
    power_w = IntegerField(null=True)
    flags = TextField(default="")  # comma-separated oddities for staff
    start_frame = TextField(default="")
    stop_frame = TextField(default="")
    updated_at = DateTimeField(default=utcnow)
    # Money: who pays (the start tag's driver), the tariff it started with, and the settlement.
    driver = ForeignKeyField(Driver, null=True, on_delete="RESTRICT")
    driver_id: int | None
    account = ForeignKeyField(Account, null=True, on_delete="RESTRICT",
                              index=False)  # (account, state) is its index
    account_id: int | None
    mode = CharField(max_length=12, default="none")  # personal | commercial | none
    auth_reason = CharField(max_length=120, default="")
    tariff_snapshot = TextField(default="")  # JSON, see billing.tariffs.snapshot
    fee_minor = BigIntegerField(null=True)
    fee_breakdown = TextField(default="")  # JSON of the priced components
    settled = BooleanField(default=False)
    stop_requested = CharField(max_length=32, default="")  # why the server stopped it
    # A banded tariff's running figure (billing.running): JSON, null until its first sample
    band_run = TextField(null=True)

    class Meta:
        # Composite with the state, so that "this card's / account's / connector's active
        # session" never walks the state index (every active session of the site: a 10,000-
        # charger site has 20,000), which SQLite picks for lack of statistics otherwise.
        indexes = ((("id_tag_key", "state"), False), (("account", "state"), False),
                   (("station", "connector_id", "state"), False),
                   (("station", "tx_ref"), True))


# The running sessions, newest first (the dashboard's "Charging now"), as a partial index: an
# index on (state, started_at) drew SQLite's planner away from (station, connector_id, state)
# for every StartTransaction's look-up of older open sessions on its connector (a scan of all
# 20,000 running sessions of a 10,000-charger site per start); a partial index serves only the
# queries whose conditions say state = 'active' without a better index.
ChargingSession.add_index(ModelIndex(
    ChargingSession, (ChargingSession.started_at, ChargingSession.id),
    where=(ChargingSession.state == "active"), name="charging_session_active_started_at"))


class MeterReading(BaseModel):
    """One moment of a MeterValues message (or of a StopTransaction's transactionData): the
    station's energy register and active power read by DESIGN's phase rule, and every sampled
    value of that moment as the charger sent it. A row per moment, not per sampled value: a
    charger sending ten measurands costs one row, which keeps the writer fast under load."""

    id = AutoField()
    # The station's id without a foreign key: every key and index costs each insert, and a
    # foreign key without an index makes deleting a station scan the table. Readings of a
    # session reach their station through it; loose ones have a partial index below.
    station_id = IntegerField()
    connector_id = IntegerField()
    session_id: int | None
    session = ForeignKeyField(ChargingSession, null=True, backref="readings",
                              on_delete="SET NULL", index=False)  # (session, time) is
    timestamp = DateTimeField()
    received_at = DateTimeField(default=utcnow)
    context = CharField(max_length=24, default="")  # of the first sampled value
    # Doubles: a register past 2**24 Wh (16.7 MWh, months of a busy DC charger) is kept to the
    # Wh; PostgreSQL's `real` rounded it (SQLite's REAL is a double either way).
    energy_wh = DoubleField(null=True)  # Energy.Active.Import.Register, normalised to Wh
    power_w = DoubleField(null=True)  # Power.Active.Import, normalised to W
    sampled = TextField(default="[]")  # the sampledValue list as sent (compact JSON)

    class Meta:
        indexes = ((("session", "timestamp"), False), (("timestamp",), False))


# Readings outside any session, by station: what deleting a station (a pending one that never
# charged) must find; readings of sessions, nearly all of them, stay out of this index.
MeterReading.add_index(MeterReading.station_id, name="meterreading_loose_station",
                       where=MeterReading.session.is_null())


class SecurityEvent(BaseModel):
    id = AutoField()
    station = ForeignKeyField(Station, null=True, on_delete="SET NULL")
    station_id: int | None
    cpid = CharField(max_length=48, default="")
    type = CharField(max_length=50)
    tech_info = TextField(default="")
    origin = CharField(max_length=8, default="charger")  # charger | server
    charger_time = DateTimeField(null=True)
    received_at = DateTimeField(default=utcnow, index=True)


class StationNotice(BaseModel):
    """Other reports from a station: firmware, diagnostics and log status, DataTransfer."""

    id = AutoField()
    station = ForeignKeyField(Station, on_delete="RESTRICT")
    station_id: int
    kind = CharField(max_length=40)
    payload = TextField()
    received_at = DateTimeField(default=utcnow)


class FrameLog(BaseModel):
    """One flush's worth of a station's OCPP frames (a row per station every half second, not a
    row per frame: the log costs the writer little under load). `frames` is a JSON list of
    [time (ISO, UTC), direction ("in" | "out"), frame], oldest first; `at` is the newest time."""

    id = AutoField()
    station_id: int
    station = ForeignKeyField(Station, on_delete="CASCADE", index=False)  # (station, id) is
    at = DateTimeField(default=utcnow)
    count = IntegerField(default=1)
    frames = TextField(default="[]")

    class Meta:
        indexes = ((("station", "id"), False),)


MODELS: list[type[Model]] = [
    Station,
    Connector,
    StatusEvent,
    IdTag,
    UnknownTag,
    Counter,
    ChargingSession,
    MeterReading,
    SecurityEvent,
    StationNotice,
    FrameLog,
    Driver,
    Account,
]
