"""The money's tables: the ledger and holds of the prepaid accounts, tariffs with their versions
and where they apply, and the first answers to money requests (idempotency). Accounts themselves
are `models.Account`, beside the drivers and sessions that name them.

Money is integer minor units; tariff prices Decimal text."""

from __future__ import annotations

from peewee import (
    AutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from appliance.db.models import Account, BaseModel, ChargingSession, Station, utcnow


class LedgerEntry(BaseModel):
    """One change of money. `amount` is signed: its effect on `balance` for the balance kinds,
    on `held` for hold and release. `reference` is the business key of what caused it."""

    id = AutoField()
    account = ForeignKeyField(Account, backref="entries", on_delete="RESTRICT",
                              index=False)  # (account, id) is its index
    account_id: int
    amount = BigIntegerField()
    kind = CharField(max_length=16)
    reference = CharField(max_length=200, unique=True)
    actor = CharField(max_length=80, default="")
    method = CharField(max_length=16, default="")  # top-ups: cash|card_terminal|bank_transfer|other
    receipt_no = CharField(max_length=64, default="")
    note = TextField(default="")
    session = ForeignKeyField(ChargingSession, null=True, on_delete="RESTRICT")
    session_id: int | None
    created_at = DateTimeField(default=utcnow)  # (created_at, kind, amount) is its index
    # The account's balance right after this row, stored when posted (balance kinds only), so a
    # reprinted receipt says what the first one said.
    balance_after = BigIntegerField(null=True)

    class Meta:
        # By time, with what a day's sums read (the dashboard's fees today): the rows are never
        # updated, and a day's sum reads the index only.
        indexes = ((("account", "id"), False), (("created_at", "kind", "amount"), False))


class Hold(BaseModel):
    """Money set aside before a start (QR starts); released whole at settlement."""

    id = AutoField()
    account = ForeignKeyField(Account, on_delete="RESTRICT")
    account_id: int
    amount = BigIntegerField()
    state = CharField(max_length=12, default="open")  # open | captured | released
    session = ForeignKeyField(ChargingSession, null=True, on_delete="RESTRICT")
    session_id: int | None
    id_tag = CharField(max_length=20, default="")
    expires_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)


class Tariff(BaseModel):
    """Prices as Decimal text with up to 4 decimals of the major unit."""

    id = AutoField()
    site_id = IntegerField(default=1, index=True)  # the site whose tariff this is
    name = CharField(max_length=80)
    currency = CharField(max_length=3)
    energy_per_kwh = CharField(max_length=24, default="0")
    time_per_hour = CharField(max_length=24, default="0")
    session_fee = CharField(max_length=24, default="0")
    session_fee_min_wh = IntegerField(default=0)
    idle_per_hour = CharField(max_length=24, default="0")
    idle_grace_min = IntegerField(default=0)
    min_to_start = BigIntegerField(default=0)  # minor units
    tax_rate = CharField(max_length=12, default="0")
    prices_include_tax = BooleanField(default=True)
    bands = TextField(default="[]")  # JSON: time-of-day and day-type bands, see billing.bands
    idle_cap = BigIntegerField(default=0)  # minor units per session; 0: no cap
    version = IntegerField(default=1)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class TariffVersion(BaseModel):
    """Every saved state of a tariff (its snapshot), so its history is kept and shown; a
    session's snapshot names the version it started with."""

    id = AutoField()
    tariff = ForeignKeyField(Tariff, on_delete="RESTRICT", index=False)  # (tariff, version)
    tariff_id: int
    version = IntegerField()
    snapshot = TextField()
    actor = CharField(max_length=80, default="")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("tariff", "version"), True),)


class TariffAssignment(BaseModel):
    """Which tariff applies where and to whom. `scope` is `site`, `station:{id}` or
    `station:{id}:{conn}`, prefixed `group:{name}|` for a driver group: one UNIQUE key, since
    SQL treats NULL columns in a unique index as all different."""

    id = AutoField()
    tariff = ForeignKeyField(Tariff, on_delete="RESTRICT")
    tariff_id: int
    station = ForeignKeyField(Station, null=True, on_delete="RESTRICT")
    station_id: int | None
    connector_id = IntegerField(null=True)
    driver_group = CharField(max_length=40, default="")
    scope = CharField(max_length=140, unique=True)
    created_at = DateTimeField(default=utcnow)


class IdempotencyRecord(BaseModel):
    """The first answer to a money request with an Idempotency-Key."""

    id = AutoField()
    principal = CharField(max_length=80)
    method = CharField(max_length=8)
    path = CharField(max_length=200)
    key = CharField(max_length=120)
    body_hash = CharField(max_length=64)
    status = IntegerField()
    response = TextField()
    created_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        indexes = ((("principal", "method", "path", "key"), True),)


MODELS: list[type[Model]] = [LedgerEntry, Hold, Tariff, TariffAssignment, TariffVersion,
                             IdempotencyRecord]
