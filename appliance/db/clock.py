"""Is the box's clock believable? A Raspberry Pi has no battery clock: booted without network
time it may run years behind. When the newest stored record is later than now, the clock is
behind; pages show a banner until it is right again."""

from __future__ import annotations

from datetime import datetime, timedelta

from peewee import fn

from appliance.db.models import ChargingSession, StatusEvent, utcnow
from appliance.db.models_money import LedgerEntry
from appliance.db.models_people import AuditLog

TOLERANCE = timedelta(minutes=2)


def newest_record() -> datetime | None:
    candidates = [
        StatusEvent.select(fn.MAX(StatusEvent.received_at)).scalar(),
        ChargingSession.select(fn.MAX(ChargingSession.received_start_at)).scalar(),
        LedgerEntry.select(fn.MAX(LedgerEntry.created_at)).scalar(),
        AuditLog.select(fn.MAX(AuditLog.at)).scalar(),
    ]
    moments = [c for c in candidates if c is not None]
    return max(moments) if moments else None


def behind_by(now: datetime | None = None) -> timedelta | None:
    """How far the clock is behind the newest record, or None when it is believable."""
    newest = newest_record()
    now = now or utcnow()
    if newest is not None and newest > now + TOLERANCE:
        return newest - now
    return None
