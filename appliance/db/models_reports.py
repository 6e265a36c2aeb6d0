"""Stored daily statistics and nightly reports: what the nightly job writes so that pages and the
API read a few rows instead of scanning status events and meter samples."""

from __future__ import annotations

from peewee import (
    AutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from appliance.db.models import BaseModel, ChargingSession, Station, utcnow


class DailyStat(BaseModel):
    """One charger (connector_id 0: the union over its connectors) or one connector on one local
    day. Replaced whole when the day is computed again."""

    id = AutoField()
    station = ForeignKeyField(Station, on_delete="RESTRICT",
                              index=False)  # (station, connector, day) is its index
    station_id: int
    connector_id = IntegerField()
    day = DateField(index=True)
    charging_s = FloatField(default=0)
    available_s = FloatField(default=0)
    faulted_s = FloatField(default=0)  # Faulted, Unavailable, or the charger offline
    energy_wh = BigIntegerField(default=0)
    fees_minor = BigIntegerField(default=0)  # charge rows posted that local day
    sessions = IntegerField(default=0)  # sessions started that day
    drivers = IntegerField(default=0)  # distinct drivers (or unregistered tags) starting one
    refused = IntegerField(default=0)  # starts answered other than Accepted (not sessions)
    computed_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("station", "connector_id", "day"), True),)


class DailyReport(BaseModel):
    """The nightly report of one local day: its tables as JSON, and what became of the mail."""

    id = AutoField()
    site_id = IntegerField(default=1)  # (site, day) is its index
    day = DateField()
    data = TextField()  # JSON, see appliance.reports.report.build_report
    ledger_ok = BooleanField(default=True)
    anomalies = IntegerField(default=0)
    mail_status = CharField(max_length=16, default="")  # "" (not configured) | sent | failed
    mail_error = TextField(default="")
    mail_at = DateTimeField(null=True)
    computed_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("site_id", "day"), True),)


class SessionCurve(BaseModel):
    """A session's energy curve downsampled to a few points, kept after its raw samples are
    pruned: JSON `[[seconds since start, Wh], ...]`."""

    session = ForeignKeyField(ChargingSession, primary_key=True, on_delete="RESTRICT")
    session_id: int
    points = TextField()
    created_at = DateTimeField(default=utcnow)


MODELS: list[type[Model]] = [DailyStat, DailyReport, SessionCurve]
