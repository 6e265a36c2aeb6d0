"""Many processes on one PostgreSQL (issue 22): which process holds each connected charger's
WebSocket. Migration 0023_processes. SQLite boxes have one process and never write here."""

from __future__ import annotations

from peewee import CharField, DateTimeField, ForeignKeyField, Model

from appliance.db.models import BaseModel, Station, utcnow


class ChargerLease(BaseModel):
    """A charger's socket is held by `process` until `expires_at`; the holder renews its leases
    every few seconds, a charger that connects to another process takes its lease over, and the
    leases of a process that died expire."""

    station = ForeignKeyField(Station, primary_key=True, on_delete="CASCADE")
    station_id: int
    process = CharField(max_length=80, index=True)
    expires_at = DateTimeField(index=True)
    taken_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "charger_lease"


MODELS: list[type[Model]] = [ChargerLease]
